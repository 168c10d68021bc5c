"""`/metrics`: this process's figures in Prometheus text.

Each process keeps its own figures, the way Prometheus expects to scrape
targets: a web process counts the requests it answered (by handler and
status), their latencies and its open feed connections; a worker counts the
payments it settled and how long each batch took (`tasks.settlement`), served
on its own `METRICS_PORT`. The embedded server runs the consumer itself, so
its `/metrics` has both. Counters are per process and start at zero; sums
across processes, rates and the effect of restarts are Prometheus' job.

Two figures are the whole system's, read when scraped: the queue's depth
(tasks waiting in Huey) and the payments still pending in the database.

Protection: `/metrics` carries no secret (counts by handler name, never
paths, ids or tokens), so it is public on the web process's own port; nginx
answers 404 for it, so only a scraper inside the network, which reaches each
process directly, sees it.
"""

from __future__ import annotations

import functools

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from tornado.web import RequestHandler

from models.ledger import PENDING, Payment

from .base import APIHandler, public

REQUESTS = Counter("gateway_http_requests", "HTTP requests answered by this process", ["method", "handler", "status"])
LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "Time from a request's arrival to its answer (a WebSocket's: to its upgrade)",
    ["method", "handler"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
FEED_CLIENTS = Gauge("gateway_feed_clients", "Open WebSocket feed connections on this process")
QUEUE_DEPTH = Gauge("gateway_queue_depth", "Settlement tasks waiting in the queue (whole system)")
PENDING_PAYMENTS = Gauge("gateway_pending_payments", "Payments accepted and not yet settled (whole system)")


def observe_request(handler: RequestHandler) -> None:
    """Count one answered request under its handler's name (a bounded set,
    unlike paths, which hold ids)."""
    counted, timed = _series(handler.request.method or "", type(handler).__name__, handler.get_status())
    counted.inc()
    timed.observe(handler.request.request_time())


@functools.cache
def _series(method: str, name: str, status: int):
    """The counter and the histogram of one method, handler and status, looked
    up once: `labels()` checks and locks on every call."""
    return REQUESTS.labels(method, name, str(status)), LATENCY.labels(method, name)


def _pending_payments() -> int:
    return Payment.select().where(Payment.status == PENDING).count()


class MetricsHandler(APIHandler):
    @public
    async def get(self) -> None:
        QUEUE_DEPTH.set(await self.executor_run(self.settings["queue_ping"]))
        PENDING_PAYMENTS.set(await self.run_db(_pending_payments))
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(REGISTRY))


default_handlers = [(r"/metrics", MetricsHandler)]
