"""What the clock ends: a payment still pending at its `settle_by` fails
`deadline_exceeded` (a late success is worse than a clean failure at a
till), and a hold still authorized at its `hold_expires_at` expires.

`end_overdue` is run about once a second by every web and worker process
(`tasks.clock`), so deadlines are kept while the workers are down too.
Each looks through a partial index holding only what it is after, so a
look that finds nothing costs one index probe. Rows are claimed as the
settlement workers claim theirs (skipping what another process holds): a
payment being settled right now is left to its settlement, which checks
the deadline itself under its locks.
"""

from __future__ import annotations

from datetime import datetime

from peewee import ModelSelect

from .account import Balance
from .connection import utcnow
from .dialect import claim_rows, lock_rows
from .event import record_events
from .groups import count_outcomes
from .holds import release
from .ledger import AUTHORIZED, EXPIRED, FAILED, PENDING, Payment, PaymentGroup
from .retry import read_only, retried_transaction
from .reversals import recount_reversed
from .serialize import payment_json

BATCH = 500


def end_overdue() -> int:
    """Fail what is pending past its deadline and expire holds past their
    time; returns how many payments it ended."""
    now = utcnow()
    ended = 0
    if read_only(lambda: _overdue_payments(now).exists() or _overdue_groups(now).exists()):
        ended += retried_transaction(lambda: _fail_overdue(utcnow()))
    if read_only(lambda: _expired_holds(now).exists()):
        ended += retried_transaction(lambda: _expire_holds(utcnow()))
    return ended


def _overdue_payments(now: datetime) -> ModelSelect[Payment]:
    return Payment.select().where(
        (Payment.status == PENDING) & (Payment.settle_by <= now) & (Payment.in_atomic_group == False)  # noqa: E712
    )


def _overdue_groups(now: datetime) -> ModelSelect[PaymentGroup]:
    return PaymentGroup.select().where(
        (PaymentGroup.status == PENDING) & (PaymentGroup.atomic == True) & (PaymentGroup.settle_by <= now)  # noqa: E712
    )


def _expired_holds(now: datetime) -> ModelSelect[Payment]:
    # A hold whose capture was asked for in time is the capture's, not the clock's.
    return Payment.select().where(
        (Payment.status == AUTHORIZED) & (Payment.hold_expires_at <= now) & Payment.capture_requested.is_null()
    )


def _fail_overdue(now: datetime) -> int:
    """Pending payments past `settle_by`, and atomic groups past theirs with
    every payment in them, fail `deadline_exceeded`."""
    payments = list(claim_rows(_overdue_payments(now).order_by(Payment.settle_by).limit(BATCH)))
    for group in claim_rows(_overdue_groups(now).order_by(PaymentGroup.settle_by).limit(BATCH)):
        query = Payment.select().where((Payment.group == group.id) & (Payment.status == PENDING)).order_by(Payment.id)
        payments += lock_rows(query)
    if not payments:
        return 0
    for payment in payments:
        payment.status, payment.failure_code, payment.settled_at = FAILED, "deadline_exceeded", now
    Payment.update(status=FAILED, failure_code="deadline_exceeded", settled_at=now).where(
        Payment.id.in_([p.id for p in payments])
    ).execute()
    record_events([("payment.failed", payment_json(p)) for p in payments], at=now)
    recount_reversed({p.reverses_id for p in payments})
    count_outcomes(payments, now)
    return len(payments)


def _expire_holds(now: datetime) -> int:
    """Holds past `hold_expires_at` expire: what they held is released."""
    holds = list(claim_rows(_expired_holds(now).order_by(Payment.hold_expires_at).limit(BATCH)))
    # Every balance at once, in id order, as settlement locks them.
    balances = Balance.lock_for_update(b for hold in holds for b in (hold.from_balance_id, hold.to_balance_id))
    for hold in holds:
        release(hold, EXPIRED, "payment.expired", balances)
    return len(holds)
