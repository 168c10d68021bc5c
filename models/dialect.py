"""What differs between SQLite and PostgreSQL, decided here and nowhere
else: how money columns are stored and summed, how rows are locked and
claimed, how a list of values is matched, how a queue's index is read, how
JSON text is looked into, and how a long read sees one moment and streams."""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from peewee import SQL, Field, fn

from .connection import database, is_sqlite


class MinorUnitsField(Field):
    """An exact integer number of minor units, of any size.

    10^15 major units of a currency with 18 decimals is 10^33 minor units, far
    beyond 64 bits, so PostgreSQL stores NUMERIC(40,0) and SQLite (whose
    integers stop at 64 bits and whose NUMERIC falls back to floats) stores the
    decimal text. Amounts are never compared in SQL, only summed, through
    `exact_sum`, added or subtracted, through `exact_arithmetic_sql`.
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


def exact_sum_sql(expression: str) -> str:
    """`exact_sum` in SQL text, for queries written as SQL."""
    return f"BIGSUM({expression})" if is_sqlite() else f"SUM({expression})"


def exact_arithmetic_sql(left: str, operator: str, right: str) -> str:
    """`left + right` or `left - right` of minor units in SQL text, exact at
    any size. SQLite's is a function of ours (`models.connection`): its
    result is an integer within 64 bits, else its decimal text, so that it
    compares with 0 as a number wherever it can be 0."""
    if operator not in ("+", "-"):
        raise ValueError(f"exact arithmetic adds or subtracts, not {operator!r}")
    if not is_sqlite():
        return f"({left} {operator} {right})"
    return f"{'BIGADD' if operator == '+' else 'BIGSUB'}({left}, {right})"


def json_id(column: str) -> str:
    """SQL for the text of `id` in the JSON object held as text in `column`.
    Read straight off the text when the object starts with it, as every
    event the gateway writes does (compact, `id` first, and ids hold no
    quote or backslash); parsed otherwise, which costs far more on a long
    object."""
    if is_sqlite():
        return (
            f"CASE WHEN substr({column}, 1, 7) = '{{\"id\":\"' THEN substr({column}, 8, instr(substr({column}, 8), '\"') - 1)"
            f" ELSE json_extract({column}, '$.id') END"
        )
    return (
        f"CASE WHEN left({column}, 7) = '{{\"id\":\"' THEN split_part(substr({column}, 8, 200), '\"', 1)"
        f" ELSE ({column}::json ->> 'id') END"
    )


def equal_in_order(field: Any, value: Any) -> Any:
    """`field == value`, for a query also ordered by `field`, so that only
    an index that starts with `field` gives its order. PostgreSQL would
    take an equality's column out of the order (a constant) and might then
    read another index in order, filtering; as `BETWEEN value AND value` it
    keeps it. SQLite's planner, with no statistics, wants the equality."""
    return field == value if is_sqlite() else field.between(value, value)


def any_of(column: str, values: Iterable[Any]) -> tuple[str, list]:
    """SQL text and parameters for `column` being one of `values` (a few
    thousand at most): `among` for queries written as SQL."""
    values = list(values)
    if is_sqlite():
        return f"{column} IN ({', '.join('?' * len(values))})", values
    return f"{column} = ANY(%s)", [values]


def listed(values: Iterable[str]) -> tuple[str, list]:
    """SQL text and parameters for a table of `values` (its column: `id`),
    to join with rather than to match rows against: the database then looks
    each value up in an index, however many there are and whatever order
    the query's grouping would prefer."""
    values = list(values)
    if is_sqlite():
        return "SELECT value AS id FROM json_each(?)", [json.dumps(values)]
    return "SELECT unnest(CAST(%s AS text[])) AS id", [_array_text(values)]


def _array_text(values: list[str]) -> str:
    """PostgreSQL's text form of an array of `values`: one parameter read
    at once, where a Python list would be sent as an ARRAY[...] of as many
    constants, each parsed and planned on its own."""
    quoted = ('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' for value in values)
    return "{" + ",".join(quoted) + "}"


@contextmanager
def snapshot() -> Iterator[None]:
    """Several reads that see the database at one moment, whatever commits
    meanwhile: what an audit needs so that a balance and its entries are
    never read on either side of a settlement. PostgreSQL: a REPEATABLE READ,
    READ ONLY transaction (a replica runs it too); SQLite: a deferred
    transaction, which in WAL mode reads one snapshot from its first read."""
    if is_sqlite():
        with database.atomic():
            yield
        return
    with database.atomic(isolation_level="REPEATABLE READ"):
        database.execute_sql("SET TRANSACTION READ ONLY")
        yield


def join_by_index_lookups() -> None:
    """For the rest of this transaction on PostgreSQL, join by looking each
    key up in an index (never a bitmap of its rows, costly to make for the
    few rows of each), and compile nothing. An incremental audit looks up
    a few thousand keys (`any_of`, `listed`) in tables of millions: the planner,
    guessing wrong how many rows such a list finds, would read a whole
    table to hash or filter it, and spend longer compiling (JIT) than reading."""
    if not is_sqlite():
        database.execute_sql(
            "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),"
            " set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),"
            " set_config('jit', 'off', true)"
        )


STREAMED_ROWS = 5000


def stream_rows(sql: str, params: Sequence[Any] = ()) -> Generator[tuple, None, None]:
    """The rows of a query, read a few thousand at a time however many there
    are, so a reader of the whole ledger holds one batch in memory.
    PostgreSQL: a server-side (named) cursor inside the caller's transaction
    (`snapshot()`); SQLite's cursor already steps through its result."""
    if is_sqlite():
        yield from database.execute_sql(sql, params)
        return
    # Peewee keeps psycopg2 in autocommit mode, where psycopg2 only accepts
    # named cursors declared WITH HOLD; inside a transaction it still streams.
    cursor = database.connection().cursor(name=f"stream_{uuid.uuid4().hex}", withhold=True)
    cursor.itersize = STREAMED_ROWS
    try:
        cursor.execute(sql, params)
        yield from cursor
    finally:
        cursor.close()
