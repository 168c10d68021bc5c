"""The database the models use: one Peewee proxy, bound at start-up to
SQLite or PostgreSQL, and, for reads that may, a PostgreSQL streaming
replica (`models.replica`).

Connections are per thread and kept open for the thread's life (opened on
first use), so a request costs no connection checkout and the number of
connections a process holds is the number of threads that use the database.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2
from peewee import Database, DatabaseProxy, Model, PostgresqlDatabase, SqliteDatabase
from psycopg2.extensions import parse_dsn

from .replica import Replica


class RoutingProxy(DatabaseProxy):
    """The primary, except in a thread running a read that `read_only` sent
    to the replica: every query of the models goes through here."""

    __slots__ = ()

    def __setattr__(self, attr: str, value: Any) -> None:
        if attr not in DatabaseProxy.__slots__:
            raise AttributeError("Cannot set attribute on proxy.")
        object.__setattr__(self, attr, value)

    def __getattr__(self, attr: str) -> Any:
        on_replica = _reading.database
        return getattr(on_replica if on_replica is not None else self.obj, attr)


class _Reading(threading.local):
    database: Database | None = None  # the replica, while a read runs there


_reading = _Reading()
database = RoutingProxy()
replica: Replica | None = None  # set by connect_replica


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


def is_sqlite() -> bool:
    return isinstance(database.obj, SqliteDatabase)


def utcnow() -> datetime:
    """Naive UTC, the one clock every stored timestamp uses."""
    return datetime.now(UTC).replace(tzinfo=None)


def atomic() -> Any:
    """A write transaction that takes its write lock up front.

    On SQLite a deferred transaction that reads and then writes can fail with
    SQLITE_BUSY when another writer got there in between, without waiting;
    BEGIN IMMEDIATE waits (busy_timeout) for the lock before the first read.
    """
    if is_sqlite():
        return database.atomic("IMMEDIATE")
    return database.atomic()


@contextlib.contextmanager
def reading_replica() -> Iterator[Database]:
    """Within the block, this thread's queries go to the replica (a
    connection of its own is opened if need be); yields its database."""
    assert replica is not None, "no replica is connected"
    standby = replica.database
    measured = replica.measured
    if measured is not None and not standby.is_closed():
        info = standby.connection().info
        if (info.host, info.port) != measured:
            standby.close()  # on a server the monitor does not measure (now)
    if standby.is_closed():
        if measured is not None:
            # The one server whose lag is known, out of a multi-host URL's.
            standby.connect_params.update(host=measured[0], port=measured[1])
        standby.connect()
    _reading.database = standby
    try:
        yield standby
    finally:
        _reading.database = None


def connect(database_url: str | None, sqlite_path: Path) -> Database:
    """Bind the models to PostgreSQL (`database_url`) or to the SQLite file."""
    db = open_database(database_url, sqlite_path)
    database.initialize(db)
    return db


def open_database(database_url: str | None, sqlite_path: Path) -> Database:
    """A database of its own, on PostgreSQL (`database_url`) or on the SQLite
    file, set up as `connect` sets up the one the models use."""
    if database_url:
        return postgresql(database_url)
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
    db.register_function(functools.partial(_big_arithmetic, 1), "BIGADD", 2, deterministic=True)
    db.register_function(functools.partial(_big_arithmetic, -1), "BIGSUB", 2, deterministic=True)
    return db


def _big_arithmetic(sign: int, left: str | int | None, right: str | int | None) -> str | int | None:
    """SQLite function: `left` plus or minus `right`, decimal-text or integer
    minor units, exactly (`models.dialect.exact_arithmetic_sql`)."""
    if left is None or right is None:
        return None
    result = int(left) + sign * int(right)
    return result if -(2**63) <= result < 2**63 else str(result)


class _BigSum:
    """SQLite aggregate: the exact sum of decimal-text integers, as text
    (`models.dialect.exact_sum`)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, value: str | None) -> None:
        if value is not None:
            self.total += int(value)

    def finalize(self) -> str:
        return str(self.total)


def postgresql(database_url: str, connect_timeout: int = 5) -> PostgresqlDatabase:
    """The database at `database_url`, which goes to libpq as it is: a
    multi-host URL (`postgresql://user@h1:5432,h2:5432/db?target_session_attrs=read-write`)
    finds the leader of a cluster, and a connection lost in a failover
    finds the new one when it is opened again."""
    scheme = database_url.partition("://")[0]
    if scheme not in ("postgres", "postgresql"):
        raise ValueError(f"a database URL must be postgresql://..., not {scheme}://")
    try:
        name = parse_dsn(database_url).get("dbname") or "postgres"
    except psycopg2.ProgrammingError as problem:
        raise ValueError(f"not a database URL libpq can read: {problem}".strip()) from None
    return PostgresqlDatabase(
        name,
        dsn=database_url,
        connect_timeout=connect_timeout,
        field_types={"MINOR_UNITS": "NUMERIC(40,0)"},
    )


def connect_replica(replica_url: str, database_url: str, max_lag: float) -> Replica:
    """Start reading from the streaming replica at `replica_url` (rules in
    `models.replica`); returns the `Replica`."""
    global replica
    replica = Replica(postgresql(replica_url, connect_timeout=2), replica_url, database_url, max_lag)
    return replica


def disconnect_replica() -> None:
    global replica
    if replica is not None:
        replica.stop()
        replica = None
