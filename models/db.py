"""The database: one Peewee proxy, bound at start-up to SQLite or PostgreSQL,
and, for reads that may, a PostgreSQL streaming replica (`models.replica`).

Everything that differs between the two backends is decided here and nowhere
else: how a write transaction takes its locks, how rows are locked, how money
columns are stored and summed, and which errors are worth a retry.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlparse

import peewee
from peewee import (
    SQL,
    Database,
    DatabaseProxy,
    Field,
    InterfaceError,
    Model,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
    fn,
)
from psycopg2.extensions import AsIs
from psycopg2.extras import execute_values

log = logging.getLogger(__name__)


class RoutingProxy(DatabaseProxy):
    """The primary, except in a thread running a read that `read_only` sent
    to the replica: every query of the models goes through here."""

    __slots__ = ()

    def __setattr__(self, attr, value) -> None:
        if attr not in DatabaseProxy.__slots__:
            raise AttributeError("Cannot set attribute on proxy.")
        object.__setattr__(self, attr, value)

    def __getattr__(self, attr):
        on_replica = _reading.database
        return getattr(on_replica if on_replica is not None else self.obj, attr)


class _Reading(threading.local):
    database: Database | None = None  # the replica, while a read runs there


_reading = _Reading()
database = RoutingProxy()
replica = None  # a models.replica.Replica once connect_replica has run

T = TypeVar("T")

# PostgreSQL SQLSTATEs after which the same transaction may simply be tried again.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"}


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class MinorUnitsField(Field):
    """An exact integer number of minor units, of any size.

    10^15 major units of a currency with 18 decimals is 10^33 minor units, far
    beyond 64 bits, so PostgreSQL stores NUMERIC(40,0) and SQLite (whose
    integers stop at 64 bits and whose NUMERIC falls back to floats) stores the
    decimal text. Amounts are never compared in SQL, only summed, through
    `exact_sum`.
    """

    field_type = "MINOR_UNITS"

    def db_value(self, value):
        if value is None:
            return None
        # PostgreSQL takes any Python int as a numeric literal; SQLite's
        # driver refuses ints past 64 bits, so it gets the text.
        return str(int(value)) if is_sqlite() else int(value)

    def python_value(self, value):
        return None if value is None else int(value)


class _BigSum:
    """SQLite aggregate: the exact sum of decimal-text integers, as text."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, value) -> None:
        if value is not None:
            self.total += int(value)

    def finalize(self) -> str:
        return str(self.total)


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def exact_sum(column):
    """SUM of a MinorUnitsField without ever passing through a float."""
    return fn.BIGSUM(column) if is_sqlite() else fn.SUM(column)


def lock_rows(query):
    """Lock the selected rows for this transaction.

    PostgreSQL: FOR NO KEY UPDATE, the lock an UPDATE of non-key columns
    takes. Unlike FOR UPDATE it does not conflict with the KEY SHARE locks
    that foreign-key checks take, so inserting a payment that references a
    balance never waits on (or deadlocks with) a settlement holding it.
    SQLite: nothing to add; the IMMEDIATE transaction already holds the
    database's single write lock, which covers every row.
    """
    return query if is_sqlite() else query.for_update("FOR NO KEY UPDATE")


def among(field, values):
    """`field IN (values)`; on PostgreSQL `field = ANY(array)`, one parameter
    for the whole list, where Peewee would build a query node per value (a
    settlement batch looks up hundreds of balances and accounts at once)."""
    values = list(values)
    if is_sqlite():
        return field.in_(values)
    return field == SQL("ANY(%s)", [values])


def insert_rows(*tables: tuple[type[Model], list[dict]]) -> None:
    """Insert many rows into one or more tables, `(model, rows)` each (rows
    are dicts keyed by field name), in one statement: all of them or, should
    any row be refused, none, even outside a transaction.

    On PostgreSQL one INSERT per table, chained as a WITH query, each reading
    its rows from one JSON parameter (`json_populate_recordset` casts each
    value to its column's type): a multi-row INSERT is SQL text the server
    parses value by value, Peewee's own builds a query node per value, and
    COPY takes a statement (a round trip) per table and formats each value
    in Python, where json.dumps does it in C.
    """
    tables = tuple((model, rows) for model, rows in tables if rows)
    if not tables:
        return
    if is_sqlite():
        with atomic() if not database.in_transaction() else database.atomic():
            for model, rows in tables:
                model.insert_many(rows).as_rowcount().execute()
        return
    statements, params = [], []
    for model, rows in tables:
        names = list(dict.fromkeys(itertools.chain.from_iterable(rows)))
        plan = [(name, *_json_column(model._meta.fields[name])) for name in names]
        columns = ", ".join(f'"{column}"' for _, column, _, _ in plan)
        table = f'"{model._meta.table_name}"'
        statements.append(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s)"
        )
        values = [_json_row(row, plan) for row in rows]
        params.append(_ROWS_JSON.encode(values))
    *first, last = statements
    if first:
        last = "WITH " + ", ".join(f"_{n} AS ({statement})" for n, statement in enumerate(first)) + " " + last
    if _together.statements is not None:
        _together.statements.append(database.cursor().mogrify(last, params))
    else:
        database.execute_sql(last, params)


