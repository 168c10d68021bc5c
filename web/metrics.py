"""This web process's own figures for /metrics (Prometheus): requests by
handler and status, their latencies, open feed connections, and two figures
of the whole system read when scraped (queue depth, pending payments).

Counted by handler name, never by path, id or token: a bounded set of
series with no secret in it.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram
from tornado.web import RequestHandler

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
OLDEST_PENDING = Gauge(
    "gateway_oldest_pending_payment_seconds", "Age of the oldest payment not yet settled, 0 if none (whole system)"
)
FEED_CLIENTS_DROPPED = Counter(
    "gateway_feed_clients_dropped", "Feed connections this process closed because the client did not keep up"
)
REPLICA_STALENESS = Gauge(
    "gateway_replica_staleness_seconds",
    "How far behind the read replica may be, at most; +Inf while unknown or down (absent without a replica)",
)


def observe_request(handler: RequestHandler) -> None:
    """Count one answered request under its handler's name (a bounded set,
    unlike paths, which hold ids)."""
    counted, timed = _series(handler.request.method or "", type(handler).__name__, handler.get_status())
    counted.inc()
    timed.observe(handler.request.request_time())


@functools.cache
def _series(method: str, name: str, status: int) -> tuple[Counter, Histogram]:
    """The counter and the histogram of one method, handler and status, looked
    up once: `labels()` checks and locks on every call."""
    return REQUESTS.labels(method, name, str(status)), LATENCY.labels(method, name)
