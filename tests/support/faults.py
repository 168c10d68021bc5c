"""The fault tests' own little world: a throwaway PostgreSQL and Redis, and web and worker processes on them.

The PostgreSQL cluster and the Redis are each a child process of the test
run, and the server.py web and worker processes on them are ones that a
test may kill, stop and start at will.

Nothing here touches the machine's shared PostgreSQL or Redis: stopping
those would break everyone else's work. Every child dies with the test run
(PR_SET_PDEATHSIG), and the fixtures stop them all in any case.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import redis

from deploy.processes import ROOT, die_with_parent, free_port, spawn, stop_processes
from tests.support.client import Api
from tests.support.waiting import wait_until


def postgres_bin() -> Path:
    """Debian's newest installed PostgreSQL server (FAULTS_PG_BIN overrides)."""
    if os.environ.get("FAULTS_PG_BIN"):
        return Path(os.environ["FAULTS_PG_BIN"])
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else Path("/usr/lib/postgresql/15/bin")


# Settlement's safety net, made quick: what the tests prove is that it works,
# not that it waits its production minute.
FAST_SWEEPER = {"STALE_AFTER_SECONDS": "2", "SWEEP_SECONDS": "2"}


def _child_of_this_run(death_signal: int, user: str | None = None):
    """preexec_fn: optionally become `user`, then die with the test run.
    (The death signal is reset by a change of user, so it is set after.)"""

    def prepare() -> None:
        if user is not None:
            record = pwd.getpwnam(user)
            os.setgid(record.pw_gid)
            os.setuid(record.pw_uid)
        die_with_parent(death_signal)

    return prepare


def rows_of(url: str, sql: str, args: tuple = ()) -> list[tuple]:
    """The rows `sql` reads from the PostgreSQL database at `url`, on a connection of its own."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Send `sig` and wait; SIGKILL if it has not ended within `timeout` seconds."""
    stop_processes([process], timeout, lambda _: sig)


