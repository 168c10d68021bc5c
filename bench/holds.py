"""Holds: authorize-then-capture pairs per second, with the workers
settling, next to pgbench TPC-B measured in the same run. A pair is two
settlements, both in the workers' batches: the authorization, and the
capture, asked for over HTTP from one web process (202; its rate is
reported beside) and settled by the workers."""

from __future__ import annotations

import asyncio
import json
import time

from bench.fixtures import pending_transfers
from bench.keepalive import KeepAlivePool
from bench.services import Services
from config import Config
from tasks.settlement import Settlement

CONNECTIONS = 32


def holds_pairs(services: Services, pairs: list[tuple[str, str]], currency: str, workers: int = 2) -> dict:
    """Authorize a backlog of holds (the workers' settlement); ask for each
    one's capture over HTTP from `CONNECTIONS` keep-alive connections, with
    the workers paused (the web process's own rate, as intake is measured);
    then let the workers settle the captures. Pairs per second over both
    settlements, and each phase's own rate."""
    from bench.run import any_pending, stopped, workers_listening

    ids = pending_transfers(pairs, currency, 1, held=True)
    spawned = [services.spawn("worker", "--workers", "4").pid for _ in range(workers)]
    workers_listening(workers * 4)
    started = time.perf_counter()
    Settlement(Config.from_env()).request()
    while any_pending():
        time.sleep(0.05)
    authorized = time.perf_counter() - started
    with stopped(spawned):
        started = time.perf_counter()
        captures = asyncio.run(_capture_all(services, ids))
        asked = time.perf_counter() - started
        # Resumed as this block ends, the workers take the settlement the
        # first capture asked for.
        started = time.perf_counter()
    while any_capture_waiting():
        time.sleep(0.05)
    captured = time.perf_counter() - started
    total = authorized + captured
    return {
        "pairs": len(ids),
        "seconds": round(total, 2),
        "per_s": round(len(ids) / total, 1),
        "authorized_per_s": round(len(ids) / authorized, 1),
        "captured_per_s": round(len(ids) / captured, 1),
        "capture_requests_per_s": round(len(ids) / asked, 1),
        "capture_p50_ms": captures["p50_ms"],
        "capture_p99_ms": captures["p99_ms"],
        "errors": captures["errors"],
    }


def any_capture_waiting() -> bool:
    """One probe of the partial index of captures asked for."""
    from models.retry import read_only
    from models.settlement import captures_waiting

    return read_only(lambda: captures_waiting(1)) > 0


async def _capture_all(services: Services, ids: list[str]) -> dict:
    headers = {"Authorization": f"Bearer {services.admin_token}", "Content-Type": "application/json"}
    latencies: list[float] = []
    errors = 0
    async with KeepAlivePool(services.urls[0], headers, CONNECTIONS) as pool:

        async def capture(payment_id: str) -> None:
            nonlocal errors
            sent = time.perf_counter()
            try:
                reply = await pool.request("POST", f"/api/v1/payments/{payment_id}/capture")
            except OSError:
                errors += 1
                return
            latencies.append(time.perf_counter() - sent)
            if reply.status != 202 or json.loads(reply.body)["status"] not in ("authorized", "completed"):
                errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(capture(payment_id) for payment_id in ids))
        seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "seconds": seconds,
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
        "errors": errors,
    }
