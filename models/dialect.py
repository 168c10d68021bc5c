"""What differs between SQLite and PostgreSQL, decided here and nowhere
else: how money columns are stored and summed, how rows are locked and
claimed, how a list of values is matched, how a queue's index is read."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from peewee import SQL, Field, fn

from .connection import database, is_sqlite


class MinorUnitsField(Field):
    """An exact integer number of minor units, of any size.

    10^15 major units of a currency with 18 decimals is 10^33 minor units, far
    beyond 64 bits, so PostgreSQL stores NUMERIC(40,0) and SQLite (whose
    integers stop at 64 bits and whose NUMERIC falls back to floats) stores the
    decimal text. Amounts are never compared in SQL, only summed, through
    `exact_sum`.
    """

    field_type = "MINOR_UNITS"

    def db_value(self, value: Any) -> Any:
        if value is None:
            return None
        # PostgreSQL takes any Python int as a numeric literal; SQLite's
        # driver refuses ints past 64 bits, so it gets the text.
        return str(int(value)) if is_sqlite() else int(value)

    def python_value(self, value: Any) -> int | None:
        return None if value is None else int(value)


def exact_sum(column: Any) -> Any:
    """SUM of a MinorUnitsField without ever passing through a float."""
    return fn.BIGSUM(column) if is_sqlite() else fn.SUM(column)


def lock_rows(query: Any) -> Any:
    """Lock the selected rows for this transaction.

    PostgreSQL: FOR NO KEY UPDATE, the lock an UPDATE of non-key columns
    takes. Unlike FOR UPDATE it does not conflict with the KEY SHARE locks
    that foreign-key checks take, so inserting a payment that references a
    balance never waits on (or deadlocks with) a settlement holding it.
    SQLite: nothing to add; the IMMEDIATE transaction already holds the
    database's single write lock, which covers every row.
    """
    return query if is_sqlite() else query.for_update("FOR NO KEY UPDATE")


def lock_shared(query: Any) -> Any:
    """Hold the selected rows unchanged until this transaction ends, while
    letting other transactions read and share-lock them too.

    PostgreSQL: FOR SHARE, which an UPDATE or DELETE of the rows waits for
    (and which waits for one being committed, then reads the new version).
    SQLite: nothing to add; its one writer at a time orders everything.
    """
    return query if is_sqlite() else query.for_update("FOR SHARE")


def claim_rows(query: Any) -> Any:
    """Lock the selected rows that no other transaction holds, skipping the
    rest: how concurrent workers share out a backlog without waiting on each
    other. SQLite has one writer at a time, so nothing is held there."""
    return query if is_sqlite() else query.for_update("FOR NO KEY UPDATE SKIP LOCKED")


def among(field: Any, values: Iterable[Any]) -> Any:
    """`field IN (values)`; on PostgreSQL `field = ANY(array)`, one parameter
    for the whole list, where Peewee would build a query node per value (a
    settlement batch looks up hundreds of balances and accounts at once)."""
    values = list(values)
    if is_sqlite():
        return field.in_(values)
    return field == SQL("ANY(%s)", [values])


# `walk_queue_indexes` as SQL, for a caller that sends it with its own
# statements in one round trip.
QUEUE_SCANS = "SELECT set_config('enable_bitmapscan', 'off', true)"


def walk_queue_indexes() -> None:
    """For the rest of this transaction on PostgreSQL, read indexes by plain
    index scans, not bitmap scans.

    Pending payments and unnumbered events are queues: rows leave them by an
    update, and until a vacuum their old versions stay in the index the queue
    is read by. A plain index scan marks the entries of dead versions as it
    passes, so later scans skip them without reading the table; a bitmap scan
    (the planner's choice for a small, sorted result) visits every one, every
    time: a thousand pages per look after ten thousand events.
    """
    if not is_sqlite():
        database.execute_sql(QUEUE_SCANS)
