"""A PostgreSQL streaming replica of the local server, on a second port, for
the read-replica tests (and for trying READ_REPLICA_URL by hand):

    python -m deploy.replica [--port 5433]     # Ctrl-C stops and deletes it

It takes a base backup of the server at PRIMARY (default 127.0.0.1:5432,
user root) with Debian's PostgreSQL 15 binaries into a temporary folder and
runs a hot standby from it as the `postgres` OS user (PostgreSQL refuses to
run as root). The primary must accept replication connections from
loopback: `deploy/allow-local-replication.sh` adds that line once.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from deploy.processes import die_with_parent, stop_processes

PRIMARY_HOST, PRIMARY_PORT, PRIMARY_USER = "127.0.0.1", 5432, "root"
ALLOW_REPLICATION = Path(__file__).resolve().parent / "allow-local-replication.sh"
# A hot standby refuses to start with less of these than its primary has.
MATCHED_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def postgres_bin() -> Path:
    """PostgreSQL's server binaries: $PG_BIN, else Debian's PostgreSQL 15."""
    return Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres_dying_with_parent() -> None:
    account = pwd.getpwnam("postgres")
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    die_with_parent()  # after setuid, which clears it


class StreamingReplica:
    def __init__(self, port: int) -> None:
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="gateway-replica-"))
        self.data = self.directory / "data"
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgresql://{PRIMARY_USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> StreamingReplica:
        subprocess.run(["bash", str(ALLOW_REPLICATION)], check=True)
        account = pwd.getpwnam("postgres")
        os.chown(self.directory, account.pw_uid, account.pw_gid)
        subprocess.run(
            [str(postgres_bin() / "pg_basebackup"), "-h", PRIMARY_HOST, "-p", str(PRIMARY_PORT), "-U", PRIMARY_USER]
            + ["-D", str(self.data), "-R", "-X", "stream", "-c", "fast"],
            check=True,
            preexec_fn=_as_postgres_dying_with_parent,
            capture_output=True,
        )
        settings = self._primary_settings()
        # Debian keeps the configuration outside the data folder: the copy has none.
        (self.data / "postgresql.conf").write_text(
            "".join(f"{name} = {value}\n" for name, value in settings.items())
            + "hot_standby = on\nlisten_addresses = '127.0.0.1'\nfsync = off\n"
        )
        (self.data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (self.data / "pg_ident.conf").write_text("")
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            os.chown(self.data / name, account.pw_uid, account.pw_gid)
        self.resume()
        return self

    def resume(self) -> None:
        """Start (again) the standby server on its port."""
        self.process = subprocess.Popen(
            [postgres_bin() / "postgres", "-D", str(self.data), "-p", str(self.port), "-k", str(self.directory)],
            preexec_fn=_as_postgres_dying_with_parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.query("SELECT pg_is_in_recovery()"):
                    return
            except psycopg2.OperationalError:
                time.sleep(0.2)
        raise RuntimeError("the replica did not start")

    def query(self, sql: str, database: str = "postgres"):
        conn = psycopg2.connect(self.url(database), connect_timeout=2)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                if not cur.description:
                    return None
                row = cur.fetchone()
                assert row is not None, sql  # the queries here are SELECTs of one row
                return row[0]
        finally:
            conn.close()

    def pause_replay(self) -> None:
        """The replica keeps receiving WAL but applies none: it lags."""
        self.query("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.query("SELECT pg_wal_replay_resume()")

    def halt(self) -> None:
        """Stop the server (fast shutdown); its data stays for `resume`."""
        if self.process is not None:
            stop_processes([self.process], 30, lambda _: signal.SIGINT)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)

    @staticmethod
    def _primary_settings() -> dict[str, str]:
        conn = psycopg2.connect(host=PRIMARY_HOST, port=PRIMARY_PORT, user=PRIMARY_USER, dbname="postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(MATCHED_SETTINGS),))
                return dict(cur.fetchall())
        finally:
            conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.replica", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=5433)
    args = parser.parse_args()
    replica = StreamingReplica(args.port).start()
    print(f"replica on 127.0.0.1:{args.port}: READ_REPLICA_URL={replica.url('<database>')}", flush=True)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        replica.stop()


if __name__ == "__main__":
    main()
