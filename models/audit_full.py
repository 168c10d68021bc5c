"""The whole-ledger audit (`server.py audit --full`): every invariant
re-checked over every balance and payment, in one snapshot, streamed a few
thousand rows at a time so memory stays the same whatever the ledger's
size, on the replica when asked. A sound ledger's check becomes the
checkpoint the next incremental audit (`models.audit`) starts from.

Sums are exact (`exact_sum`) and compared in Python integers, so the audit
itself can never be wrong by rounding.
"""

from __future__ import annotations

from collections import defaultdict

from peewee import fn

from .account import SYSTEM_ACCOUNT
from .audit_checks import BalanceRow, Problems, check_balance, report
from .dialect import exact_sum_sql, snapshot, stream_rows
from .event import Event


def audit_whole_ledger() -> tuple[dict, int]:
    """Invariants 1-4 over the whole ledger as it stands at one moment:
    each currency's balances sum to zero; each balance equals its entries,
    is within its floor and holds what its open holds reserve; each
    payment has exactly its entries. Returns the answer and the `seq` of
    the event log the snapshot reached (where a checkpoint goes)."""
    problems = Problems()
    totals: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    with snapshot():
        head = Event.select(fn.MAX(Event.seq)).scalar() or 0
        for row, entries_make, reserved in _balances():
            totals[row.currency_id] += row.amount
            counts[row.currency_id] += row.account_id != SYSTEM_ACCOUNT
            check_balance(row, entries_make, reserved, problems)
        _check_entry_counts(problems)
    currencies = {code: (counts[code], totals[code]) for code in sorted(totals) if counts[code] or totals[code]}
    return {**report(currencies, problems), "from_seq": 0, "to_seq": head, "checkpoint_at": None}, head


def _balances():
    """Each balance, with what its entries make and what its open holds
    reserve, in one streamed query."""
    incoming = exact_sum_sql("CASE WHEN direction = 'incoming' THEN amount END")
    outgoing = exact_sum_sql("CASE WHEN direction = 'outgoing' THEN amount END")
    rows = stream_rows(
        # Amounts as text: turned into Python integers with no Decimal between.
        "SELECT b.id, b.account_id, b.currency_id, CAST(b.amount AS TEXT), CAST(b.held AS TEXT),"
        " CAST(b.min_balance AS TEXT), CAST(s.incoming AS TEXT), CAST(s.outgoing AS TEXT), CAST(h.reserved AS TEXT)"
        " FROM balance b"
        " LEFT JOIN (SELECT balance_id,"
        f" {incoming} AS incoming, {outgoing} AS outgoing"
        " FROM entry GROUP BY balance_id) s ON s.balance_id = b.id"
        f" LEFT JOIN (SELECT from_balance, {exact_sum_sql('authorized_amount')} AS reserved"
        " FROM payment WHERE status = 'authorized' GROUP BY from_balance) h ON h.from_balance = b.id"
    )
    for balance_id, account, currency, amount, held, floor, incoming, outgoing, reserved in rows:
        row = BalanceRow(balance_id, account, currency, int(amount), int(held), int(floor))
        yield row, int(incoming or 0) - int(outgoing or 0), int(reserved or 0)


def _check_entry_counts(problems: Problems) -> None:
    """Each completed payment has its entries (four for an exchange, which
    passes through two `@system` balances), and no other payment has any;
    only the payments that break this come back from the database."""
    want = "CASE WHEN p.status = 'completed' THEN CASE WHEN p.target_currency IS NULL THEN 2 ELSE 4 END ELSE 0 END"
    rows = stream_rows(
        f"SELECT p.id, p.status, coalesce(c.n, 0), {want} FROM payment p"
        " LEFT JOIN (SELECT payment_id, count(*) AS n FROM entry GROUP BY payment_id) c ON c.payment_id = p.id"
        f" WHERE coalesce(c.n, 0) <> {want}"
    )
    for payment_id, status, n, expected in rows:
        problems.add(
            "entry_count", f"{status} payment {payment_id} has {n} entries, expected {expected}", payment=payment_id
        )
