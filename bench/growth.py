"""The same speed at any size (SPEC section 15): each API path and dashboard
page timed on ledgers of 10 thousand, 1 million and (asked for) 10 million
payments, with the audits.

    python -m bench.growth [--sizes 10k,1m,10m] [--requests 21]

For each size: a database of its own (`pgw_growth_10k`, `pgw_growth_1m`,
...: `BENCH_GROWTH_DATABASE` and the size, dropped and created), the ledger
written in bulk SQL (`bench/growth_ledger.py`), `server.py audit --full`
(its time and peak resident memory; it becomes the checkpoint), and one web
process on it. Each path is then asked `--requests` times of every size in
turn, over one kept-alive connection each, so that a neighbour's load falls
on all sizes alike: the median time from sending to the last byte. Then
100,000 new payments are written into each ledger and `GET /api/v1/audit`
checks them (one request, timed). Writes the "growth" section of
bench/results.json and prints the table bench/README.md shows.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.growth_ledger import accounts_for, add_payments, build, vacuum
from bench.services import fresh_database, redis_url
from deploy.processes import ROOT, free_port, server_command, spawn, wait_ready

HERE = Path(__file__).resolve().parent
SIZES = {"10k": 10_000, "1m": 1_000_000, "10m": 10_000_000}
DEFAULT_SIZES = ("10k", "1m")
NEW_PAYMENTS = 100_000
PASSWORD = "growth bench password"


def paths(accounts: int) -> list[str]:
    """What is timed: every list and page whose work could grow with the
    ledger, with the filters an operator uses, and single objects beside
    them."""
    account = f"acct{accounts // 2:09d}"
    return [
        "GET /api/v1/accounts?limit=50",
        "GET /api/v1/accounts?active=true&limit=50",
        f"GET /api/v1/accounts/{account}",
        f"GET /api/v1/accounts/{account}/payments",
        "GET /api/v1/payments?limit=50",
        "GET /api/v1/payments?status=failed&limit=50",
        "GET /api/v1/payments?order=asc&limit=50",
        f"GET /api/v1/payments?account={account}&limit=50",
        "GET /api/v1/payments?account=@system&limit=50",
        f"GET /api/v1/balances/bal_{accounts // 2:09d}/entries",
        "GET /api/v1/events?order=desc&limit=50",
        "PAGE /",
        "PAGE /accounts",
        "PAGE /payments",
        "PAGE /payments?status=completed",
        f"PAGE /accounts/{account}",
        "PAGE /audit",
    ]


class Client:
    """Requests to one web process over one kept-alive connection, as an
    API token and as a logged-in operator."""

    def __init__(self, port: int, token: str, cookie: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.token, self.cookie = token, cookie

    def ms(self, what: str) -> float:
        kind, path = what.split(" ", 1)
        headers = {"Authorization": f"Bearer {self.token}"} if kind == "GET" else {"Cookie": self.cookie}
        started = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        reply = self.conn.getresponse()
        reply.read()
        elapsed = (time.perf_counter() - started) * 1000
        if reply.status != 200:
            raise RuntimeError(f"{what}: {reply.status}")
        return elapsed


def full_audit(env: dict) -> dict:
    """`server.py audit --full`: seconds, and the process's peak resident
    memory (from the kernel's account of the finished child)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "server.py", "audit", "--full"], cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    report = json.loads(process.stdout.read())
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if not report["ok"]:
        raise RuntimeError(f"the bulk ledger does not audit: {report['problems'][:3]}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_mb": round(usage.ru_maxrss / 1024, 1)}


def logged_in_cookie(port: int) -> str:
    from tools.dashboard import Session

    session = Session(f"http://127.0.0.1:{port}")
    assert session.login("growth@example.com", PASSWORD).status == 303
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


class Ledger:
    """One size's ledger: its own database, written and audited, and one
    web process on it."""

    def __init__(self, label: str) -> None:
        self.label, self.payments = label, SIZES[label]
        name = os.environ.get("BENCH_GROWTH_DATABASE", "pgw_growth") + f"_{label}"
        self.url = fresh_database(name)
        self.env = {**os.environ, "DATABASE_URL": self.url, "REDIS_URL": redis_url(), "LOG_LEVEL": "warning"}
        server_command(self.env, "migrate")
        self.built = build(self.url, self.payments)
        vacuum(self.url)
        print(f"{label}: built {self.built}", flush=True)
        self.audited = full_audit(self.env)
        print(f"{label}: audit --full {self.audited}", flush=True)
        self.token = server_command(self.env, "create-token", "--name", "growth", "--scope", "admin").splitlines()[-1]
        server_command(self.env, "create-admin", "--email", "growth@example.com", "--password", PASSWORD)
        self.web: subprocess.Popen | None = None

    def serve(self) -> Client:
        port = free_port()
        self.web = spawn(["serve", "--port", str(port)], self.env)
        wait_ready(f"http://127.0.0.1:{port}", timeout=120)
        return Client(port, self.token, logged_in_cookie(port))

    def stop(self) -> None:
        if self.web is not None:
            self.web.terminate()
            self.web.wait(30)

    def audit_new_payments(self, client: Client) -> float:
        """100,000 more payments, then one audit of them."""
        add_payments(self.url, NEW_PAYMENTS, accounts_for(self.payments), first=self.payments + 1)
        took = round(client.ms("GET /api/v1/audit"), 1)
        print(f"{self.label}: GET /api/v1/audit after {NEW_PAYMENTS:,} new payments {took} ms", flush=True)
        return took


def run(sizes: tuple[str, ...] = DEFAULT_SIZES, requests: int = 21) -> dict:
    """The "growth" section of bench/results.json, for these sizes. Every
    size is served at once and each path is asked of each in turn, so a
    neighbour's load falls on every size alike."""
    ledgers = [Ledger(label) for label in sizes]
    try:
        clients = [ledger.serve() for ledger in ledgers]
        by_path: dict[str, dict[str, float]] = {}
        for each in zip(*(paths(ledger.built["accounts"]) for ledger in ledgers), strict=True):
            times: list[list[float]] = [[] for _ in ledgers]
            for n in range(requests + 1):
                for at, (client, what) in enumerate(zip(clients, each, strict=True)):
                    took = client.ms(what)
                    if n:  # the first warms the process's caches, as in use
                        times[at].append(took)
            by_path[generic(each[0])] = {
                ledger.label: round(statistics.median(t), 1) for ledger, t in zip(ledgers, times, strict=True)
            }
            print(generic(each[0]), by_path[generic(each[0])], flush=True)
        incremental = {
            ledger.label: ledger.audit_new_payments(client) for ledger, client in zip(ledgers, clients, strict=True)
        }
    finally:
        for ledger in ledgers:
            ledger.stop()
    largest = sizes[-1]
    return {
        "paths": by_path,
        "audit_incremental_ms": incremental[largest],
        "audit_full_peak_mb": max(ledger.audited["peak_mb"] for ledger in ledgers),
        "audit": {
            ledger.label: {
                "incremental_ms_after_100k": incremental[ledger.label],
                "full_s": ledger.audited["seconds"],
                "full_peak_mb": ledger.audited["peak_mb"],
            }
            for ledger in ledgers
        },
        "ledgers": {
            ledger.label: {
                "payments": ledger.payments,
                "accounts": ledger.built["accounts"],
                "build_s": ledger.built["build_s"],
            }
            for ledger in ledgers
        },
        "method": "median of sequential requests over one kept-alive connection to one web process per ledger,"
        " the ledgers asked in turn; services mode",
    }


def generic(what: str) -> str:
    """A path with its ledger's own ids as placeholders, so sizes line up."""
    return re.sub(r"bal_\d{9}", "{balance}", re.sub(r"acct\d{9}", "{account}", what))


def table(growth: dict) -> str:
    sizes = list(next(iter(growth["paths"].values())))
    lines = ["| path | " + " | ".join(sizes) + " |", "| --- |" + " --- |" * len(sizes)]
    for what, by_size in growth["paths"].items():
        lines.append(f"| `{what}` | " + " | ".join(f"{by_size[s]} ms" for s in sizes) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES), help="of 10k, 1m, 10m (default 10k,1m)")
    parser.add_argument("--requests", type=int, default=21)
    args = parser.parse_args()
    sizes = tuple(args.sizes.split(","))
    growth = run(sizes, args.requests)
    results_file = HERE / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["growth"] = growth
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    print(table(growth))
    print(json.dumps({k: v for k, v in growth.items() if k != "paths"}, indent=2))


if __name__ == "__main__":
    main()
