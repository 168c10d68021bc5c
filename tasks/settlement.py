"""Settlement tasks: one per accepted payment, and the sweeper that finds
payments whose task was lost."""

from __future__ import annotations

import logging
from datetime import timedelta

from huey import crontab

from models.idempotency import forget_expired
from models.settlement import settle_payment, stale_pending_ids

from .queue import huey

log = logging.getLogger(__name__)

# A payment still pending this long after intake has lost its task (queue
# down at intake, worker killed mid-task); settling it again is harmless.
STALE_AFTER = timedelta(seconds=30)


@huey.task(retries=10, retry_delay=2)
def settle(payment_id: str) -> None:
    """Settle a payment. Transient database errors are retried inside
    `settle_payment`; anything else is retried by Huey, then left to the
    sweeper: the payment stays pending, never half-settled."""
    settle_payment(payment_id)


def queue_settlement(payment_id: str) -> None:
    """Ask a worker to settle a payment that was just committed.

    The payment is already stored, so a queue that is down must not fail the
    request that accepted it: the sweeper will queue it again.
    """
    try:
        settle(payment_id)
    except Exception:  # redis.ConnectionError, sqlite3.OperationalError, ...
        log.warning("could not queue payment %s; the sweeper will", payment_id, exc_info=True)


def sweep_pending() -> int:
    """Queue every payment pending longer than STALE_AFTER; returns how many."""
    ids = stale_pending_ids(STALE_AFTER)
    for payment_id in ids:
        settle(payment_id)
    if ids:
        log.info("re-queued %d stale pending payments", len(ids))
    return len(ids)


@huey.periodic_task(crontab(minute="*"))
@huey.lock_task("sweep-pending")
def sweeper() -> None:
    sweep_pending()
    forget_expired()
