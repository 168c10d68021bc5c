"""The product as a benchmark sees it: real processes on loopback.

`Services` starts web and worker processes on PostgreSQL + Redis (a
database of the benchmark's own, emptied first), waits until they answer,
and stops them after. Load always comes from the benchmark's process, never
from inside the server.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from typing import cast

import psycopg2

from deploy.processes import free_port, server_command, spawn, stop_processes, wait_ready


def pg_admin_url() -> str:
    """A PostgreSQL URL to create and drop the benchmark's databases with
    ($BENCH_PG_ADMIN_URL, else the machine's server as root)."""
    return os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")


def redis_url() -> str:
    """The Redis database the benchmark empties and uses ($BENCH_REDIS_URL)."""
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def database_name() -> str:
    """The benchmark's own PostgreSQL database ($BENCH_DATABASE)."""
    return os.environ.get("BENCH_DATABASE", "pgw_bench")


def database_url(name: str | None = None) -> str:
    return pg_admin_url().rsplit("/", 1)[0] + "/" + (name or database_name())


def fresh_database(name: str | None = None) -> str:
    """Drop and create the benchmark database; returns its URL."""
    name = name or database_name()
    conn = psycopg2.connect(pg_admin_url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return database_url(name)


def _arguments(process: subprocess.Popen) -> list[str]:
    """The command line `spawn` started `process` with: always a list of str
    (Popen.args is typed for any command it accepts, a string among them)."""
    return cast("list[str]", process.args)


class Services:
    def __init__(self, web: int = 1, workers: int = 2, worker_threads: int = 4, env: dict | None = None) -> None:
        self.web_count, self.worker_count, self.worker_threads = web, workers, worker_threads
        self.extra_env = env or {}
        self.processes: list[subprocess.Popen] = []
        self.urls: list[str] = []

    def __enter__(self) -> Services:
        import redis

        url, queue = fresh_database(), redis_url()
        redis.Redis.from_url(queue).flushdb()
        self.env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": queue, "LOG_LEVEL": "warning", **self.extra_env}
        self.command("migrate")
        self.admin_token = self.command("create-token", "--name", "bench", "--scope", "admin").splitlines()[-1]
        for _ in range(self.worker_count):
            self.spawn("worker", "--workers", str(self.worker_threads))
        for _ in range(self.web_count):
            port = free_port()
            self.spawn("serve", "--port", str(port))
            self.urls.append(f"http://127.0.0.1:{port}")
        for base in self.urls:
            wait_ready(base)
        return self

    def __exit__(self, *exc) -> None:
        stop_processes(self.processes, 30)

    def command(self, *args: str) -> str:
        return server_command(self.env, *args)

    def spawn(self, *args: str) -> subprocess.Popen:
        process = spawn(list(args), self.env)
        self.processes.append(process)
        return process

    @property
    def web_pids(self) -> list[int]:
        return [p.pid for p in self.processes if "serve" in _arguments(p)]

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.processes if "worker" in _arguments(p)]

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
