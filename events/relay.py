"""The relay: numbers committed events in commit order and publishes them.

Every process (web or worker) runs one; on PostgreSQL an advisory lock makes
exactly one of them the leader at a time (a worker, when one runs), and when
its process dies the lock goes with its connection and another takes over
within a second. The design
and why it is correct: `models.event`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg2
from psycopg2.extensions import connection, cursor

from models.event import Frame, sequence_committed
from models.retry import retried_transaction

log = logging.getLogger(__name__)

# Where a relay hands each numbered batch of frames, in `seq` order.
Publish = Callable[[list[Frame]], None]

BATCH = 5000
IDLE_POLL_SECONDS = 0.5
WORKER_LOOKUP_SECONDS = 1.0
LEADER_CHECK_SECONDS = 1.0
# How often a relay that does not lead tries to: the gap in numbering when
# the leader goes or hands over.
FOLLOWER_RETRY_SECONDS = 0.25
_LEADER_LOCK = 0x70677701
_WORKER_PRESENT = 0x70677702


class Leadership:
    """Holds the relay's PostgreSQL advisory lock on a connection of its own.

    Workers are the relay's natural home: a web process that numbers events
    spends on it the time it owes its requests. So a worker marks itself
    present (a shared advisory lock, gone with its connection), and a web
    process leads only while no worker is there to: it does not take the
    lock, and hands it back if it holds it, once it sees one.
    """

    def __init__(self, database_url: str, worker: bool = False) -> None:
        self._dsn = database_url
        self._worker = worker
        self._conn: connection | None = None
        self._held = False
        self._looked_for_workers = 0.0
        self._worker_seen = False
        self._alive_at = 0.0

    def hold(self) -> bool:
        """True while this process is the leader; tries to become it if not.
        Checks, at most once a second, that the lock's connection is alive,
        since a dead one means the lock is gone. (Meanwhile two relays may
        both believe they lead; numbering stays right, as each round takes a
        lock of its own: `models.event.sequence_committed`.)"""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg2.connect(self._dsn, connect_timeout=2)
                self._conn.autocommit = True
                self._held = False
                if self._worker:
                    with self._conn.cursor() as cur:
                        cur.execute("SELECT pg_advisory_lock_shared(%s)", (_WORKER_PRESENT,))
            with self._conn.cursor() as cur:
                if not self._worker and self._a_worker_is_present(cur):
                    if self._held:
                        cur.execute("SELECT pg_advisory_unlock(%s)", (_LEADER_LOCK,))
                        self._held = False
                elif self._held:
                    if time.monotonic() - self._alive_at >= LEADER_CHECK_SECONDS:
                        cur.execute("SELECT 1")
                        self._alive_at = time.monotonic()
                else:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (_LEADER_LOCK,))
                    self._held = _one_value(cur)
        except psycopg2.Error:
            self.release()
        return self._held

    def _a_worker_is_present(self, cur: cursor) -> bool:
        """Looked up at most once a second; in between, the last answer."""
        now = time.monotonic()
        if now - self._looked_for_workers >= WORKER_LOOKUP_SECONDS:
            self._looked_for_workers = now
            cur.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = 0 AND objid = %s AND objsubid = 1)",
                (_WORKER_PRESENT,),
            )
            self._worker_seen = _one_value(cur)
        return self._worker_seen

    @property
    def held(self) -> bool:
        return self._held

    def release(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
            self._conn = None


def _one_value(cur: cursor) -> Any:
    """The value of the one row a SELECT of one expression, without FROM, returns."""
    row = cur.fetchone()
    assert row is not None  # such a SELECT returns one row
    return row[0]


class EventRelay:
    def __init__(self, publish: Publish, leadership: Leadership | None = None) -> None:
        self._publish = publish
        self._leadership = leadership
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        """Whether this process's relay is the one numbering events."""
        return self._leadership is None or self._leadership.held

    def wake(self) -> None:
        """Events were committed: number them now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="event-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._leadership is not None:
            self._leadership.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._leadership is not None and not self._leadership.hold():
                self._stop.wait(FOLLOWER_RETRY_SECONDS)
                continue
            # Clear before looking: a commit after this point wakes us again.
            self._wake.clear()
            try:
                numbered = self.relay_once()
            except Exception:
                log.exception("relay failed; retrying")
                self._stop.wait(0.5)
                continue
            if numbered < BATCH:
                self._wake.wait(IDLE_POLL_SECONDS)

    def relay_once(self) -> int:
        """Number what is committed and publish it; returns how many."""
        frames = retried_transaction(lambda: sequence_committed(BATCH))
        if frames:
            try:
                self._publish(frames)
            except Exception:
                # Subscribers notice the gap and read the log: nothing is lost.
                log.warning("could not publish events %d-%d", frames[0].seq, frames[-1].seq, exc_info=True)
            else:
                if log.isEnabledFor(logging.INFO):
                    for frame in frames:
                        log.info("event %d %s published", frame.seq, frame.type, extra=frame.trace())
        return len(frames)
