"""The anchors every figure is compared with, measured in the same run."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

from bench.load import wrk
from bench.services import PG_ADMIN_URL, database_url, free_port, fresh_database, spawn

HERE = Path(__file__).resolve().parent


def pgbench_tpcb(seconds: int = 10, clients: int = 8) -> float:
    """pgbench's built-in TPC-B transaction (one account-to-account transfer
    per transaction) on the same PostgreSQL server: transactions/s."""
    fresh_database("pgw_bench_pgbench")
    url = database_url("pgw_bench_pgbench")
    subprocess.run(["pgbench", "-i", "-q", "-s", "10", url], check=True, capture_output=True)
    output = subprocess.run(
        ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), url], check=True, capture_output=True, text=True
    ).stdout
    return float(re.search(r"tps = ([0-9.]+)", output).group(1))


def bare_tornado(seconds: int = 8) -> dict:
    """Requests/s of a Tornado handler returning a constant (GET and POST)."""
    port = free_port()
    process = spawn([str(HERE / "bare_tornado.py"), str(port)])
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/"
        return {
            "get": wrk(url, "get.lua", seconds, env={"BENCH_TOKEN": "x", "BENCH_PATH": "/"}),
            "post": wrk(url, "payments.lua", seconds, env={"BENCH_TOKEN": "x", "BENCH_ACCOUNTS": "10"}),
        }
    finally:
        process.terminate()
        process.wait()


__all__ = ["PG_ADMIN_URL", "bare_tornado", "pgbench_tpcb"]
