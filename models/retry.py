"""How database work is retried, as named operations: each says what its
caller gets when the connection or the transaction fails under it.

- `retried_transaction`: retried freely, from the start, whatever failed,
  a lost COMMIT included. For work whose second run is harmless (settlement
  claims only what is still pending; an Idempotency-Key's row refuses a
  second creation; an update sets what it sets).
- `transaction_at_most_once`: for work that creates something. Retried
  when the database says it rolled the transaction back; a COMMIT whose
  connection is lost raises `OutcomeUnknown` instead, as running it again
  could create the thing twice.
- `retried_without_transaction` with `store_at_most_once`: work that reads
  and then stores with one self-committing statement (intake's batches).
  Retried freely; the store itself is never repeated once it may have
  committed, and `OutcomeUnknown` is raised when that cannot be learnt.
- `read_only`: reads, retried on a fresh connection; on the replica when
  the caller allows it and the replica is fresh enough.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from peewee import InterfaceError, OperationalError

from . import connection
from .connection import atomic, database, reading_replica
from .peewee_internals import clear_commit_callbacks, forget_connection, pending_commit_callbacks
from .replica import READS

log = logging.getLogger(__name__)

T = TypeVar("T")

# PostgreSQL SQLSTATEs after which the same transaction may simply be tried again.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"}


class OutcomeUnknown(Exception):
    """A change lost its connection while committing (a transaction's COMMIT,
    or a statement that commits by itself), and whether it committed could
    not be learnt."""


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
        forget_connection(database.obj)


def _retrying(work: Callable[[], T], attempts: int) -> T:
    """Run `work`, again (after a short, jittered pause) when it fails with a
    retryable error; a connection found dead is replaced first."""
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


def retried_transaction(work: Callable[[], T], attempts: int = 8) -> T:
    """Run `work` in one atomic transaction, retried freely from the start on
    transient errors, a COMMIT that lost its connection included: its second
    run must be harmless whether or not the first committed. `work` must have
    no effect outside the database before it returns; post-commit effects go
    through `database.after_commit`."""

    def atomically() -> T:
        with atomic():
            return work()

    return _retrying(atomically, attempts)


def transaction_at_most_once(work: Callable[[], T], attempts: int = 8) -> T:
    """Run `work`, which creates something (a payment, an account), in one
    atomic transaction, so that it is stored at most once.

    Retried when the database rolled it back (a deadlock, a busy SQLite) or
    the connection was lost before COMMIT. A COMMIT whose connection is lost
    leaves it committed or not, so it is not run again: OutcomeUnknown is
    raised. Its `after_commit` callbacks still run then: they only wake
    others up (the relay, a settlement worker), which is harmless if nothing
    was committed and spares what was the wait for the sweeper."""

    def atomically() -> T:
        committing, callbacks = False, []
        try:
            with atomic():
                result = work()
                callbacks = list(pending_commit_callbacks(database.obj))
                committing = True
            return result
        except (OperationalError, InterfaceError) as exc:
            if committing and not _rolled_back(exc):
                _discard_connection()
                clear_commit_callbacks(database.obj)
                for callback in callbacks:
                    callback()
                raise OutcomeUnknown(str(exc)) from exc
            raise

    return _retrying(atomically, attempts)


def retried_without_transaction(work: Callable[[], T], attempts: int = 8) -> T:
    """Run `work` with no transaction around it, retried freely from the start
    on transient errors: for work that reads and then writes with a single
    statement (`insert_rows`), atomic by itself. It spares the two round
    trips of BEGIN and COMMIT, and its reads see what had committed when each
    ran, as they would in a transaction (READ COMMITTED). `after_commit`
    callbacks run as they are added. The work must store through
    `store_at_most_once`, so that a retry never repeats a write that
    committed."""
    return _retrying(work, attempts)


def store_at_most_once(store: Callable[[], None], stored: Callable[[], bool]) -> None:
    """Run `store`, one statement that commits by itself (no transaction is
    open), so that a lost connection never stores it twice.

    A connection lost before the statement's answer arrives leaves it
    committed or not, and retrying it as any other work is retried could
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
    replica = connection.replica
    if replica_ok and replica is not None:
        if replica.fresh_enough() and not database.in_transaction():
            try:
                with reading_replica() as standby:
                    try:
                        result = work()
                    except (OperationalError, InterfaceError):
                        standby.close()
                        raise
            except (OperationalError, InterfaceError) as exc:
                log.warning("read failed on the replica, reading the primary: %s", exc)
                replica.mark_down()
            else:
                READS.labels("replica").inc()
                return result
        READS.labels("primary").inc()
    return _retrying(work, attempts)
