"""Settlement (SPEC section 4, step 2): the one place money moves.

Payments settle in batches: `settle_pending` claims up to BATCH pending
payments (oldest first; on PostgreSQL skipping rows another worker has
claimed), and settles them all in one atomic transaction. It locks every
balance the batch touches in one statement in id order (so two batches can
never wait on each other in a cycle), share-locks the customers' accounts,
then takes the payments one after another, in memory: each is re-checked
against the balances *as the payments before it in the batch left them*
(activity, the exchange rate, funds) and either moves money or fails. So
each payment's outcome is exactly what it would be if the payments of the
batch had been settled one by one, in that order; only the writes are
grouped: one statement updates all the balances, one inserts all the
entries, one updates all the payments, one inserts all the events.

Running a payment twice is harmless: only `pending` payments are claimed, and
a claimed payment's row stays locked until its batch commits.

A transfer, deposit or withdrawal writes two entries. An exchange writes four,
passing through the `@system` balance of each currency: the customer's source
balance pays `@system` in the source currency, and `@system` pays the
customer's target balance in the target currency. So each currency's balances
still sum to zero, and what rounding down keeps stays with `@system`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

from .account import SYSTEM_ACCOUNT, Account, Balance
from .bulk import Statements, statement_batch
from .connection import utcnow
from .currency import exponent_of
from .dialect import among, claim_rows, lock_rows, walk_queue_indexes
from .event import record_events
from .ledger import COMPLETED, FAILED, PENDING, Entry, Payment
from .rates import convert, rate_in_force, target_problem
from .retry import retried_transaction
from .rows import tuples
from .serialize import balance_json, payment_json

BATCH = 2000


def settle_pending(limit: int = BATCH) -> int:
    """Settle up to `limit` pending payments in one transaction; returns how
    many were settled (fewer than `limit` means the backlog is empty, or
    being settled by other workers)."""

    def work() -> int:
        walk_queue_indexes()
        query = Payment.select().where(Payment.status == PENDING).order_by(Payment.created_at).limit(limit)
        payments = list(claim_rows(query))
        if payments:
            _settle_locked(payments)
        return len(payments)

    return retried_transaction(work)


def settle_payment(payment_id: str) -> str | None:
    """Settle one pending payment now; returns its final status, or None if
    it was already final (or does not exist)."""

    def work() -> str | None:
        query = Payment.select().where((Payment.id == payment_id) & (Payment.status == PENDING))
        payment = lock_rows(query).first()
        if payment is None:
            return None
        _settle_locked([payment])
        return payment.status

    return retried_transaction(work)


def _settle_locked(payments: list[Payment]) -> None:
    """Settle claimed, locked payments in order, inside the caller's transaction."""
    system = _system_balance_ids(
        {code for p in payments if p.target_currency_id for code in (p.currency_id, p.target_currency_id)}
    )
    wanted = {b for p in payments for b in (p.from_balance_id, p.to_balance_id)} | set(system.values())
    # All of them in one statement, in id order: no two batches wait in a cycle.
    balances = Balance.lock_for_update(wanted)
    inactive = _inactive_accounts(balances.values())
    pairs = {_exchange_pair(p) for p in payments if p.kind == "exchange"}
    rates = {pair: rate_in_force(*pair, hold=True) for pair in sorted(pairs)}
    # Read the clock only once every lock is held, rates included: a rate
    # change waited for is then always older than the settlement it shaped.
    now = utcnow()
    entries: list[dict] = []
    events: list[tuple[str, dict]] = []
    changed: dict[str, Balance] = {}
    for payment in payments:
        source, target = balances[payment.from_balance_id], balances[payment.to_balance_id]
        failure = _inactivity(source, target, inactive)
        if failure is None and payment.kind == "exchange":
            failure = _price_exchange(payment, rates)
        if failure is None and source.account_id != SYSTEM_ACCOUNT and source.amount < payment.amount:
            failure = "insufficient_funds"
        payment.settled_at = now
        if failure:
            payment.status, payment.failure_code = FAILED, failure
            if payment.kind == "reversal":
                _free_original(payment)
            events.append(("payment.failed", payment_json(payment)))
            continue
        legs = _legs(payment, source, target, balances, system)
        for balance, direction, amount in legs:
            balance.amount += amount if direction == "incoming" else -amount
            balance.updated_at = now
            changed[balance.id] = balance
            entries.append(
                {
                    "payment": payment.id,
                    "balance": balance.id,
                    "direction": direction,
                    "amount": amount,
                    "balance_after": balance.amount,
                    "created_at": now,
                }
            )
        payment.status = COMPLETED
        data = payment_json(payment)
        data["balances"] = [balance_json(balance) for balance, _, _ in legs]
        events.append(("payment.completed", data))
    # Updates, entries and events: one round trip.
    with statement_batch() as batch:
        _write(batch, payments, changed.values(), now)
        record_events(events, (Entry, entries), at=now, into=batch)


