"""A balance in time: its amount at a moment, and its statement between
two (opening and closing amounts, money in and out, the entries between).

A balance's entries are read by (balance, created_at, id), an index made
for it (migration 0010): the amount at a moment is the `balance_after` of
the last entry before it, one row read; a statement's totals are summed in
SQL over the entries of its period, and its entries read a page (or, for
CSV, a batch) at a time from where the last one ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from .account import Balance
from .dialect import exact_sum
from .errors import invalid
from .ledger import Entry, Payment
from .pagination import SEQ, TIME, decode_cursor, page
from .rows import tuples


class Period(NamedTuple):
    """[start, end): from the beginning when `start` is None."""

    start: datetime | None
    end: datetime


def check_period(start: datetime | None, end: datetime) -> Period:
    if start is not None and start > end:
        raise invalid({"from": "must not be after to"}, "invalid_request", 400)
    return Period(start, end)


def amount_before(balance_id: str, moment: datetime | None, inclusive: bool = False) -> int:
    """The balance's amount once every entry written before `moment` (or at
    it, when `inclusive`) was: 0 before its first entry."""
    if moment is None:
        return 0
    at = Entry.created_at <= moment if inclusive else Entry.created_at < moment
    last = (
        Entry.select(Entry.balance_after)
        .where(Entry.balance == balance_id, at)
        .order_by(Entry.created_at.desc(), Entry.id.desc())
        .first()
    )
    return last.balance_after if last else 0


def amount_at(balance_id: str, moment: datetime) -> int:
    """The balance's amount at `moment`: after every entry written up to it."""
    return amount_before(balance_id, moment, inclusive=True)


def _in_period(balance_id: str, period: Period) -> Any:
    condition = (Entry.balance == balance_id) & (Entry.created_at < period.end)
    if period.start is not None:
        condition &= Entry.created_at >= period.start
    return condition


def statement_summary(balance: Balance, period: Period) -> dict[str, int]:
    """Opening and closing amounts and the money in and out of the period,
    in minor units; closing = opening + in - out."""
    totals = {"incoming": 0, "outgoing": 0}
    query = Entry.select(Entry.direction, exact_sum(Entry.amount)).where(_in_period(balance.id, period))
    for direction, total in tuples(query.group_by(Entry.direction)):
        totals[direction] = int(total)
    return {
        "opening": amount_before(balance.id, period.start),
        "closing": amount_before(balance.id, period.end),
        "total_in": totals["incoming"],
        "total_out": totals["outgoing"],
    }


def period_entries(balance_id: str, period: Period, *columns: Any) -> Any:
    """The query of the period's entries (of `columns`, else the entries'),
    oldest first, in the order of the (balance, created_at, id) index."""
    query = Entry.select(*(columns or (Entry,))).where(_in_period(balance_id, period))
    return query.order_by(Entry.created_at, Entry.id)


def statement_entries(balance: Balance, period: Period, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """A page of the period's entries, oldest first, each with its balance
    (for `entry_json`)."""
    query = period_entries(balance.id, period, Entry, Balance).join(Balance)
    query = _after(query, decode_cursor(cursor, TIME, SEQ))
    rows = list(query.limit(limit + 1))
    return page(rows, limit, lambda e: [e.created_at.isoformat(), e.id])


STATEMENT_COLUMNS = (
    "created_at",
    "entry_id",
    "payment_id",
    "kind",
    "direction",
    "amount",
    "currency",
    "balance_after",
    "counterparty",
    "reference",
    "description",
)


def statement_batch(balance: Balance, period: Period, after: tuple[datetime, int] | None, size: int) -> list[tuple]:
    """Up to `size` of the period's entries after `after` (created_at, id),
    with what a statement line shows of their payments, as tuples:
    STATEMENT_COLUMNS but amounts in minor units and times as datetimes."""
    columns: list[Any] = [Entry.created_at, Entry.id, Entry.payment, Payment.kind, Entry.direction, Entry.amount]
    columns += [Entry.balance_after, Payment.from_account, Payment.to_account, Payment.reference, Payment.description]
    query = period_entries(balance.id, period, *columns).join(Payment, on=Entry.payment == Payment.id)
    query = _after(query, list(after) if after else None)
    return list(tuples(query.limit(size)))


def _after(query: Any, key: list | None) -> Any:
    if not key:
        return query
    moment, entry_id = key
    return query.where((Entry.created_at > moment) | ((Entry.created_at == moment) & (Entry.id > entry_id)))
