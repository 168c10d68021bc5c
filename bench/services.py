"""The product as a benchmark sees it: real processes on loopback.

`Services` starts web and worker processes on PostgreSQL + Redis (a
database of the benchmark's own, emptied first), waits until they answer,
and stops them after. Load always comes from the benchmark's process, never
from inside the server.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
DATABASE = os.environ.get("BENCH_DATABASE", "pgw_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: a server started for a test or a benchmark
    # ends with the process that started it, even one killed with SIGKILL.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def spawn(args: list[str], env: dict | None = None, **kwargs) -> subprocess.Popen:
    """Start a child process (`server.py ...` when args start with a
    command name) that cannot outlive this one."""
    command = [sys.executable, "server.py", *args] if not args[0].endswith(".py") else [sys.executable, *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, preexec_fn=_die_with_parent, **kwargs)


def server_command(env: dict | None, *args: str) -> str:
    """Run `server.py <args>` (migrate, create-token, ...) to completion with
    `env`; returns what it printed."""
    return subprocess.run(
        [sys.executable, "server.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def answers_ready(base: str) -> bool:
    """Whether the server at `base` answers /readyz with 200 now."""
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def database_url(name: str = DATABASE) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def fresh_database(name: str = DATABASE) -> str:
    """Drop and create the benchmark database; returns its URL."""
    conn = psycopg2.connect(PG_ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return database_url(name)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Services:
    def __init__(self, web: int = 1, workers: int = 2, worker_threads: int = 4, env: dict | None = None) -> None:
        self.web_count, self.worker_count, self.worker_threads = web, workers, worker_threads
        self.extra_env = env or {}
        self.processes: list[subprocess.Popen] = []
        self.urls: list[str] = []

    def __enter__(self) -> Services:
        import redis

        url = fresh_database()
        redis.Redis.from_url(REDIS_URL).flushdb()
        self.env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "LOG_LEVEL": "warning", **self.extra_env}
        self.command("migrate")
        self.admin_token = self.command("create-token", "--name", "bench", "--scope", "admin").splitlines()[-1]
        for _ in range(self.worker_count):
            self.spawn("worker", "--workers", str(self.worker_threads))
        for _ in range(self.web_count):
            port = free_port()
            self.spawn("serve", "--port", str(port))
            self.urls.append(f"http://127.0.0.1:{port}")
        for base in self.urls:
            self._wait_ready(base)
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()

    def command(self, *args: str) -> str:
        return server_command(self.env, *args)

    def spawn(self, *args: str) -> subprocess.Popen:
        process = spawn(list(args), self.env)
        self.processes.append(process)
        return process

    @property
    def web_pids(self) -> list[int]:
        return [p.pid for p in self.processes if "serve" in p.args]

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.processes if "worker" in p.args]

    def _wait_ready(self, base: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if answers_ready(base):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{base} did not become ready")

    def api(self, method: str, path: str, body: dict | None = None, base: str | None = None, wait: int = 0) -> dict:
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"}
        if wait:
            headers["Prefer"] = f"wait={wait}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request((base or self.urls[0]) + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.load(reply)

    def fund_accounts(self, count: int, currency: str = "PHP", amount: str = "1000000.00") -> list[str]:
        ids = []
        for n in range(count):
            account = self.api(
                "POST", "/api/v1/accounts", {"id": f"bench{n:06d}", "owner": f"Bench {n}", "currencies": [currency]}
            )
            self.api(
                "POST", "/api/v1/deposits", {"account": account["id"], "currency": currency, "amount": amount}, wait=30
            )
            ids.append(account["id"])
        return ids
