"""The audit (SPEC sections 2 and 15): the ledger's invariants checked from
the last checkpoint, in work proportional to what changed since, in bounded
memory.

A checkpoint is an audit that found the ledger sound, with the `seq` of the
event log it reached. Every change to the ledger has its event, numbered in
commit order, so the payments whose events came after the checkpoint are
everything that can have moved money since. For those, a span of events at
a time, in one snapshot of the database:

- each has exactly its entries (two, four for an exchange, none unless
  completed);
- each currency's entries among them sum to zero, so each currency's
  balances, which sum to zero at the checkpoint, still do;
- each balance they touched follows its entries: each entry's
  `balance_after` is the one before it plus or minus its amount, and the
  balance is its last entry's `balance_after`; with the balance equal to
  its entries at the checkpoint, it still is;
- each such balance, and each whose limits changed, is within its limits,
  and its `held` is what its open holds reserve.

A change made behind the gateway's back, with no event, is found by the
whole-ledger audit (`models.audit_full`, `server.py audit --full`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from peewee import BigAutoField, BigIntegerField, BooleanField, DateTimeField, fn
from prometheus_client import Gauge

from .audit_checks import BalanceRow, Problems, check_balance, report
from .connection import BaseModel, database, utcnow
from .dialect import any_of, exact_sum_sql, join_by_index_lookups, json_text, snapshot
from .event import Event
from .ledger import COMPLETED, MANUAL
from .retry import retried_transaction
from .serialize import iso
from .summaries import balances_by_currency

# Events looked at per span: what one span's queries hold at most.
SPAN = 25_000

# For /metrics and the alert on a failing audit: what the last audit this
# process ran found.
AUDIT_PROBLEMS = Gauge("gateway_audit_problems", "Problems the last audit run by this process found (0: all good)")
AUDITED_AT = Gauge("gateway_audit_last_run_timestamp_seconds", "When this process last ran the audit (Unix time)")


class AuditCheckpoint(BaseModel):
    """An audit that found the ledger sound up to event `seq`; `whole` when
    it checked the whole ledger rather than the changes since the one
    before."""

    id = BigAutoField()
    seq = BigIntegerField()
    checked_at = DateTimeField()
    whole = BooleanField()


@dataclass
class Checkpoint:
    seq: int
    at: datetime | None


def last_checkpoint() -> Checkpoint:
    """Where the next audit starts: the newest checkpoint (the log's start
    if there is none)."""
    row = AuditCheckpoint.select().order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc()).first()
    return Checkpoint(0, None) if row is None else Checkpoint(row.seq, row.checked_at)


def record_checkpoint(seq: int, whole: bool) -> None:
    """Remember that the ledger was sound up to event `seq`."""
    retried_transaction(lambda: AuditCheckpoint.create(seq=seq, checked_at=utcnow(), whole=whole))


def run_audit() -> dict:
    """Invariants 1-4 over what changed since the last checkpoint; a sound
    answer becomes the next checkpoint. The answer says what it covered:
    events after `from_seq` up to `to_seq`, from the checkpoint made at
    `checkpoint_at` (null: from the log's start)."""
    start = last_checkpoint()
    problems = Problems()
    moved: dict[str, int] = defaultdict(int)
    with snapshot():
        join_by_index_lookups()
        head = Event.select(fn.MAX(Event.seq)).scalar() or 0
        for low in range(start.seq, head, SPAN):
            _check_span(low, min(low + SPAN, head), problems, moved)
        counts = balances_by_currency()
    answer = report({code: (counts.get(code, 0), moved[code]) for code in sorted(moved)}, problems)
    AUDIT_PROBLEMS.set(problems.found)
    AUDITED_AT.set_to_current_time()
    if answer["ok"] and head > start.seq:
        record_checkpoint(head, whole=False)
    return {
        **answer,
        "from_seq": start.seq,
        "to_seq": max(head, start.seq),
        "checkpoint_at": iso(start.at) if start.at else None,
    }


def _check_span(low: int, high: int, problems: Problems, moved: dict[str, int]) -> None:
    """The checks of the payments and balances named by events low+1..high."""
    mark, subject = database.param, json_text("data", "id")
    payments: set[str] = set()
    named: set[str] = set()
    for kind, subject_id in database.execute_sql(
        f"SELECT DISTINCT substr(type, 1, 8), {subject} FROM event WHERE seq > {mark} AND seq <= {mark}"
        " AND substr(type, 1, 8) IN ('payment.', 'balance.')",
        (low, high),
    ):
        (payments if kind == "payment." else named).add(subject_id)
    entries: dict[str, int] = defaultdict(int)
    if payments:
        _follow_entries(payments, entries, moved, problems)
    holding = _check_payments(payments, entries, problems) if payments else set()
    if holding or named:
        _check_holds(holding | named, problems)


def _follow_entries(payments: set[str], entries: dict[str, int], moved: dict[str, int], problems: Problems) -> None:
    """Each balance the payments touched follows its entries: each of its
    entries from the one before the payments' first to their last is the
    one before it plus or minus its amount; the balance is within its floor
    and, when the last of those is its newest entry, is that entry's
    `balance_after` (else a later payment, checked in its turn, wrote the
    newest). Counts each payment's entries and sums them per currency on
    the way."""
    among, params = any_of("payment_id", payments)
    rows = database.execute_sql(
        "WITH mine AS (SELECT x.balance_id, min(x.id) AS lo, max(x.id) AS hi,"
        " (SELECT max(l.id) FROM entry l WHERE l.balance_id = x.balance_id) AS newest"
        f" FROM entry x WHERE {among} GROUP BY x.balance_id)"
        # Amounts as text: turned into Python integers with no Decimal between.
        " SELECT b.id, b.account_id, b.currency_id, CAST(b.amount AS TEXT), CAST(b.held AS TEXT),"
        " CAST(b.min_balance AS TEXT), m.newest, e.id, e.payment_id, e.direction, CAST(e.amount AS TEXT),"
        " CAST(e.balance_after AS TEXT), e.id < m.lo"
        " FROM mine m JOIN balance b ON b.id = m.balance_id"
        " JOIN entry e ON e.balance_id = m.balance_id AND e.id <= m.hi AND e.id >= coalesce("
        " (SELECT max(p.id) FROM entry p WHERE p.balance_id = m.balance_id AND p.id < m.lo), m.lo)"
        " ORDER BY b.id, e.id",
        params,
    )
    balance: BalanceRow | None = None
    after, newest, last = 0, 0, 0
    for row in rows:
        (
            balance_id,
            account,
            currency,
            amount,
            held,
            floor,
            newest_id,
            entry_id,
            payment_id,
            direction,
            moves,
            left,
            base,
        ) = row
        if balance is None or balance_id != balance.id:
            if balance is not None:
                _check_followed(balance, after, last == newest, problems)
            balance, after = BalanceRow(balance_id, account, currency, int(amount), int(held), int(floor)), 0
            newest = newest_id
        if not base:
            change = int(moves) if direction == "incoming" else -int(moves)
            if payment_id in payments:
                entries[payment_id] += 1
                moved[currency] += change
            if int(left) != after + change:
                problems.add(
                    "balance_mismatch",
                    f"entry {entry_id} of balance {balance_id} leaves {left} minor units"
                    f" but the entries before it and its own make {after + change}",
                    balance=balance_id,
                )
        after, last = int(left), entry_id
    if balance is not None:
        _check_followed(balance, after, last == newest, problems)


def _check_followed(balance: BalanceRow, after: int, at_newest: bool, problems: Problems) -> None:
    check_balance(balance, after if at_newest else balance.amount, None, problems)


def _check_payments(payments: set[str], entries: dict[str, int], problems: Problems) -> set[str]:
    """Each payment has exactly its entries: two (four for an exchange,
    through two `@system` balances) once completed, none otherwise. Returns
    the paying balances of holds, whose reservations may have changed."""
    among, params = any_of("id", payments)
    holding = set()
    for payment_id, status, exchange, capture, from_balance in database.execute_sql(
        f"SELECT id, status, target_currency IS NOT NULL, capture, from_balance FROM payment WHERE {among}", params
    ):
        want = (4 if exchange else 2) if status == COMPLETED else 0
        if entries.get(payment_id, 0) != want:
            n = entries.get(payment_id, 0)
            problems.add(
                "entry_count", f"{status} payment {payment_id} has {n} entries, expected {want}", payment=payment_id
            )
        if capture == MANUAL:
            holding.add(from_balance)
    return holding


def _check_holds(balances: set[str], problems: Problems) -> None:
    """Each balance whose holds or limits changed: it is its last entry's
    `balance_after`, within its floor, and holds what its open holds
    reserve."""
    among, params = any_of("b.id", balances)
    rows = database.execute_sql(
        "SELECT b.id, b.account_id, b.currency_id, b.amount, b.held, b.min_balance,"
        " (SELECT l.balance_after FROM entry l WHERE l.balance_id = b.id ORDER BY l.id DESC LIMIT 1),"
        f" (SELECT {exact_sum_sql('h.authorized_amount')} FROM payment h"
        "   WHERE h.from_balance = b.id AND h.status = 'authorized')"
        f" FROM balance b WHERE {among}",
        params,
    )
    for balance_id, account, currency, amount, held, floor, last, reserved in rows:
        row = BalanceRow(balance_id, account, currency, int(amount), int(held), int(floor))
        check_balance(row, int(last or 0), int(reserved or 0), problems)
