"""Settlement (SPEC section 4, step 2): the one place money moves.

`settle_payment` runs in one atomic transaction: it locks the payment row,
then the balances it touches in id order, re-checks activity and funds under
those locks, writes the entries, updates the balances and the status, and
records the event. Running it twice is harmless: a payment that is no longer
`pending` is left alone, and the payment's row lock makes a concurrent second
run wait for the first and then see it settled.
"""

from __future__ import annotations

from datetime import timedelta

from .account import SYSTEM_ACCOUNT, Account, Balance
from .db import in_transaction, lock_rows, utcnow
from .event import record_event
from .ledger import COMPLETED, FAILED, PENDING, Entry, Payment
from .serialize import balance_json, payment_json


def settle_payment(payment_id: str) -> str | None:
    """Settle one pending payment; returns its final status, or None if it
    was already final (or does not exist)."""

    def work() -> str | None:
        query = Payment.select().where((Payment.id == payment_id) & (Payment.status == PENDING))
        payment = lock_rows(query).first()
        if payment is None:
            return None
        return _settle_locked(payment)

    return in_transaction(work)


def _settle_locked(payment: Payment) -> str:
    balances = Balance.lock_for_update([payment.from_balance_id, payment.to_balance_id])
    source, target = balances[payment.from_balance_id], balances[payment.to_balance_id]
    failure = _refusal(payment, source, target)
    now = utcnow()
    payment.settled_at = now
    if failure:
        payment.status, payment.failure_code = FAILED, failure
        payment.save()
        record_event("payment.failed", payment_json(payment))
        return FAILED
    source.amount -= payment.amount
    target.amount += payment.amount
    for balance in (source, target):
        balance.updated_at = now
        balance.save()
    Entry.insert_many(
        [
            dict(
                payment=payment.id,
                balance=source.id,
                direction="outgoing",
                amount=payment.amount,
                balance_after=source.amount,
                created_at=now,
            ),
            dict(
                payment=payment.id,
                balance=target.id,
                direction="incoming",
                amount=payment.amount,
                balance_after=target.amount,
                created_at=now,
            ),
        ]
    ).execute()
    payment.status = COMPLETED
    payment.save()
    data = payment_json(payment)
    data["balances"] = [balance_json(source), balance_json(target)]
    record_event("payment.completed", data)
    return COMPLETED


def _refusal(payment: Payment, source: Balance, target: Balance) -> str | None:
    """Why this payment cannot settle now, as its failure code, or None."""
    inactive = (
        Account.select(Account.id)
        .where(Account.id.in_([source.account_id, target.account_id]) & (Account.active == False))  # noqa: E712
        .exists()
    )
    if inactive:
        return "account_inactive"
    if not (source.active and target.active):
        return "balance_inactive"
    if source.account_id != SYSTEM_ACCOUNT and source.amount < payment.amount:
        return "insufficient_funds"
    return None


def stale_pending_ids(older_than: timedelta, limit: int = 1000) -> list[str]:
    """Payments still pending after `older_than`: their task was lost (queue
    down, worker killed) and the sweeper queues them again."""
    cutoff = utcnow() - older_than
    query = (
        Payment.select(Payment.id)
        .where((Payment.status == PENDING) & (Payment.created_at < cutoff))
        .order_by(Payment.created_at)
        .limit(limit)
    )
    return [p.id for p in query]
