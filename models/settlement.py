"""Settlement (SPEC section 4, step 2): the one place money moves.

`settle_payment` runs in one atomic transaction: it locks the payment row,
then every balance it touches in one call in id order, re-checks activity,
the exchange rate and funds under those locks, writes the entries, updates
the balances and the status, and records the event. Running it twice is
harmless: a payment that is no longer `pending` is left alone, and the
payment's row lock makes a concurrent second run wait for the first and then
see it settled.

A transfer, deposit or withdrawal writes two entries. An exchange writes four,
passing through the `@system` balance of each currency: the customer's source
balance pays `@system` in the source currency, and `@system` pays the
customer's target balance in the target currency. So each currency's balances
still sum to zero, and what rounding down keeps stays with `@system`.
"""

from __future__ import annotations

from datetime import timedelta

from .account import SYSTEM_ACCOUNT, Account, Balance
from .currency import exponent_of
from .db import in_transaction, lock_rows, utcnow
from .event import record_event
from .ledger import COMPLETED, FAILED, PENDING, Entry, Payment, lock_shared
from .rates import convert, rate_in_force, target_problem
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
    crosses = payment.target_currency_id is not None  # an exchange, or the reversal of one
    wanted = [payment.from_balance_id, payment.to_balance_id]
    if crosses:
        system = _system_balance_ids(payment.currency_id, payment.target_currency_id)
        wanted += system
    # All of them in one call, in id order: no two settlements wait in a cycle.
    balances = Balance.lock_for_update(wanted)
    source, target = balances[payment.from_balance_id], balances[payment.to_balance_id]
    failure = _inactivity(source, target)
    if failure is None and payment.kind == "exchange":
        failure = _price_exchange(payment)
    if failure is None and source.account_id != SYSTEM_ACCOUNT and source.amount < payment.amount:
        failure = "insufficient_funds"
    now = utcnow()
    payment.settled_at = now
    if failure:
        payment.status, payment.failure_code = FAILED, failure
        payment.save()
        if payment.kind == "reversal":
            _free_original(payment)
        record_event("payment.failed", payment_json(payment))
        return FAILED
    legs = [(source, "outgoing", payment.amount)]
    if crosses:
        legs += [
            (balances[system[0]], "incoming", payment.amount),
            (balances[system[1]], "outgoing", payment.target_amount),
            (target, "incoming", payment.target_amount),
        ]
    else:
        legs.append((target, "incoming", payment.amount))
    entries = []
    for balance, direction, amount in legs:
        balance.amount += amount if direction == "incoming" else -amount
        balance.updated_at = now
        balance.save()
        entries.append(
            dict(
                payment=payment.id,
                balance=balance.id,
                direction=direction,
                amount=amount,
                balance_after=balance.amount,
                created_at=now,
            )
        )
    Entry.insert_many(entries).execute()
    payment.status = COMPLETED
    payment.save()
    data = payment_json(payment)
    data["balances"] = [balance_json(balance) for balance, _, _ in legs]
    record_event("payment.completed", data)
    return COMPLETED


def _system_balance_ids(source_currency: str, target_currency: str) -> list[str]:
    """The `@system` balances of the two currencies, source first."""
    ids = dict(
        Balance.select(Balance.currency, Balance.id)
        .where((Balance.account == SYSTEM_ACCOUNT) & Balance.currency.in_([source_currency, target_currency]))
        .tuples()
    )
    return [ids[source_currency], ids[target_currency]]


def _inactivity(source: Balance, target: Balance) -> str | None:
    """`account_inactive` or `balance_inactive` when either side cannot send
    or receive now, else None.

    The customers' account rows are share-locked: a deactivation committing
    meanwhile waits for this settlement to end, and one being committed is
    waited for and then seen. So once a deactivation is committed, no payment
    of that account completes after it. (`@system` is never deactivated and
    is left unlocked: every deposit and withdrawal reads it.)
    """
    customers = [b.account_id for b in (source, target) if b.account_id != SYSTEM_ACCOUNT]
    if customers:
        query = Account.select(Account.id, Account.active).where(Account.id.in_(sorted(set(customers))))
        if any(not account.active for account in lock_shared(query)):
            return "account_inactive"
    if not (source.active and target.active):
        return "balance_inactive"
    return None


def _price_exchange(payment: Payment) -> str | None:
    """Set the exchange's rate and target amount from the rate in force now,
    held until commit; or say why it cannot settle."""
    rate = rate_in_force(payment.currency_id, payment.target_currency_id, hold=True)
    if rate is None:
        return "rate_unavailable"
    target_amount = convert(
        payment.amount, rate, exponent_of(payment.currency_id), exponent_of(payment.target_currency_id)
    )
    if target_problem(target_amount, payment.target_currency_id):
        return "target_out_of_range"
    payment.rate, payment.target_amount = rate, target_amount
    return None


def _free_original(reversal: Payment) -> None:
    """A reversal that failed undoes nothing: the original payment is no
    longer `reversed_by` it and may be reversed again."""
    Payment.update(reversed_by=None).where(
        (Payment.id == reversal.reverses_id) & (Payment.reversed_by == reversal.id)
    ).execute()


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
