"""The same speed at any size (SPEC section 15): each API path and dashboard
page timed on ledgers of 10 thousand, 1 million and (asked for) 10 million
payments, with the audits.

    python -m bench.growth [--sizes 10k,1m,10m] [--requests 21]

For each size: a fresh database (`BENCH_GROWTH_DATABASE`, default
`pgw_growth`, dropped and created), the ledger written in bulk SQL
(`bench/growth_ledger.py`), `server.py audit --full` (its time and peak
resident memory; it becomes the checkpoint), one web process on it, and
each path asked `--requests` times one after another over a kept-alive
connection: the median time from sending to the last byte. Then 100,000
new payments are written and `GET /api/v1/audit` checks them (one request,
timed). Writes the "growth" section of bench/results.json and prints the
table bench/README.md shows.
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


def measure_size(label: str, requests: int) -> dict:
    """Build the ledger of this size and time everything on it."""
    payments = SIZES[label]
    url = fresh_database(os.environ.get("BENCH_GROWTH_DATABASE", "pgw_growth"))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url(), "LOG_LEVEL": "warning"}
    server_command(env, "migrate")
    built = build(url, payments)
    vacuum(url)
    print(f"{label}: built {built}", flush=True)
    audited = full_audit(env)
    print(f"{label}: audit --full {audited}", flush=True)
    token = server_command(env, "create-token", "--name", "growth", "--scope", "admin").splitlines()[-1]
    server_command(env, "create-admin", "--email", "growth@example.com", "--password", PASSWORD)
    port = free_port()
    web = spawn(["serve", "--port", str(port)], env)
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout=120)
        client = Client(port, token, logged_in_cookie(port))
        timed = {}
        for what in paths(built["accounts"]):
            client.ms(what)  # the process's caches warmed, as in use
            timed[what] = round(statistics.median(client.ms(what) for _ in range(requests)), 1)
            print(f"{label}: {what} {timed[what]} ms", flush=True)
        add_payments(url, NEW_PAYMENTS, accounts_for(payments), first=payments + 1)
        incremental = round(client.ms("GET /api/v1/audit"), 1)
        print(f"{label}: GET /api/v1/audit after {NEW_PAYMENTS:,} new payments {incremental} ms", flush=True)
    finally:
        web.terminate()
        web.wait(30)
    return {"paths": timed, "audit_incremental_ms": incremental, "audit_full": audited, "build_s": built["build_s"]}


def run(sizes: tuple[str, ...] = DEFAULT_SIZES, requests: int = 21) -> dict:
    """The "growth" section of bench/results.json, for these sizes."""
    measured = {label: measure_size(label, requests) for label in sizes}
    largest = sizes[-1]
    by_path: dict[str, dict[str, float]] = {}
    for label in sizes:
        for what, ms in measured[label]["paths"].items():
            by_path.setdefault(generic(what), {})[label] = ms
    return {
        "paths": by_path,
        "audit_incremental_ms": measured[largest]["audit_incremental_ms"],
        "audit_full_peak_mb": max(measured[label]["audit_full"]["peak_mb"] for label in sizes),
        "audit": {
            label: {
                "incremental_ms_after_100k": measured[label]["audit_incremental_ms"],
                "full_s": measured[label]["audit_full"]["seconds"],
                "full_peak_mb": measured[label]["audit_full"]["peak_mb"],
            }
            for label in sizes
        },
        "ledgers": {
            label: {
                "payments": SIZES[label],
                "accounts": accounts_for(SIZES[label]),
                "build_s": measured[label]["build_s"],
            }
            for label in sizes
        },
        "method": "median of sequential requests over one kept-alive connection, one web process, services mode",
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