def _json_column(field: Field) -> tuple[str, bool, Callable]:
    """How `insert_rows` puts a field's values into JSON: its column, whether
    a str goes in as it is (text columns, and keys to them: their `db_value`
    would return it unchanged), and the `db_value` that the rest go through.
    A batch's rows hold thousands of values; most are ids and other text."""
    target = field.rel_field if isinstance(field, peewee.ForeignKeyField) else field
    text_as_is = isinstance(target, peewee._StringField) and type(target).db_value is Field.db_value
    return field.column_name, text_as_is, field.db_value


def _json_row(row: dict, plan: list[tuple[str, str, bool, Callable]]) -> dict:
    return {
        column: value if value is None or (text_as_is and type(value) is str) else db_value(value)
        for name, column, text_as_is, db_value in plan
        for value in (row.get(name),)
    }


def _json_value(value) -> str:
    """A value JSON has no type for, as the text its column's type reads."""
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return str(value)


_ROWS_JSON = json.JSONEncoder(default=_json_value, separators=(",", ":"))


def update_rows(model, rows: list[dict], same: dict | None = None) -> None:
    """Give many rows each their own values in one statement: `rows` are
    dicts keyed by field name, each with the primary key and the same other
    fields; `same` (field name: value) is set on all of them.

    On PostgreSQL an UPDATE ... FROM (VALUES ...) built by `execute_values`,
    each value cast to its column's type; Peewee's CASE per column builds a
    query node per value, a third of a settlement batch's time.
    """
    if not rows:
        return
    key = model._meta.primary_key
    fields = [model._meta.fields[name] for name in rows[0] if name != key.name]
    same = {model._meta.fields[name]: value for name, value in (same or {}).items()}
    if is_sqlite():
        ids = [row[key.name] for row in rows]
        columns = {f: peewee.Case(key, [(row[key.name], f.db_value(row[f.name])) for row in rows]) for f in fields}
        model.update({**columns, **same}).where(key.in_(ids)).execute()
        return
    cursor = database.cursor()
    types = database.obj._field_types
    sets = [f'"{f.column_name}" = v."{f.column_name}"' for f in fields]
    for field, value in same.items():
        literal = cursor.mogrify("%s", (field.db_value(value),)).decode().replace("%", "%%")
        sets.append(f'"{field.column_name}" = {literal}')
    names = ", ".join(f'"{f.column_name}"' for f in (key, *fields))
    template = "(" + ", ".join(f"%s::{types.get(f.field_type, f.field_type)}" for f in (key, *fields)) + ")"
    values = [tuple(f.db_value(row[f.name]) for f in (key, *fields)) for row in rows]
    sql = (
        f'UPDATE "{model._meta.table_name}" AS t SET {", ".join(sets)} FROM (VALUES %s) AS v({names})'
        f' WHERE t."{key.column_name}" = v."{key.column_name}"'
    )
    if _together.statements is not None:
        rows_sql = b",".join(cursor.mogrify(template, row) for row in values)
        _together.statements.append(cursor.mogrify(sql, (AsIs(rows_sql.decode()),)))
        return
    with peewee.__exception_wrapper__:
        execute_values(cursor, sql, values, template=template, page_size=len(values))


class _Together(threading.local):
    statements: list[bytes] | None = None


_together = _Together()


@contextlib.contextmanager
def together():
    """Send the `update_rows` and `insert_rows` statements made inside as one
    round trip when the block ends, in the order they were made (on
    PostgreSQL, inside a transaction: a statement that fails fails them all,
    and the transaction with them). Under load every round trip waits its
    turn for a core and for the GIL, whatever its statement; SQLite has none
    to save and runs each at once."""
    if is_sqlite() or _together.statements is not None:
        yield
        return
    _together.statements = []
    try:
        yield
        statements = _together.statements
    finally:
        _together.statements = None
    if statements:
        with peewee.__exception_wrapper__:
            database.cursor().execute(b";\n".join(statements))


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


