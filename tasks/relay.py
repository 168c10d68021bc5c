"""The relay: numbers committed events in commit order and publishes them.

Every process (web or worker) runs one; on PostgreSQL an advisory lock makes
exactly one of them the leader at a time, and when its process dies the lock
goes with its connection and another takes over within a second. The design
and why it is correct: `models.event`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import psycopg2

from models.db import in_transaction
from models.event import Frame, event_json, sequence_committed

log = logging.getLogger(__name__)

BATCH = 5000
IDLE_POLL_SECONDS = 0.5
_LEADER_LOCK = 0x70677701


class Leadership:
    """Holds the relay's PostgreSQL advisory lock on a connection of its own."""

    def __init__(self, database_url: str) -> None:
        self._dsn = database_url
        self._conn = None
        self._held = False

    def hold(self) -> bool:
        """True while this process is the leader; tries to become it if not.
        Also checks that the lock's connection is alive, since a dead one
        means the lock is gone."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg2.connect(self._dsn, connect_timeout=2)
                self._conn.autocommit = True
                self._held = False
            with self._conn.cursor() as cur:
                if self._held:
                    cur.execute("SELECT 1")
                else:
                    cur.execute("SELECT pg_try_advisory_lock(%s)", (_LEADER_LOCK,))
                    self._held = cur.fetchone()[0]
        except psycopg2.Error:
            self.release()
        return self._held

    def release(self) -> None:
        self._held = False
        if self._conn is not None:
            with contextlib.suppress(psycopg2.Error):
                self._conn.close()
            self._conn = None


class EventRelay:
    def __init__(self, publish: Callable[[list[Frame]], None], leadership: Leadership | None = None) -> None:
        self._publish = publish
        self._leadership = leadership
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
                self._stop.wait(1.0)
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
        frames = in_transaction(lambda: [Frame.of(event_json(e)) for e in sequence_committed(BATCH)])
        if frames:
            try:
                self._publish(frames)
            except Exception:
                # Subscribers notice the gap and read the log: nothing is lost.
                log.warning("could not publish events %d-%d", frames[0].seq, frames[-1].seq, exc_info=True)
        return len(frames)