class OwnRedis:
    """A Redis server without persistence: stopping it loses every queued task."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> OwnRedis:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, preexec_fn=_child_of_this_run(signal.SIGTERM)
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        assert wait_until(answers, timeout=20), "own redis-server did not start"
        return self

    def kill(self) -> None:
        """Stop it dead, as a crash would: SIGKILL."""
        assert self.process is not None, "not started"
        stop_process(self.process, signal.SIGKILL)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class OwnPostgres:
    """A PostgreSQL cluster in a temporary folder, run as the `postgres` user
    (the server refuses to run as root), trusting local connections."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="gateway-faults-pg-"))
        self.data = self.folder / "data"
        self.process: subprocess.Popen | None = None
        self.user = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgresql://gateway@127.0.0.1:{self.port}/gateway"

    def init(self) -> OwnPostgres:
        if self.user:
            record = pwd.getpwnam(self.user)
            os.chown(self.folder, record.pw_uid, record.pw_gid)
        subprocess.run(
            [str(postgres_bin() / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "gateway", "--no-sync"],
            check=True,
            capture_output=True,
            preexec_fn=_child_of_this_run(signal.SIGTERM, self.user),
        )
        self.start()
        admin = psycopg2.connect(self.url.rsplit("/", 1)[0] + "/postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("CREATE DATABASE gateway")
        admin.close()
        return self

    def start(self) -> None:
        command = [
            str(postgres_bin() / "postgres"),
            *("-D", str(self.data), "-p", str(self.port), "-k", str(self.folder)),
            *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"),
        ]
        # SIGINT is PostgreSQL's fast shutdown: it does not wait for clients.
        with open(self.folder / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_of_this_run(signal.SIGINT, self.user),
            )
        assert wait_until(self.answers, timeout=30), "own PostgreSQL did not start: " + self.log_tail()

    def log_tail(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")[-2000:]

    def answers(self) -> bool:
        try:
            psycopg2.connect(self.url.rsplit("/", 1)[0] + "/postgres", connect_timeout=1).close()
        except psycopg2.Error:
            return False
        return True

    def stop(self) -> None:
        """Fast shutdown: every client's connection is cut."""
        assert self.process is not None, "not started"
        stop_process(self.process, signal.SIGINT, timeout=30)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, sql: str, args=()) -> list[tuple]:
        return rows_of(self.url, sql, args)


class Stack:
    """The product on the throwaway services: web and worker processes that
    come and go, sharing one database and one Redis."""

    def __init__(self, postgres: OwnPostgres, own_redis: OwnRedis) -> None:
        self.postgres, self.redis = postgres, own_redis
        self.env = dict(
            os.environ,
            DATABASE_URL=postgres.url,
            REDIS_URL=own_redis.url,
            LOG_LEVEL="error",
            **FAST_SWEEPER,
        )
        self.processes: list[subprocess.Popen] = []
        self.command("migrate")
        self.token = self.command("create-token", "--name", "faults", "--scope", "admin").splitlines()[-1]

    def command(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "server.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def worker(self, threads: int = 2) -> subprocess.Popen:
        process = spawn(["worker", "--workers", str(threads)], self.env)
        self.processes.append(process)
        return process

    def web(self, port: int | None = None) -> tuple[subprocess.Popen, Api]:
        port = port or free_port()
        process = spawn(["serve", "--port", str(port)], self.env)
        self.processes.append(process)
        api = Api(f"http://127.0.0.1:{port}", self.token)

        def ready() -> bool:
            try:
                return api.get("/readyz").status == 200
            except OSError:
                return False

        assert wait_until(ready, timeout=30), "web process did not become ready"
        return process, api

    def stop_all(self) -> None:
        for process in self.processes:
            stop_process(process, signal.SIGKILL if process.poll() is None else signal.SIGTERM)
        self.processes.clear()

    def audit_ok(self) -> bool:
        """`server.py audit`, as an operator would run it: exit 0 when every
        invariant holds."""
        done = subprocess.run(
            [sys.executable, "server.py", "audit"], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        return done.returncode == 0

    def open_account(self, api: Api, funds: str | None = None) -> str:
        account = api.post("/api/v1/accounts", {"owner": "Fault Test", "currencies": ["PHP"]})
        assert account.status == 201, account.body
        if funds:
            deposit = api.post(
                "/api/v1/deposits", {"account": account.body["id"], "currency": "PHP", "amount": funds}, wait=30
            )
            assert deposit.body["status"] == "completed", deposit.body
        return account.body["id"]

    def wait_final(self, payment_ids: list[str], timeout: float = 90) -> dict[str, str]:
        """Every payment's final status, once none is pending (read straight
        from the database, so no web process need be up)."""
        statuses: dict[str, str] = {}

        def all_final() -> bool:
            statuses.clear()
            statuses.update(self.postgres.query("SELECT id, status FROM payment WHERE id = ANY(%s)", (payment_ids,)))
            return all(statuses.get(p) in ("completed", "failed") for p in payment_ids)

        assert wait_until(all_final, timeout=timeout, interval=0.25), (
            f"{sum(s == 'pending' for s in statuses.values())} payments still pending, "
            f"{len(set(payment_ids) - set(statuses))} missing"
        )
        return statuses

    def assert_settled_exactly_once(self, payment_ids: list[str]) -> dict[str, str]:
        """Each payment is final, with its two entries if completed (none if
        failed) and exactly one final event; and the audit passes."""
        statuses = self.wait_final(payment_ids)
        entries = dict(
            self.postgres.query(
                "SELECT payment_id, count(*) FROM entry WHERE payment_id = ANY(%s) GROUP BY payment_id",
                (payment_ids,),
            )
        )
        finals = dict(
            self.postgres.query(
                "SELECT data::json->>'id', count(*) FROM event"
                " WHERE type IN ('payment.completed', 'payment.failed') AND data::json->>'id' = ANY(%s)"
                " GROUP BY 1",
                (payment_ids,),
            )
        )
        for payment_id in payment_ids:
            expected = 2 if statuses[payment_id] == "completed" else 0
            assert entries.get(payment_id, 0) == expected, (payment_id, statuses[payment_id], entries.get(payment_id))
            assert finals.get(payment_id) == 1, (payment_id, finals.get(payment_id))
        assert self.audit_ok()
        return statuses


@contextlib.contextmanager
def throwaway_services():
    """A fresh PostgreSQL cluster and Redis for one test module."""
    postgres = OwnPostgres().init()
    own_redis = OwnRedis().start()
    try:
        yield postgres, own_redis
    finally:
        own_redis.kill()
        postgres.remove()
