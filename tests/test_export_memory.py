"""A CSV export of 200,000 rows streams in bounded memory: the server
(which runs in this test process) grows by less than 20 MB while it sends
them, and the file opens with Python's csv module and sums to the
statement's totals."""

from __future__ import annotations

import csv
import gc
import http.client
import io
import threading
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from models.connection import utcnow
from tests.support.bulk import alternating_transfers
from tests.support.ledger import assert_audit_ok, open_account

pytestmark = [pytest.mark.slow, pytest.mark.bulky]

ROWS = 200_000
MEMORY_LIMIT_MB = 20


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


class PeakMemory:
    """The most this process held while the block ran, sampled every 10 ms."""

    def __enter__(self) -> PeakMemory:
        gc.collect()
        self.start = self.peak = resident_mb()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, resident_mb())

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


def test_exporting_200000_rows_streams_in_bounded_memory_and_sums_to_the_statement(writer, admin, reader):
    first = open_account(writer, admin, {"PHP": "1.00"})
    second = open_account(writer, admin, currencies=["PHP"])
    balances = {
        account: next(b for b in reader.get(f"/api/v1/accounts/{account}").body["balances"] if b["currency"] == "PHP")
        for account in (first, second)
    }
    start = utcnow()
    alternating_transfers(balances[first], balances[second], ROWS // 2, 100, start)
    path = f"/api/v1/balances/{balances[first]['id']}/statement"
    period = {"from": start.isoformat() + "Z", "to": "2999-01-01T00:00:00Z"}
    statement = reader.get(path, params=period).body
    with PeakMemory() as memory:
        header, count, sums = streamed_rows(reader, path, {**period, "format": "csv"})
    assert header[:6] == ["created_at", "entry_id", "payment_id", "kind", "direction", "amount"]
    assert count == ROWS
    assert sums == {"incoming": Decimal(statement["total_in"]), "outgoing": Decimal(statement["total_out"])}
    assert (statement["opening"], statement["closing"]) == ("1.00", "1.00")
    assert memory.growth < MEMORY_LIMIT_MB, f"grew {memory.growth:.1f} MB"

    with PeakMemory() as memory:
        _, count, _ = streamed_rows(reader, "/api/v1/payments", {"account": first, "format": "csv"})
    assert count == ROWS + 1  # and the deposit that funded it
    assert memory.growth < MEMORY_LIMIT_MB, f"grew {memory.growth:.1f} MB"
    assert_audit_ok()
