"""Settlement (step 2 of a payment's life): each pending payment completes,
is authorized (a hold), or fails, in an atomic transaction.

Payments settle in batches: `settle_pending` claims up to BATCH pending
payments (oldest first; on PostgreSQL skipping rows another worker has
claimed), and the pending atomic groups with all their payments, and
settles them in one transaction. It locks every balance the batch touches
in one statement in id order (so two batches can never wait on each other
in a cycle), then takes the payments one after another, in memory: each is
judged against the balances *as the payments before it in the batch left
them* (its deadline, activity, the exchange rate, the payer's available
funds and credit line, the receiver's cap) and either moves money, reserves
it (a hold), or fails. So each payment's outcome is exactly what it would
be if the payments of the batch had been settled one by one, in that
order; only the writes are grouped: one statement updates all the
balances, one inserts all the entries, one updates all the payments, one
inserts all the events.

An atomic group settles all or nothing: its payments are judged in order,
each seeing the ones before it; if any cannot settle, every change the
group made is undone and each of its payments fails, with its own code or
`group_failed`.

Running a payment twice is harmless: only `pending` payments are claimed,
and a claimed payment's row stays locked until its batch commits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from peewee import ModelSelect

from . import connection
from .account import Balance, inactive_accounts
from .actors import NOBODY, Acting, acting_of_text
from .bulk import Statements, statement_batch, statement_stream
from .connection import utcnow
from .currency import exponent_of
from .dialect import claim_rows, lock_rows, walk_queue_indexes
from .event import record_events
from .funds import can_pay, can_take
from .groups import count_outcomes
from .holds import capture_refusal, captured_target_amount
from .ledger import AUTHORIZED, COMPLETED, FAILED, MANUAL, PENDING, Entry, Payment, PaymentGroup
from .posting import balance_ids, exchange_pair, incoming, legs, post, system_balance_ids
from .rates import convert, rate_in_force, target_problem
from .retry import retried_transaction
from .reversals import recount_reversed
from .rows import instances
from .serialize import BalancesShown, payment_json, payment_with_balances

log = logging.getLogger(__name__)

BATCH = 2000
# Payments settled between two sends of their writes: the database writes
# one part while the next is settled (`models.bulk.statement_stream`).
PART = 250
# Atomic groups claimed by one batch (each holds at most 50 payments).
GROUPS_PER_BATCH = 20


def settle_pending(limit: int = BATCH) -> int:
    """Settle up to `limit` pending payments, and some pending atomic
    groups, in one transaction; returns how many payments were settled
    (fewer than `limit` means the backlog is empty, or being settled by
    other workers)."""

    def work() -> int:
        walk_queue_indexes()
        query = (
            Payment.select()
            .where((Payment.status == PENDING) & (Payment.in_atomic_group == False))  # noqa: E712
            .order_by(Payment.created_at)
            .limit(limit)
        )
        singles = instances(claim_rows(query))
        captures = (
            instances(claim_rows(_captures_requested().limit(limit - len(singles)))) if len(singles) < limit else []
        )
        groups = _claim_atomic_groups()
        if singles or captures or groups:
            _settle_locked(singles, groups, captures)
        return len(singles) + len(captures) + sum(len(members) for _, members in groups)

    return retried_transaction(work)


def settle_payment(payment_id: str) -> str | None:
    """Settle one pending payment now (with its atomic group, if it is in
    one); returns its status then, or None if it was not pending (or does
    not exist)."""

    def work() -> str | None:
        query = Payment.select().where((Payment.id == payment_id) & (Payment.status == PENDING))
        payment = lock_rows(query).first()
        if payment is None:
            return None
        if payment.in_atomic_group:
            group = lock_rows(PaymentGroup.select().where(PaymentGroup.id == payment.group_id)).get()
            members = _members(group)
            _settle_locked([], [(group, members)])
            return next(p.status for p in members if p.id == payment_id)
        _settle_locked([payment], [])
        return payment.status

    return retried_transaction(work)


def _captures_requested() -> ModelSelect[Payment]:
    """Holds whose capture was asked for, oldest first (a partial index
    holds only these, migration 0011)."""
    return (
        Payment.select()
        .where((Payment.status == AUTHORIZED) & Payment.capture_requested.is_null(False))
        .order_by(Payment.created_at)
    )


def anything_waiting() -> bool:
    """Whether a pending payment or a capture asked for waits for
    settlement, claimed by some worker or not (a probe of an index each)."""
    pending = Payment.select(Payment.id).where(Payment.status == PENDING).limit(1)
    return pending.exists() or _captures_requested().select(Payment.id).limit(1).exists()


def captures_waiting(limit: int = 1000) -> int:
    """How many holds wait for their capture to be settled (at most `limit`)."""
    return _captures_requested().select(Payment.id).limit(limit).count()


def _claim_atomic_groups() -> list[tuple[PaymentGroup, list[Payment]]]:
    """Pending atomic groups no other worker holds, each with its payments."""
    query = (
        PaymentGroup.select()
        .where((PaymentGroup.status == PENDING) & (PaymentGroup.atomic == True))  # noqa: E712
        .order_by(PaymentGroup.created_at)
        .limit(GROUPS_PER_BATCH)
    )
    return [(group, _members(group)) for group in claim_rows(query)]


def _members(group: PaymentGroup) -> list[Payment]:
    """An atomic group's pending payments, locked, in the order they were sent."""
    query = Payment.select().where((Payment.group == group.id) & (Payment.status == PENDING)).order_by(Payment.id)
    return list(lock_rows(query))


