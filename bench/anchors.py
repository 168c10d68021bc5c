"""The anchors every figure is compared with, measured in the same run."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

from bench.load import wrk
from bench.services import database_url, fresh_database
from deploy.processes import free_port, spawn

HERE = Path(__file__).resolve().parent


def pgbench_tpcb(seconds: int = 10, clients: int = 8, fresh: bool = True) -> float:
    """pgbench's built-in TPC-B transaction (one account-to-account transfer
    per transaction) on the same PostgreSQL server: transactions/s. With
    `fresh`, on tables made anew, else on the last run's."""
    url = database_url("pgw_bench_pgbench")
    if fresh:
        fresh_database("pgw_bench_pgbench")
        subprocess.run(["pgbench", "-i", "-q", "-s", "10", url], check=True, capture_output=True)
    output = subprocess.run(
        ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), url], check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r"tps = ([0-9.]+)", output)
    assert found is not None, output
    return float(found.group(1))


class BareTornado:
    """A Tornado handler returning a constant (GET and POST), one process,
    kept running through the benchmark so that each figure's anchor is
    measured right beside it: the machine's speed drifts by the minute.
    Given `floor_database` (a PostgreSQL URL), the same process also answers
    the floor of a read (`get_row`: one primary-key read on a thread,
    `bench/bare_tornado.py`)."""

    def __init__(self, floor_database: str | None = None) -> None:
        self.floor_database = floor_database

    def __enter__(self) -> BareTornado:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self.process = spawn([str(HERE / "bare_tornado.py"), str(port), *filter(None, [self.floor_database])])
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url, timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait()

    def get(self, seconds: int = 8) -> dict:
        return wrk(self.url, "get.lua", seconds, env={"BENCH_TOKEN": "x", "BENCH_PATH": "/"})

    def post(self, seconds: int = 8) -> dict:
        return wrk(self.url, "payments.lua", seconds, env={"BENCH_TOKEN": "x", "BENCH_ACCOUNTS": "10"})

    def get_row(self, account_id: str, seconds: int = 8) -> dict:
        path = f"/row/{account_id}"
        return wrk(self.url + path[1:], "get.lua", seconds, env={"BENCH_TOKEN": "x", "BENCH_PATH": path})
