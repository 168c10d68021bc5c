"""Holds: authorize-then-capture pairs per second, with the workers
settling (authorizing) and one web process capturing, next to pgbench
TPC-B measured in the same run. A pair is two settlements: the
authorization, settled in the workers' batches, and the capture, one
transaction per request in the web process."""

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
    """Authorize a backlog of holds (the workers' settlement), then capture
    each over HTTP from `CONNECTIONS` keep-alive connections; the pairs per
    second over both phases, and each phase's own rate."""
    from bench.run import any_pending, workers_listening

    ids = pending_transfers(pairs, currency, 1, held=True)
    for _ in range(workers):
        services.spawn("worker", "--workers", "4")
    workers_listening(workers * 4)
    started = time.perf_counter()
    Settlement(Config.from_env()).request()
    while any_pending():
        time.sleep(0.05)
    authorized = time.perf_counter() - started
    captures = asyncio.run(_capture_all(services, ids))
    total = authorized + captures["seconds"]
    return {
        "pairs": len(ids),
        "seconds": round(total, 2),
        "per_s": round(len(ids) / total, 1),
        "authorized_per_s": round(len(ids) / authorized, 1),
        "captured_per_s": round(len(ids) / captures["seconds"], 1),
        "capture_p50_ms": captures["p50_ms"],
        "capture_p99_ms": captures["p99_ms"],
        "errors": captures["errors"],
    }


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
            if reply.status != 200 or json.loads(reply.body)["status"] != "completed":
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