def _settle_locked(
    singles: list[Payment], groups: list[tuple[PaymentGroup, list[Payment]]], captures: Sequence[Payment] = ()
) -> None:
    """Settle claimed, locked payments in order, then the captures asked for
    of claimed, locked holds, inside the caller's transaction."""
    everything = singles + [p for _, members in groups for p in members] + list(captures)
    system = system_balance_ids(everything)
    wanted: set[str] = set()
    for payment in everything:
        wanted |= balance_ids(payment, system)
    # All of them in one statement, in id order: no two batches wait in a cycle.
    balances = Balance.lock_for_update(wanted)
    pairs = {exchange_pair(p) for p in everything if p.kind == "exchange"}
    rates = {pair: rate_in_force(*pair, hold=True) for pair in sorted(pairs)}
    # Read the clock only once every lock is held, rates included: a rate
    # change waited for is then always older than the settlement it shaped.
    batch = _Batch(balances, system, inactive_accounts(balances.values()), rates, utcnow())
    # A batch of one part has nothing to overlap: its writes go in one round trip.
    with statement_stream() if len(everything) > PART else statement_batch() as stream:
        for payment in singles:
            batch.settle(payment)
            batch.send_when_full(stream)
        for _, members in groups:
            batch.settle_all_or_none(members)
            batch.send_when_full(stream)
        for hold in captures:
            batch.capture(hold)
            batch.send_when_full(stream)
        batch.write(stream)
    recount_reversed({p.reverses_id for p in everything if p.status == FAILED and p.reverses_id})
    count_outcomes(everything, batch.now)


