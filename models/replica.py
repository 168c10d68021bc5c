"""Reads from a PostgreSQL streaming replica (READ_REPLICA_URL), writes and
settlement on the primary, and never a read that is wrong without saying so.

The rule, in full:

1. Only reads outside a transaction may go to the replica (`models.db.read_only`);
   every write, every settlement and every read inside a write's transaction
   use the primary.
2. The web layer sends a request's reads to the replica only if it is a GET
   (or HEAD) and its client — the bearer token, or the dashboard operator —
   sent no write request that is unfinished or finished less than
   REPLICA_MAX_LAG seconds ago (`WriteMarks`, kept in Redis so that every
   web process knows). So a caller always sees its own writes.
3. Even then, only while the replica is *provably* at most REPLICA_MAX_LAG
   seconds behind (`Replica.fresh_enough`): a monitor samples the primary's
   WAL position over time and asks the replica how far it has replayed; the
   replica holds every commit made before the newest sample it has passed,
   so its staleness is bounded by that sample's age. A replica that lags
   more, or does not answer, or fails a read, is not read from: the read
   goes to the primary. Together with rule 2: a write finished at time t is
   read from the replica only after t + REPLICA_MAX_LAG, when the replica is
   known to hold everything committed before then.

A client therefore gets either the primary's answer or one at most
REPLICA_MAX_LAG old that includes all its own writes; if the primary is
down too, the usual 503.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from typing import Any

import psycopg2
import redis
from peewee import Database
from prometheus_client import Counter
from psycopg2.extensions import connection

from config import redis_client

log = logging.getLogger(__name__)

READS = Counter(
    "gateway_routed_reads", "Reads a request was allowed to send to the replica, by where they ran", ["database"]
)
MONITOR_SECONDS = 0.1
# The longest a write request can take (nginx gives up after 40 s): a write
# in flight that long is over, one way or another.
LONGEST_WRITE_SECONDS = 45.0


class Replica:
    """A standby's database handle, and how far behind the primary it is."""

    def __init__(self, database: Database, replica_url: str, primary_url: str, max_lag: float) -> None:
        self.database = database
        self.max_lag = max_lag
        self._urls = {"primary": primary_url, "replica": replica_url}
        self._connections: dict[str, connection] = {}
        self._samples: deque[tuple[float, int]] = deque()
        self._covered_at: float | None = None
        # The server (host, port) the monitor measures: with a multi-host
        # READ_REPLICA_URL (`prefer-standby`), reads are made to go there
        # too (`models.connection.reading_replica`), never to another
        # standby whose lag nobody measured.
        self.measured: tuple[str, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._monitor, name="replica-monitor", daemon=True)
        self._thread.start()

    def fresh_enough(self) -> bool:
        covered = self._covered_at
        return covered is not None and time.monotonic() - covered <= self.max_lag

    def staleness(self) -> float | None:
        """Seconds the replica may be behind at most; None while unknown or down."""
        covered = self._covered_at
        return None if covered is None else time.monotonic() - covered

    def mark_down(self) -> None:
        """A read failed on the replica: use the primary until the monitor
        has seen it answer again."""
        self._covered_at = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._connections.values():
            with contextlib.suppress(psycopg2.Error):
                conn.close()

    def _query(self, which: str, sql: str) -> Any:
        conn = self._connections.get(which)
        if conn is None or conn.closed:
            conn = psycopg2.connect(self._urls[which], connect_timeout=2)
            conn.autocommit = True
            self._connections[which] = conn
            if which == "replica":
                self._covered_at = None  # perhaps another server than before: measured anew
                self.measured = (conn.info.host, conn.info.port)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                row = cur.fetchone()
                assert row is not None  # a SELECT without FROM returns one row
                return row[0]
        except psycopg2.Error:
            conn.close()
            raise

    def _forget(self, which: str) -> None:
        conn = self._connections.pop(which, None)
        if conn is not None:
            with contextlib.suppress(psycopg2.Error):
                conn.close()

    def _monitor(self) -> None:
        while not self._stop.wait(MONITOR_SECONDS):
            try:
                # Insert position: past the end of every commit made so far.
                primary = int(self._query("primary", "SELECT pg_current_wal_insert_lsn() - '0/0'"))
                self._samples.append((time.monotonic(), primary))
            except psycopg2.Error:
                pass  # the replica's bound only ages: reads fall back as it grows
            try:
                # NULL on a server that is not a standby (one promoted in a
                # failover, or a `prefer-standby` URL that found none).
                replayed = self._query(
                    "replica", "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() - '0/0' END"
                )
            except psycopg2.Error:
                self._covered_at = None
                continue
            if replayed is None:  # not a standby (now): look for one again at the next round
                self._covered_at = None
                self._forget("replica")
                continue
            self._advance(int(replayed))

    def _advance(self, replayed: int) -> None:
        while len(self._samples) > 1 and self._samples[1][1] <= replayed:
            self._samples.popleft()
        if self._samples and self._samples[0][1] <= replayed:
            self._covered_at = max(self._covered_at or 0.0, self._samples[0][0])
        horizon = time.monotonic() - 4 * self.max_lag - 1
        while len(self._samples) > 1 and self._samples[0][0] < horizon:
            self._samples.popleft()


class WriteMarks:
    """Which clients wrote recently, for every web process (Redis): a write
    request counts from its start until REPLICA_MAX_LAG after its end."""

    _START = """
    redis.call('HINCRBY', KEYS[1], 'open', 1)
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    """
    _END = """
    local open = redis.call('HINCRBY', KEYS[1], 'open', -1)
    if open <= 0 then
        redis.call('HSET', KEYS[1], 'open', 0)
        redis.call('PEXPIRE', KEYS[1], ARGV[1])
    end
    """

    def __init__(self, redis_url: str, max_lag: float) -> None:
        client = redis_client(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._client = client
        self._start = client.register_script(self._START)
        self._end = client.register_script(self._END)
        self._after = int(max_lag * 1000) + 50
        self._longest = int((LONGEST_WRITE_SECONDS + max_lag) * 1000)

    @staticmethod
    def key(client: str) -> str:
        return "gateway:wrote:" + hashlib.sha256(client.encode()).hexdigest()[:32]

    def start(self, client: str) -> None:
        self._start(keys=[self.key(client)], args=[self._longest])

    def end(self, client: str) -> None:
        try:
            self._end(keys=[self.key(client)], args=[self._after])
        except redis.RedisError:
            log.warning("could not mark the end of a write; its mark expires by itself", exc_info=True)

    def recent(self, client: str) -> bool:
        """True if `client` wrote recently, or if Redis cannot say."""
        try:
            return bool(self._client.exists(self.key(client)))
        except redis.RedisError:
            return True