def claim_rows(query):
    """Lock the selected rows that no other transaction holds, skipping the
    rest: how concurrent workers share out a backlog without waiting on each
    other. SQLite has one writer at a time, so nothing is held there."""
    return query if is_sqlite() else query.for_update("FOR NO KEY UPDATE SKIP LOCKED")


def atomic():
    """A write transaction that takes its write lock up front.

    On SQLite a deferred transaction that reads and then writes can fail with
    SQLITE_BUSY when another writer got there in between, without waiting;
    BEGIN IMMEDIATE waits (busy_timeout) for the lock before the first read.
    """
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()


def is_retryable(exc: Exception) -> bool:
    """Deadlocks, serialization failures, a busy SQLite and lost connections."""
    return _rolled_back(exc) or is_connection_lost(exc)


def _rolled_back(exc: Exception) -> bool:
    """The database said it rolled the transaction back: a deadlock, a
    serialization failure, a busy SQLite. (A COMMIT that fails any other
    way, above all on a lost connection, leaves it committed or not.)"""
    orig = getattr(exc, "orig", None)  # the driver's exception, kept by Peewee
    return getattr(orig, "pgcode", None) in _RETRYABLE_SQLSTATES or "database is locked" in str(exc)


def is_connection_lost(exc: Exception) -> bool:
    """The connection itself is gone (server restarted, backend terminated,
    network cut): retrying needs a new connection, not just a new attempt."""
    orig = getattr(exc, "orig", None)  # the driver's exception, kept by Peewee
    sqlstate = getattr(orig, "pgcode", None)
    if sqlstate is not None:
        return sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")
    if isinstance(exc, InterfaceError):
        return True
    text = str(exc).lower()
    return any(
        phrase in text
        for phrase in (
            "server closed the connection",
            "connection already closed",
            "terminating connection",
            "could not connect",
            "connection refused",
            "ssl syscall",
            "no connection to the server",
            # A server restarting refuses connections with these, and no SQLSTATE.
            "the database system is shutting down",
            "the database system is starting up",
            "the database system is in recovery mode",
        )
    )


def _discard_connection() -> None:
    """Drop this thread's broken connection so the next attempt opens a new one."""
    try:
        database.close()
    except Exception:
        database.obj._state.reset()