class _Batch:
    """A batch being settled: the balances it holds locked, what it knows
    (inactive accounts, rates, the moment), and the writes it gathers."""

    def __init__(
        self,
        balances: dict[str, Balance],
        system: dict[str, str],
        inactive: set[str],
        rates: dict[tuple[str, str], str | None],
        now: datetime,
    ) -> None:
        self.balances, self.system, self.inactive, self.rates, self.now = balances, system, inactive, rates, now
        # What was settled since the last part was sent: the payments, their
        # entries and their events.
        self.settled: list[Payment] = []
        self.entries: list[dict] = []
        self.events: list[tuple[str, dict]] = []
        # The events recorded for others than the system (a capture's, as
        # whoever asked for it), by their place in `events`.
        self.acted: dict[int, Acting] = {}
        self.changed: dict[str, Balance] = {}
        self.shown = BalancesShown()
        # What was settled, for its lines in the log once committed.
        self.traced: dict[str, Payment] = {}
        if log.isEnabledFor(logging.INFO):
            connection.database.after_commit(self.log_settled)

    def trace(self, payment: Payment) -> None:
        """The event about to be recorded is by the system, in the request
        that sent `payment`: its trace (`request_id`) follows it to the
        feed, webhooks and the logs."""
        if payment.request_id:
            self.acted[len(self.events)] = NOBODY._replace(request_id=payment.request_id)
        else:
            self.acted.pop(len(self.events), None)
        self.traced[payment.id] = payment

    def log_settled(self) -> None:
        """One line per settled payment, with its trace, after the commit."""
        for payment in self.traced.values():
            extra = {"payment_id": payment.id, "request_id": payment.request_id}
            log.info("payment %s %s", payment.id, payment.status, extra=extra)

    def settle(self, payment: Payment) -> None:
        failure = self.judge(payment)
        if failure is not None:
            self.fail(payment, failure)
        elif payment.capture == MANUAL:
            self.authorize(payment)
        else:
            self.complete(payment)
        self.settled.append(payment)

    def settle_all_or_none(self, members: list[Payment]) -> None:
        """An atomic group: every payment completes, or every one fails and
        the group leaves no trace on any balance."""
        touched = {b for p in members for b in balance_ids(p, self.system)}
        before = {b: (self.balances[b].amount, self.balances[b].held) for b in touched}
        entries, events = len(self.entries), len(self.events)
        self.settled += members
        failures: dict[str, str] = {}
        for payment in members:
            failure = self.judge(payment)
            if failure is None:
                self.complete(payment)
            else:
                failures[payment.id] = failure
        if not failures:
            return
        for balance_id, (amount, held) in before.items():
            self.balances[balance_id].amount, self.balances[balance_id].held = amount, held
        del self.entries[entries:], self.events[events:]
        for payment in members:
            self.fail(payment, failures.get(payment.id, "group_failed"))

    def judge(self, payment: Payment) -> str | None:
        """Why the payment cannot settle now, or None. An exchange is priced
        here, at the rate in force."""
        source, target = self.balances[payment.from_balance_id], self.balances[payment.to_balance_id]
        if payment.settle_by is not None and payment.settle_by <= self.now:
            return "deadline_exceeded"
        if source.account_id in self.inactive or target.account_id in self.inactive:
            return "account_inactive"
        if not (source.active and target.active):
            return "balance_inactive"
        if payment.kind == "exchange":
            failure = self.price_exchange(payment)
            if failure is not None:
                return failure
        if not can_pay(source, payment.amount):
            return "insufficient_funds"
        if not can_take(target, incoming(payment)):
            return "limit_exceeded"
        return None

    def price_exchange(self, payment: Payment) -> str | None:
        """Set the exchange's rate and target amount from the rate in force
        now (read and held for the batch); or say why it cannot settle."""
        source_currency, target_currency = exchange_pair(payment)
        rate = self.rates[(source_currency, target_currency)]
        if rate is None:
            return "rate_unavailable"
        target_amount = convert(payment.amount, rate, exponent_of(source_currency), exponent_of(target_currency))
        if target_problem(target_amount, target_currency):
            return "target_out_of_range"
        payment.rate, payment.target_amount = rate, target_amount
        return None

    def complete(self, payment: Payment) -> None:
        payment_legs = legs(payment, payment.amount, payment.target_amount, self.balances, self.system)
        self.entries += post(payment, payment_legs, self.now)
        payment.status, payment.settled_at = COMPLETED, self.now
        self.changed.update((balance.id, balance) for balance, _, _ in payment_legs)
        self.trace(payment)
        self.events.append(
            ("payment.completed", payment_with_balances(payment, [b for b, _, _ in payment_legs], self.shown))
        )

    def authorize(self, payment: Payment) -> None:
        """A hold: the amount is reserved on the paying balance, nothing moves."""
        source, target = self.balances[payment.from_balance_id], self.balances[payment.to_balance_id]
        source.held += payment.amount
        source.updated_at = self.now
        self.changed[source.id] = source
        payment.status, payment.settled_at, payment.authorized_amount = AUTHORIZED, self.now, payment.amount
        self.trace(payment)
        self.events.append(("payment.authorized", payment_with_balances(payment, [source, target], self.shown)))

    def capture(self, hold: Payment) -> None:
        """A capture asked for (`models.holds`): what it captures moves, at
        the rate the authorization fixed, and the hold's reservation is
        released; or, if the receiver can no longer take it, the payment
        fails and the reservation is released all the same."""
        self.settled.append(hold)
        amount = int(hold.capture_requested)
        self.acted[len(self.events)] = acting_of_text(hold.capture_requested_by)
        hold.capture_requested_by = None
        source = self.balances[hold.from_balance_id]
        source.held -= int(hold.authorized_amount or 0)
        self.changed[source.id] = source
        hold.capture_requested = None
        self.traced[hold.id] = hold  # its events are by whoever asked for the capture
        refusal = capture_refusal(hold, amount, self.balances, self.inactive)
        if refusal is not None:
            hold.status, hold.failure_code, hold.settled_at = FAILED, refusal.code, self.now
            target = self.balances[hold.to_balance_id]
            self.events.append(("payment.failed", payment_with_balances(hold, [source, target], self.shown)))
            return
        target_amount = captured_target_amount(hold, amount)
        if target_amount is not None:
            hold.target_amount = target_amount
        hold.captured_amount = amount
        payment_legs = legs(hold, amount, target_amount, self.balances, self.system)
        self.entries += post(hold, payment_legs, self.now)
        hold.status, hold.settled_at = COMPLETED, self.now
        self.changed.update((balance.id, balance) for balance, _, _ in payment_legs)
        self.events.append(
            ("payment.completed", payment_with_balances(hold, [b for b, _, _ in payment_legs], self.shown))
        )

    def fail(self, payment: Payment, failure: str) -> None:
        payment.status, payment.failure_code, payment.settled_at = FAILED, failure, self.now
        self.trace(payment)
        self.events.append(("payment.failed", payment_json(payment)))

    def send_when_full(self, stream: Statements) -> None:
        """Once a part's worth is settled, send its writes (`write_part`)."""
        if len(self.settled) >= PART:
            self.write_part(stream)
            stream.send()

    def write_part(self, stream: Statements) -> None:
        """The writes of what was settled since the last part: one statement
        updates its payments (two when exchanges were priced: their amounts
        and rates), one inserts its entries with its events, made on
        `stream` (sent by `send_when_full` while the next part is settled)."""
        payments, self.settled = self.settled, []
        priced = [p for p in payments if p.kind == "exchange" and p.status in (COMPLETED, AUTHORIZED)]
        stream.update_rows(
            Payment,
            [
                {
                    "id": p.id,
                    "status": p.status,
                    "failure_code": p.failure_code,
                    "authorized_amount": p.authorized_amount,
                    "captured_amount": p.captured_amount,
                    "capture_requested": p.capture_requested,
                    "capture_requested_by": p.capture_requested_by,
                }
                for p in payments
            ],
            same={"settled_at": self.now},
        )
        stream.update_rows(Payment, [{"id": p.id, "rate": p.rate, "target_amount": p.target_amount} for p in priced])
        actings = [self.acted.get(n, NOBODY) for n in range(len(self.events))] if self.acted else None
        record_events(self.events, (Entry, self.entries), at=self.now, into=stream, actings=actings)
        self.entries, self.events, self.acted = [], [], {}

    def write(self, stream: Statements) -> None:
        """The last part's writes, then every balance the batch changed, at
        its final amount and held (one statement), sent as the block ends."""
        self.write_part(stream)
        stream.update_rows(
            Balance,
            [{"id": b.id, "amount": b.amount, "held": b.held} for b in self.changed.values()],
            same={"updated_at": self.now},
        )


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
