"""PostgreSQL and Redis that survive losing a machine, on this one machine,
on loopback only (SPEC section 16): for `python -m deploy.local up --ha`,
the failover tests and trying a failover by hand.

- etcd, the store Patroni keeps the cluster's state and leader lock in;
- three PostgreSQL 15 nodes run by Patroni, as the `postgres` user, each in
  a folder and on a port of its own, in synchronous mode: a commit returns
  only once a second node has it, so a payment answered 2xx survives losing
  the leader;
- a Redis master, a replica and three Sentinels that promote the replica
  when the master is gone.

The service is given `environment()`: a libpq multi-host DATABASE_URL with
`target_session_attrs=read-write` (libpq finds the leader), a
READ_REPLICA_URL with `prefer-standby`, and REDIS_SENTINELS with
REDIS_SENTINEL_MASTER. Debian's packages: `patroni`, `etcd-server`,
`postgresql-15`, `redis-sentinel`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg2
import redis

from deploy.processes import die_with_parent, stop_processes

# Ports: PostgreSQL nodes 5441-5443 and their Patroni REST APIs 5444-5446;
# etcd 2379 (clients) and 2380 (peers); Redis 6390 (master) and 6391
# (replica); Sentinels 26390-26392.
PG_PORTS = (5441, 5442, 5443)
PATRONI_PORTS = (5444, 5445, 5446)
ETCD_PORTS = (2379, 2380)
REDIS_PORTS = (6390, 6391)
SENTINEL_PORTS = (26390, 26391, 26392)
SCOPE = "gateway"
MASTER_NAME = "gateway"
DATABASE = "gateway"
DB_USER = "gateway"
BIN_DIR = Path("/usr/lib/postgresql/15/bin")

# Patroni's clock: a leader that stops renewing its lock loses it after TTL
# seconds; every LOOP_WAIT seconds each node looks; retry_timeout bounds a
# stalled call to etcd or PostgreSQL (loop_wait + 2 * retry_timeout <= ttl).
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 2, 3
# A Sentinel calls a master gone after this long without an answer.
SENTINEL_DOWN_AFTER_MS = 1000
RUNNING = ("running", "streaming")


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(interval)
    raise RuntimeError(f"{what} within {timeout:.0f} s")


def as_postgres() -> None:
    """preexec_fn: become the `postgres` user (PostgreSQL refuses root),
    then die with the parent (a change of user clears that, so it comes after)."""
    if os.geteuid() == 0:
        record = pwd.getpwnam("postgres")
        os.setgid(record.pw_gid)
        os.setuid(record.pw_uid)
    die_with_parent(signal.SIGTERM)


def http_json(url: str, timeout: float = 1.0) -> dict:
    """The JSON a REST endpoint answers with, whatever its status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return json.load(reply)
    except urllib.error.HTTPError as refused:
        return json.load(refused)


