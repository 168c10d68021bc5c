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
from .dialect import any_of, exact_arithmetic_sql, exact_sum_sql, join_by_index_lookups, json_id, listed, snapshot
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
    mark, subject = database.param, json_id("data")
    payments: set[str] = set()
    named: set[str] = set()
    for kind, subject_id in database.execute_sql(
        f"SELECT DISTINCT substr(type, 1, 8), {subject} FROM event WHERE seq > {mark} AND seq <= {mark}"
        " AND substr(type, 1, 8) IN ('payment.', 'balance.')",
        (low, high),
    ):
        (payments if kind == "payment." else named).add(subject_id)
    holding = _check_payments(payments, problems, moved) if payments else set()
    if holding or named:
        _check_holds(holding | named, problems)


def _check_payments(payments: set[str], problems: Problems, moved: dict[str, int]) -> set[str]:
    """The payments, and the balances their entries are on, in one
    statement that reads each payment and its entries once:

    - each payment has exactly its entries: two (four for an exchange,
      through two `@system` balances) once completed, none otherwise;
    - each balance the payments touched follows its entries: each of its
      entries from the payments' first to their last is the one before it
      plus or minus its amount (its first ever, 0 plus its amount);
    - each such balance is within its floor and, when the last of those
      entries is its newest, is that entry's `balance_after` (else a later
      payment, checked in its turn, wrote the newest);
    - what the payments' entries move is summed per currency into `moved`.

    The database answers with a row per balance touched, and one per
    payment or entry found wrong; returns the paying balances of holds
    among the payments, whose reservations may have changed."""
    ids, listed_params = listed(payments)
    mark = database.param
    want = f"CASE WHEN m.status = {mark} THEN CASE WHEN m.exchange THEN 4 ELSE 2 END ELSE 0 END"
    into, out_of = (
        exact_sum_sql(f"CASE WHEN m.direction = '{direction}' THEN m.amount END")
        for direction in ("incoming", "outgoing")
    )
    before = "coalesce(c.before, 0)"
    makes = (
        f"CASE WHEN c.direction = 'incoming' THEN {exact_arithmetic_sql(before, '+', 'c.amount')}"
        f" ELSE {exact_arithmetic_sql(before, '-', 'c.amount')} END"
    )
    rows = database.execute_sql(
        # The payments listed, each with its entries (or none).
        "WITH mine AS MATERIALIZED (SELECT p.id, p.status, p.target_currency IS NOT NULL AS exchange, p.capture,"
        " p.from_balance, e.id AS entry_id, e.balance_id, e.direction, e.amount"
        f" FROM ({ids}) w JOIN payment p ON p.id = w.id LEFT JOIN entry e ON e.payment_id = p.id),"
        # The balances their entries are on, each with the first and last of
        # those entries and what they moved in and out.
        " touched AS (SELECT m.balance_id, min(m.entry_id) AS lo, max(m.entry_id) AS hi,"
        f" {into} AS moved_in, {out_of} AS moved_out FROM mine m WHERE m.entry_id IS NOT NULL GROUP BY m.balance_id),"
        # Each such balance's entries from the one before its first to its
        # last, each beside the `balance_after` of the one before it.
        " chain AS (SELECT e.balance_id, e.id, e.direction, e.amount, e.balance_after, e.id >= t.lo AS checked,"
        " lag(e.balance_after) OVER (PARTITION BY e.balance_id ORDER BY e.id) AS before"
        " FROM touched t JOIN entry e ON e.balance_id = t.balance_id AND e.id <= t.hi AND e.id >= coalesce("
        " (SELECT max(p.id) FROM entry p WHERE p.balance_id = t.balance_id AND p.id < t.lo), t.lo))"
        # Rows by kind, every value as text (amounts turned into Python
        # integers with no Decimal between):
        # 'balance': id, account, currency, amount, held, floor, the last entry's balance_after,
        #            'newest' if it is the balance's newest entry, moved in, moved out;
        " SELECT 'balance', b.id, b.account_id, b.currency_id, CAST(b.amount AS TEXT), CAST(b.held AS TEXT),"
        " CAST(b.min_balance AS TEXT), CAST(h.balance_after AS TEXT),"
        " CASE WHEN h.id = (SELECT max(l.id) FROM entry l WHERE l.balance_id = t.balance_id) THEN 'newest' END,"
        " CAST(t.moved_in AS TEXT), CAST(t.moved_out AS TEXT)"
        " FROM touched t JOIN balance b ON b.id = t.balance_id JOIN entry h ON h.id = t.hi"
        # 'entry': its balance, its id, its balance_after, what the one before and its own make;
        " UNION ALL SELECT 'entry', c.balance_id, CAST(c.id AS TEXT), CAST(c.balance_after AS TEXT),"
        f" CAST({makes} AS TEXT), NULL, NULL, NULL, NULL, NULL, NULL"
        f" FROM chain c WHERE c.checked AND {exact_arithmetic_sql('c.balance_after', '-', makes)} <> 0"
        # 'payment': its id, status, entries found and wanted;
        " UNION ALL SELECT 'payment', m.id, m.status, CAST(count(m.entry_id) AS TEXT),"
        f" CAST({want} AS TEXT), NULL, NULL, NULL, NULL, NULL, NULL"
        f" FROM mine m GROUP BY m.id, m.status, m.exchange HAVING count(m.entry_id) <> {want}"
        # 'hold': the paying balance of a hold.
        " UNION ALL SELECT DISTINCT 'hold', m.from_balance, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
        f" FROM mine m WHERE m.capture = {mark}",
        [*listed_params, COMPLETED, COMPLETED, MANUAL],
    )
    holding = set()
    for kind, key, *values in rows:
        if kind == "balance":
            account, currency, amount, held, floor, after, newest, into_it, out_of_it = values
            balance = BalanceRow(key, account, currency, int(amount), int(held), int(floor))
            check_balance(balance, int(after) if newest else balance.amount, None, problems)
            moved[currency] += int(into_it or 0) - int(out_of_it or 0)
        elif kind == "entry":
            entry_id, after, made = values[:3]
            problems.add(
                "balance_mismatch",
                f"entry {entry_id} of balance {key} leaves {after} minor units"
                f" but the entries before it and its own make {made}",
                balance=key,
            )
        elif kind == "payment":
            status, found, wanted = values[:3]
            problems.add("entry_count", f"{status} payment {key} has {found} entries, expected {wanted}", payment=key)
        else:
            holding.add(key)
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