def _legs(
    payment: Payment, source: Balance, target: Balance, balances: dict[str, Balance], system: dict[str, str]
) -> list[tuple[Balance, str, int]]:
    """(balance, direction, amount) for each entry the payment writes."""
    if payment.target_currency_id is None:
        return [(source, "outgoing", payment.amount), (target, "incoming", payment.amount)]
    return [
        (source, "outgoing", payment.amount),
        (balances[system[payment.currency_id]], "incoming", payment.amount),
        (balances[system[payment.target_currency_id]], "outgoing", payment.target_amount),
        (target, "incoming", payment.target_amount),
    ]


def _write(batch: Statements, payments: list[Payment], balances: Iterable[Balance], now: datetime) -> None:
    """The batch's updates, one statement per table (two for payments when
    exchanges completed: their amounts and rates). Its entries go in with
    its events."""
    batch.update_rows(Balance, [{"id": b.id, "amount": b.amount} for b in balances], same={"updated_at": now})
    batch.update_rows(
        Payment,
        [{"id": p.id, "status": p.status, "failure_code": p.failure_code} for p in payments],
        same={"settled_at": now},
    )
    exchanges = [p for p in payments if p.kind == "exchange" and p.status == COMPLETED]
    batch.update_rows(Payment, [{"id": p.id, "rate": p.rate, "target_amount": p.target_amount} for p in exchanges])


def _system_balance_ids(currencies: set[str]) -> dict[str, str]:
    """The `@system` balance of each currency an exchange passes through."""
    if not currencies:
        return {}
    return dict(
        tuples(
            Balance.select(Balance.currency, Balance.id).where(
                (Balance.account == SYSTEM_ACCOUNT) & Balance.currency.in_(sorted(currencies))
            )
        )
    )


def _inactive_accounts(balances: Iterable[Balance]) -> set[str]:
    """The customers among the balances' accounts that are inactive.

    Read after the balances are locked: a deactivation locks its account's
    balances before it commits (`models.account.update_account`), so one
    committed before this batch took its locks is seen here, and one not yet
    committed waits for this batch to end. Once a deactivation is committed,
    no payment of that account completes after it.
    """
    customers = sorted({b.account_id for b in balances if b.account_id != SYSTEM_ACCOUNT})
    if not customers:
        return set()
    query = Account.select(Account.id).where(among(Account.id, customers) & (Account.active == False))  # noqa: E712
    return {account.id for account in query}


def _inactivity(source: Balance, target: Balance, inactive_accounts: set[str]) -> str | None:
    """`account_inactive` or `balance_inactive` when either side cannot send
    or receive now, else None."""
    if source.account_id in inactive_accounts or target.account_id in inactive_accounts:
        return "account_inactive"
    if not (source.active and target.active):
        return "balance_inactive"
    return None


def _exchange_pair(exchange: Payment) -> tuple[str, str]:
    """An exchange's source and target currencies. Intake gives every
    exchange its target currency (the column is null for other kinds)."""
    return exchange.currency_id, cast(str, exchange.target_currency_id)


def _price_exchange(payment: Payment, rates: dict[tuple[str, str], str | None]) -> str | None:
    """Set the exchange's rate and target amount from the rate in force now
    (`rates`, read and held for the batch); or say why it cannot settle."""
    source_currency, target_currency = _exchange_pair(payment)
    rate = rates[(source_currency, target_currency)]
    if rate is None:
        return "rate_unavailable"
    target_amount = convert(payment.amount, rate, exponent_of(source_currency), exponent_of(target_currency))
    if target_problem(target_amount, target_currency):
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
