"""A CSV export of 200,000 rows streams in bounded memory: the web process
grows by less than 20 MB while it sends them, and the file opens with
Python's csv module and sums to the statement's totals.

It runs on an embedded deployment of its own (a server process on its own
data folder), whose memory is the process's alone, and whose 600,000 rows
do not slow the other tests that audit the whole ledger."""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest

from deploy.processes import ROOT, answers_ready, free_port, server_command, spawn
from tests.support.client import Api
from tests.support.faults import stop_process
from tests.support.ledger import open_account
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.bulky]

ROWS = 200_000
MEMORY_LIMIT_MB = 20


def resident_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


class PeakMemory:
    """The most process `pid` held while the block ran, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = resident_mb(self.pid)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, resident_mb(self.pid))

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.start


def streamed_rows(api, path: str, params: dict) -> tuple[list[str], int, dict[str, Decimal]]:
    """Read a CSV answer line by line, keeping only its header, its row
    count and the sums of its amounts by direction (or by kind)."""
    conn = http.client.HTTPConnection(api.host, api.port, timeout=600)
    conn.request("GET", f"{path}?{urlencode(params)}", headers={"Authorization": f"Bearer {api.token}"})
    response = conn.getresponse()
    assert response.status == 200, response.read()[:300]
    reader = csv.reader(io.TextIOWrapper(response, encoding="utf-8", newline=""))
    header = next(reader)
    count, sums = 0, {"incoming": Decimal(0), "outgoing": Decimal(0)}
    amount, direction = header.index("amount"), header.index("direction") if "direction" in header else None
    for row in reader:
        count += 1
        if direction is not None:
            sums[row[direction]] += Decimal(row[amount])
    conn.close()
    return header, count, sums


@pytest.fixture
def deployment():
    """An embedded server of its own: (its process, an admin API, its database file)."""
    env = dict(os.environ, DATA_DIR=tempfile.mkdtemp(prefix="gateway-export-"), LOG_LEVEL="error")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    server_command(env, "migrate")
    token = server_command(env, "create-token", "--name", "export", "--scope", "admin").splitlines()[-1]
    port = free_port()
    process = spawn(["serve", "--port", str(port)], env)
    api = Api(f"http://127.0.0.1:{port}", token)
    assert wait_until(lambda: answers_ready(api.base_url), timeout=30), "the server did not start"
    yield process, api, Path(env["DATA_DIR"]) / "gateway.db"
    stop_process(process)


def test_exporting_200000_rows_streams_in_bounded_memory_and_sums_to_the_statement(deployment):
    process, api, database = deployment
    first = open_account(api, api, {"PHP": "1.00"})
    second = open_account(api, api, currencies=["PHP"])
    balances = {
        account: next(b for b in api.get(f"/api/v1/accounts/{account}").body["balances"] if b["currency"] == "PHP")
        for account in (first, second)
    }
    start = datetime.now(UTC).replace(tzinfo=None)
    fill = [sys.executable, "-m", "tests.support.bulk", str(database), json.dumps(balances[first])]
    fill += [json.dumps(balances[second]), str(ROWS // 2), "100", start.isoformat()]
    subprocess.run(fill, cwd=ROOT, check=True)
    path = f"/api/v1/balances/{balances[first]['id']}/statement"
    period = {"from": start.isoformat() + "Z", "to": "2999-01-01T00:00:00Z"}
    statement = api.get(path, params=period).body
    with PeakMemory(process.pid) as memory:
        header, count, sums = streamed_rows(api, path, {**period, "format": "csv"})
    assert header[:6] == ["created_at", "entry_id", "payment_id", "kind", "direction", "amount"]
    assert count == ROWS
    assert sums == {"incoming": Decimal(statement["total_in"]), "outgoing": Decimal(statement["total_out"])}
    assert (statement["opening"], statement["closing"]) == ("1.00", "1.00")
    assert memory.growth < MEMORY_LIMIT_MB, f"grew {memory.growth:.1f} MB"

    with PeakMemory(process.pid) as memory:
        _, count, _ = streamed_rows(api, "/api/v1/payments", {"account": first, "format": "csv"})
    assert count == ROWS + 1  # and the deposit that funded it
    assert memory.growth < MEMORY_LIMIT_MB, f"grew {memory.growth:.1f} MB"
    assert api.get("/api/v1/audit").body["ok"]