def _retrying(work: Callable[[], T], attempts: int) -> T:
    """Each thread keeps one connection for its whole life (opened on first
    use), so a request costs no connection checkout; a connection found dead
    is replaced and the work tried again."""
    if database.in_transaction():
        # Inside someone's transaction: retrying is the outermost caller's job.
        return work()
    for attempt in range(1, attempts + 1):
        try:
            if database.is_closed():
                database.connect()
            return work()
        except (OperationalError, InterfaceError) as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            if is_connection_lost(exc):
                _discard_connection()
            log.warning("transient database error, retry %d: %s", attempt, exc)
            time.sleep(min(0.02 * 2**attempt, 1.0) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def in_transaction(work: Callable[[], T], attempts: int = 8, once: bool = False) -> T:
    """Run `work` in one atomic transaction, retrying it from the start on
    transient errors. `work` must therefore have no effect outside the
    database before it returns; post-commit effects go through
    `database.after_commit`.

    A connection lost while committing leaves the transaction committed or
    not. Work that is safe to repeat either way (settlement claims only what
    is still pending; an Idempotency-Key's record refuses a second) is run
    again; with `once` (work that creates something, such as a payment), it
    is not, and OutcomeUnknown is raised instead. Its `after_commit`
    callbacks still run then: they only wake others up (the relay, a
    settlement worker), which is harmless if nothing was committed and
    spares what was the wait for the sweeper."""

    def atomically() -> T:
        committing, callbacks = False, []
        try:
            with atomic():
                result = work()
                if once:
                    callbacks = list(database.obj._state.commit_callbacks)
                committing = True
            return result
        except (OperationalError, InterfaceError) as exc:
            if once and committing and not _rolled_back(exc):
                _discard_connection()
                database.obj._clear_commit_callbacks()
                for callback in callbacks:
                    callback()
                raise OutcomeUnknown(str(exc)) from exc
            raise

    return _retrying(atomically, attempts)


def without_transaction(work: Callable[[], T], attempts: int = 8) -> T:
    """Run `work` with no transaction around it, retrying it from the start
    on transient errors as `in_transaction` does: for work that reads and
    then writes with a single statement (`insert_rows`), atomic by itself.
    It spares the two round trips of BEGIN and COMMIT, and its reads see
    what had committed when each ran, as they would in a transaction (READ
    COMMITTED). `database.after_commit` callbacks run as they are added.
    The work must store through `stored_once`, so that a retry never repeats
    a write that committed."""
    return _retrying(work, attempts)


class OutcomeUnknown(Exception):
    """A change lost its connection while committing (a transaction's COMMIT,
    or a statement that commits by itself), and whether it committed could
    not be learnt."""


def stored_once(store: Callable[[], None], stored: Callable[[], bool]) -> None:
    """Run `store`, one statement that commits by itself (no transaction is
    open), so that a lost connection never stores it twice.

    A connection lost before the statement's answer arrives leaves it
    committed or not, and retrying it as `_retrying` retries any work could
    store it a second time. So `stored` looks, on a new connection to the
    primary: found, the statement is done; not found, the error goes on up
    to the caller's retry. Should the look fail as well, OutcomeUnknown,
    which nothing retries."""
    try:
        store()
    except (OperationalError, InterfaceError) as exc:
        if not is_connection_lost(exc):
            raise
        _discard_connection()
        try:
            found = read_only(stored)
        except (OperationalError, InterfaceError) as look:
            raise OutcomeUnknown(str(exc)) from look
        if not found:
            raise


def read_only(work: Callable[[], T], attempts: int = 4, replica_ok: bool = False) -> T:
    """Run reads (each its own statement, no transaction), again on a fresh
    connection if this thread's turns out to be dead.

    With `replica_ok` (the caller knows it needs none of its own recent
    writes: `models.replica`, rule 2) they run on the replica while it is
    fresh enough; if it fails them, on the primary."""
    if replica_ok and replica is not None:
        from .replica import READS

        if replica.fresh_enough() and not database.in_transaction():
            try:
                result = _on_replica(work)
            except (OperationalError, InterfaceError) as exc:
                log.warning("read failed on the replica, reading the primary: %s", exc)
                replica.mark_down()
            else:
                READS.labels("replica").inc()
                return result
        READS.labels("primary").inc()
    return _retrying(work, attempts)


def _on_replica(work: Callable[[], T]) -> T:
    standby = replica.database
    if standby.is_closed():
        standby.connect()
    _reading.database = standby
    try:
        return work()
    except (OperationalError, InterfaceError):
        standby.close()
        raise
    finally:
        _reading.database = None


def _postgresql(database_url: str, connect_timeout: int = 5) -> PostgresqlDatabase:
    url = urlparse(database_url)
    if url.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"a database URL must be postgresql://..., not {url.scheme}://")
    return PostgresqlDatabase(
        unquote(url.path.lstrip("/")) or "postgres",
        user=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        connect_timeout=connect_timeout,
        field_types={"MINOR_UNITS": "NUMERIC(40,0)"},
    )


def connect_replica(replica_url: str, database_url: str, max_lag: float):
    """Start reading from the streaming replica at `replica_url` (rules in
    `models.replica`); returns the `Replica`."""
    from .replica import Replica

    global replica
    replica = Replica(_postgresql(replica_url, connect_timeout=2), replica_url, database_url, max_lag)
    return replica


def disconnect_replica() -> None:
    global replica
    if replica is not None:
        replica.stop()
        replica = None


def connect(database_url: str | None, sqlite_path: Path) -> Database:
    """Bind the proxy to PostgreSQL (`database_url`) or to the SQLite file.

    Connections are per thread and kept open (see `_retrying`), so the
    number a process holds is the number of threads that use the database.
    """
    db = open_database(database_url, sqlite_path)
    database.initialize(db)
    return db


def open_database(database_url: str | None, sqlite_path: Path) -> Database:
    """A database of its own, on PostgreSQL (`database_url`) or on the SQLite
    file, set up as `connect` sets up the one the models use."""
    if database_url:
        db = _postgresql(database_url)
    else:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        db = SqliteDatabase(
            str(sqlite_path),
            timeout=30,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "busy_timeout": 30000,
            },
            field_types={"MINOR_UNITS": "TEXT"},
        )
        db.register_aggregate(_BigSum, "BIGSUM", 1)
    return db


def utcnow():
    """Naive UTC, the one clock every stored timestamp uses."""
    return datetime.now(UTC).replace(tzinfo=None)
