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

import math

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from models import connection
from models.connection import utcnow
from models.ledger import PENDING, Payment
from web.metrics import OLDEST_PENDING, PENDING_PAYMENTS, QUEUE_DEPTH, REPLICA_STALENESS

from .base import APIHandler, public


def _pending_payments() -> tuple[int, float]:
    """How many payments are pending, and how long the oldest has waited (by
    the (status, created_at) index)."""
    count = Payment.select().where(Payment.status == PENDING).count()
    oldest = (
        Payment.select(Payment.created_at)
        .where(Payment.status == PENDING)
        .order_by(Payment.created_at)
        .limit(1)
        .scalar()
    )
    return count, (utcnow() - oldest).total_seconds() if oldest else 0.0


class MetricsHandler(APIHandler):
    @public
    async def get(self) -> None:
        QUEUE_DEPTH.set(await self.executor_run(self.settings["queue_depth"]))
        pending, oldest = await self.run_db(_pending_payments)
        PENDING_PAYMENTS.set(pending)
        OLDEST_PENDING.set(oldest)
        replica = connection.replica
        if replica is not None:
            staleness = replica.staleness()
            REPLICA_STALENESS.set(math.inf if staleness is None else staleness)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(REGISTRY))


default_handlers = [(r"/metrics", MetricsHandler)]
