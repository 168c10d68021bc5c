"""A soak test: mixed traffic for a set time, then what changed.

    python -m bench.soak --seconds 600                 # PostgreSQL + Redis (bench.services)
    python -m bench.soak --seconds 120 --embedded      # one embedded server, its own data folder

Client threads send a steady mix — transfers (some refused for want of
funds), deposits, reads of payments and accounts, lists — while feed clients
follow `/api/v1/stream`. Each window (a tenth of the run, at least 5 s)
records requests, errors (anything but the expected answers), latency p50
and p99, and the resident memory of every server process. At the end it
prints the windows and a summary — errors, latency drift (last window's p99
over the first's), memory growth per process — and whether the ledger still
balances and every payment settled; `--json PATH` writes it all. Exits 1 if
there were errors, payments left pending or a failed audit.

Traffic goes to loopback only, and the run stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.services import Services
from deploy.processes import answers_ready, free_port, server_command, spawn
from tools.feed import FeedClient

MAX_SECONDS = 4 * 3600
EXPECTED = {"transfer": {202}, "deposit": {202}, "payment": {200}, "account": {200}, "list": {200}}


class Client:
    """One keep-alive connection per thread."""

    def __init__(self, base_url: str, token: str) -> None:
        parsed = urlparse(base_url)
        assert parsed.hostname is not None, f"no host in {base_url!r}"
        self.host, self.port, self.token = parsed.hostname, parsed.port, token
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """(status, the answer's parsed JSON or None when it has no body)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        payload = None if body is None else json.dumps(body).encode()
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                reply = self.conn.getresponse()
                data = reply.read()
                return reply.status, json.loads(data) if data else None
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


@dataclass
class Window:
    started: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    memory_kb: dict[str, int] = field(default_factory=dict)

    def summary(self, t0: float) -> dict:
        ordered = sorted(self.latencies)
        return {
            "at_s": round(self.started - t0, 1),
            "requests": len(ordered),
            "errors": sum(self.errors.values()),
            "p50_ms": round(1000 * ordered[len(ordered) // 2], 2) if ordered else None,
            "p99_ms": round(1000 * ordered[int(len(ordered) * 0.99)], 2) if ordered else None,
            "memory_mb": {name: round(kb / 1024, 1) for name, kb in self.memory_kb.items()},
        }


def resident_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Soak:
    def __init__(self, base_url: str, token: str, processes: dict[str, int], seconds: float, threads: int) -> None:
        self.base_url, self.token, self.processes = base_url, token, processes
        self.seconds, self.threads = seconds, threads
        self.window_seconds = max(5.0, seconds / 10)
        self.windows: list[Window] = []
        self.lock = threading.Lock()
        self.payment_ids: list[str] = []
        self.accounts: list[str] = []

    def record(self, latency: float, error: str | None) -> None:
        with self.lock:
            window = self.windows[-1]
            window.latencies.append(latency)
            if error:
                window.errors[error] = window.errors.get(error, 0) + 1

    def prepare(self, count: int = 20) -> None:
        client = Client(self.base_url, self.token)
        for n in range(count):
            status, body = client.call("POST", "/api/v1/accounts", {"owner": f"Soak {n}", "currencies": ["PHP"]})
            assert status == 201, body
            self.accounts.append(body["id"])
            deposit = {"account": body["id"], "currency": "PHP", "amount": "1000.00"}
            status, body = client.call("POST", "/api/v1/deposits", deposit)
            assert status == 202, body
            self.payment_ids.append(body["id"])

    def one_request(self, client: Client, rng: random.Random) -> None:
        roll = rng.random()
        request: tuple[str, str, dict | None]
        if roll < 0.55:
            kind, sender, receiver = "transfer", *rng.sample(self.accounts, 2)
            amount = f"{rng.randint(1, 5000) / 100:.2f}"
            request = ("POST", "/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": amount})
        elif roll < 0.60:
            body = {"account": rng.choice(self.accounts), "currency": "PHP", "amount": "100.00"}
            kind, request = "deposit", ("POST", "/api/v1/deposits", body)
        elif roll < 0.80 and self.payment_ids:
            kind, request = "payment", ("GET", f"/api/v1/payments/{rng.choice(self.payment_ids[-500:])}", None)
        elif roll < 0.92:
            kind, request = "account", ("GET", f"/api/v1/accounts/{rng.choice(self.accounts)}", None)
        else:
            kind, request = "list", ("GET", "/api/v1/payments?limit=50", None)
        started = time.monotonic()
        try:
            status, body = client.call(*request)
        except (OSError, http.client.HTTPException) as problem:
            self.record(time.monotonic() - started, f"{kind}: {type(problem).__name__}")
            return
        error = None if status in EXPECTED[kind] else f"{kind}: {status}"
        self.record(time.monotonic() - started, error)
        if status == 202 and body:
            with self.lock:
                self.payment_ids.append(body["id"])

    def run(self) -> dict:
        self.prepare()
        feeds = [FeedClient(self.base_url, self.token, after=0).start() for _ in range(3)]
        t0 = time.monotonic()
        deadline = t0 + self.seconds
        self.windows.append(Window(t0))

        def worker(seed: int) -> None:
            client, rng = Client(self.base_url, self.token), random.Random(seed)
            while time.monotonic() < deadline:
                self.one_request(client, rng)

        threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(self.threads)]
        for thread in threads:
            thread.start()
        while time.monotonic() < deadline:
            time.sleep(min(self.window_seconds, max(0.0, deadline - time.monotonic())))
            with self.lock:
                self.windows[-1].memory_kb = {name: resident_kb(pid) for name, pid in self.processes.items()}
                if time.monotonic() < deadline:
                    self.windows.append(Window(time.monotonic()))
        for thread in threads:
            thread.join(60)
        settled = self.wait_settled()
        for feed in feeds:
            feed.stop()
        return self.report(t0, settled, feeds)

    def wait_settled(self, timeout: float = 120) -> bool:
        client = Client(self.base_url, self.token)
        end = time.monotonic() + timeout
        pending = list(self.payment_ids)
        while pending and time.monotonic() < end:
            pending = [p for p in pending if client.call("GET", f"/api/v1/payments/{p}")[1]["status"] == "pending"]
            if pending:
                time.sleep(0.5)
        return not pending

    def report(self, t0: float, settled: bool, feeds: list[FeedClient]) -> dict:
        client = Client(self.base_url, self.token)
        audit = client.call("GET", "/api/v1/audit")[1]
        windows = [w.summary(t0) for w in self.windows if w.latencies]
        first, last = windows[0], windows[-1]
        errors: dict[str, int] = {}
        for window in self.windows:
            for name, count in window.errors.items():
                errors[name] = errors.get(name, 0) + count
        latencies = [latency for window in self.windows for latency in window.latencies]
        return {
            "seconds": self.seconds,
            "requests": len(latencies),
            "per_s": round(len(latencies) / self.seconds, 1),
            "errors": errors,
            "p50_ms": round(1000 * statistics.median(latencies), 2),
            "p99_drift": round(last["p99_ms"] / first["p99_ms"], 2) if first["p99_ms"] else None,
            "memory_growth_mb": {
                name: round(last["memory_mb"][name] - first["memory_mb"][name], 1) for name in first["memory_mb"]
            },
            "payments": len(self.payment_ids),
            "all_settled": settled,
            "audit_ok": audit["ok"],
            "feed_problems": sum(len(feed.problems) for feed in feeds),
            "windows": windows,
        }


def embedded_server() -> tuple[subprocess.Popen, str, str]:
    env = dict(os.environ, DATA_DIR=tempfile.mkdtemp(prefix="gateway-soak-"), LOG_LEVEL="warning")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)

    server_command(env, "migrate")
    token = server_command(env, "create-token", "--name", "soak", "--scope", "admin").splitlines()[-1]
    port = free_port()
    process = spawn(["serve", "--port", str(port)], env)
    base_url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        if answers_ready(base_url):
            break
        time.sleep(0.2)
    return process, base_url, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--embedded", action="store_true", help="one embedded server instead of PostgreSQL + Redis")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()
    seconds = min(args.seconds, MAX_SECONDS)
    if args.embedded:
        process, base_url, token = embedded_server()
        try:
            report = Soak(base_url, token, {"web": process.pid}, seconds, args.threads).run()
        finally:
            process.terminate()
            process.wait(30)
    else:
        with Services(web=1, workers=2) as services:
            processes = {f"web{n}": pid for n, pid in enumerate(services.web_pids)}
            processes.update({f"worker{n}": pid for n, pid in enumerate(services.worker_pids)})
            report = Soak(services.urls[0], services.admin_token, processes, seconds, args.threads).run()
    for window in report["windows"]:
        print(
            f"{window['at_s']:>7.1f}s  {window['requests']:>6} req  {window['errors']:>4} err  "
            f"p50 {window['p50_ms']:>7} ms  p99 {window['p99_ms']:>7} ms  memory {window['memory_mb']}"
        )
    summary = {k: v for k, v in report.items() if k != "windows"}
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    healthy = not report["errors"] and report["all_settled"] and report["audit_ok"] and not report["feed_problems"]
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()