class PatroniNode:
    def __init__(self, folder: Path, index: int, passwords: dict[str, str]) -> None:
        self.name = f"node{index + 1}"
        self.pg_port, self.api_port = PG_PORTS[index], PATRONI_PORTS[index]
        self.folder = folder / self.name
        self.data = self.folder / "data"
        self.config = self.folder / "patroni.yml"
        self.passwords = passwords
        self.process: subprocess.Popen | None = None

    def write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: written without a YAML library.
        settings = {
            "scope": SCOPE,
            "name": self.name,
            "log": {"level": "WARNING", "dir": str(self.folder)},
            "restapi": {"listen": f"127.0.0.1:{self.api_port}", "connect_address": f"127.0.0.1:{self.api_port}"},
            "etcd3": {"hosts": f"127.0.0.1:{ETCD_PORTS[0]}"},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL,
                    "loop_wait": LOOP_WAIT,
                    "retry_timeout": RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {
                            "max_connections": 200,
                            "wal_log_hints": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "hot_standby": "on",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
                "pg_hba": [
                    "local all all trust",
                    "host replication replicator 127.0.0.1/32 trust",
                    "host all all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{self.pg_port}",
                "connect_address": f"127.0.0.1:{self.pg_port}",
                "data_dir": str(self.data),
                "bin_dir": str(BIN_DIR),
                "pgpass": str(self.folder / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": self.passwords["superuser"]},
                    "replication": {"username": "replicator", "password": self.passwords["replication"]},
                    "rewind": {"username": "postgres", "password": self.passwords["superuser"]},
                },
                "parameters": {"unix_socket_directories": str(self.folder)},
                # A new replica's base backup asks for an immediate checkpoint,
                # not a spread one that could take minutes.
                "basebackup": [{"checkpoint": "fast"}],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }
        self.config.write_text(json.dumps(settings, indent=2))

    def start(self) -> None:
        with open(self.folder / "patroni.out", "ab") as out:
            self.process = subprocess.Popen(
                ["patroni", str(self.config)], stdout=out, stderr=subprocess.STDOUT, preexec_fn=as_postgres
            )

    def status(self) -> dict:
        """Patroni's view of this node (`role`: primary or replica, `state`, ...)."""
        return http_json(f"http://127.0.0.1:{self.api_port}/patroni")

    def is_leader(self) -> bool:
        try:
            return self.status().get("role") in ("primary", "master")
        except OSError:
            return False

    def postmaster_pid(self) -> int | None:
        """The pid of this node's running postmaster, if one runs (a stale
        postmaster.pid naming another process does not count)."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if command and command[0].endswith(b"postgres") and str(self.data).encode() in command:
                return pid
        return None

    def kill(self) -> None:
        """Lose the node as a machine is lost: Patroni and its PostgreSQL
        killed with SIGKILL (its backends go with the postmaster)."""
        postmaster = self.postmaster_pid()
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if postmaster and postmaster == self.postmaster_pid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)
        wait_for(lambda: not self.accepts_connections(), 10, f"{self.name}'s PostgreSQL still answers")

    def accepts_connections(self) -> bool:
        try:
            psycopg2.connect(
                host="127.0.0.1", port=self.pg_port, user="postgres", dbname="postgres", connect_timeout=1
            ).close()
        except psycopg2.Error:
            return False
        return True

    def stop(self) -> None:
        """Patroni stops its PostgreSQL (fast shutdown) when it is told to stop."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
        postmaster = self.postmaster_pid()
        if postmaster:
            with contextlib.suppress(ProcessLookupError):
                os.kill(postmaster, signal.SIGKILL)


class HaServices:
    """etcd, three Patroni nodes, and Redis with Sentinels, in `folder`
    (a temporary one unless given); `stop` ends them all."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or Path(tempfile.mkdtemp(prefix="gateway-ha-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        passwords = {"superuser": secrets.token_urlsafe(24), "replication": secrets.token_urlsafe(24)}
        self.nodes = [PatroniNode(self.folder / "patroni", i, passwords) for i in range(3)]
        self.processes: list[subprocess.Popen] = []
        self.redis: dict[int, subprocess.Popen] = {}

    # -- addresses -------------------------------------------------------------

    def hosts(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in PG_PORTS)

    @property
    def database_url(self) -> str:
        return f"postgresql://{DB_USER}@{self.hosts()}/{DATABASE}?target_session_attrs=read-write&connect_timeout=2"

    @property
    def read_replica_url(self) -> str:
        return f"postgresql://{DB_USER}@{self.hosts()}/{DATABASE}?target_session_attrs=prefer-standby&connect_timeout=2"

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in SENTINEL_PORTS)

    def environment(self) -> dict[str, str]:
        """What the service is run with to use these services."""
        return {
            "DATABASE_URL": self.database_url,
            "READ_REPLICA_URL": self.read_replica_url,
            "REDIS_SENTINELS": self.sentinels,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
        }

    def patronictl(self, *args: str) -> str:
        """`patronictl` on the cluster, as the postgres user; its output."""
        return subprocess.run(
            ["patronictl", "-c", str(self.nodes[0].config), *args],
            preexec_fn=as_postgres,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout

    # -- starting and stopping ----------------------------------------------------

    def start(self) -> HaServices:
        self._start_etcd()
        self._start_patroni()
        self._start_redis()
        return self

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen:
        with open(self.folder / log, "ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent, cwd=self.folder
            )
        self.processes.append(process)
        return process

    def _start_etcd(self) -> None:
        client, peer = (f"http://127.0.0.1:{port}" for port in ETCD_PORTS)
        self._spawn(
            [
                "etcd",
                *("--data-dir", str(self.folder / "etcd"), "--name", "default"),
                *("--listen-client-urls", client, "--advertise-client-urls", client),
                *("--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer),
                *("--initial-cluster", f"default={peer}"),
            ],
            "etcd.log",
        )
        wait_for(lambda: http_json(f"{client}/health").get("health") == "true", 30, "etcd did not answer")

    def _start_patroni(self) -> None:
        patroni = self.folder / "patroni"
        patroni.mkdir(exist_ok=True)
        for node in self.nodes:
            node.write_config()
        if os.geteuid() == 0:
            record = pwd.getpwnam("postgres")
            for path in [self.folder, patroni, *patroni.rglob("*")]:
                os.chown(path, record.pw_uid, record.pw_gid)
        # The first node bootstraps the cluster; the others join it as replicas.
        self.nodes[0].start()
        wait_for(self.nodes[0].is_leader, 60, "Patroni's first node did not become the leader")
        for node in self.nodes[1:]:
            node.start()
        conn = psycopg2.connect(host="127.0.0.1", port=PG_PORTS[0], user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (DB_USER,))
            if not cur.fetchone():
                cur.execute(f"CREATE ROLE {DB_USER} LOGIN")
                cur.execute(f"CREATE DATABASE {DATABASE} OWNER {DB_USER}")
        conn.close()
        wait_for(self.has_sync_standby, 90, "Patroni's cluster has no synchronous standby")
        wait_for(lambda: len(self.streaming()) == 2, 90, "Patroni's replicas are not streaming")

    def members(self) -> list[dict]:
        """The cluster's members as Patroni lists them (name, role, state, lag)."""
        for node in self.nodes:
            with contextlib.suppress(OSError):
                return http_json(f"http://127.0.0.1:{node.api_port}/cluster").get("members", [])
        return []

    def has_sync_standby(self) -> bool:
        return any(m.get("role") == "sync_standby" and m.get("state") in RUNNING for m in self.members())

    def streaming(self) -> list[str]:
        """The replicas that follow the leader (Patroni 3.0 says `running`, later ones `streaming`)."""
        return [m["name"] for m in self.members() if m.get("role") != "leader" and m.get("state") in RUNNING]

    def leader(self) -> PatroniNode | None:
        names = [m["name"] for m in self.members() if m.get("role") == "leader"]
        return next((node for node in self.nodes if node.name in names), None)

    def _start_redis(self) -> None:
        master, replica = REDIS_PORTS
        for port in REDIS_PORTS:
            command = [
                "redis-server",
                *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(self.folder)),
                *("--save", "", "--appendonly", "no", "--dbfilename", f"redis-{port}.rdb"),
            ]
            if port == replica:
                command += ["--replicaof", "127.0.0.1", str(master)]
            self.redis[port] = self._spawn(command, f"redis-{port}.log")
        for port in SENTINEL_PORTS:
            config = self.folder / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {SENTINEL_DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} 10000\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._spawn(["redis-sentinel", str(config)], f"sentinel-{port}.log")

        def ready() -> bool:
            info = redis.Redis(port=master, socket_timeout=1).info("replication")
            known: list[Any] = [
                redis.Redis(port=port, socket_timeout=1).sentinel_master(MASTER_NAME) for port in SENTINEL_PORTS
            ]
            return info.get("connected_slaves") == 1 and all(int(m["num-other-sentinels"]) == 2 for m in known)

        wait_for(ready, 30, "Redis and its Sentinels did not come up")

    def redis_master_port(self) -> int:
        """The port of the Redis the Sentinels call master now."""
        for port in SENTINEL_PORTS:
            with contextlib.suppress(redis.RedisError):
                address: Any = redis.Redis(port=port, socket_timeout=1).sentinel_get_master_addr_by_name(MASTER_NAME)
                return int(address[1])
        raise RuntimeError("no Sentinel answers")

    def kill_redis_master(self) -> int:
        """SIGKILL the Redis the Sentinels call master; its port."""
        port = self.redis_master_port()
        self.redis[port].kill()
        self.redis[port].wait(10)
        return port

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        stop_processes(list(reversed(self.processes)), 20)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> HaServices:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
