"""Webhooks: deliveries per second to one local receiver while the workers
settle (beside the settlement rate of the same run), the time from a
payment's POST to its webhook's arrival at 500 payments/s (beside the feed's
accept-to-notify of the same payments, the anchor), and settlement's speed
with 100 endpoints all failing (beside the same drain with none), with the
workers' and senders' memory as they fail: when the drain starts, when it
ends, and every 10 s for 30 s after.

The receivers (`bench/receiver.py`) are separate processes answering at
once over plain HTTP on loopback (WEBHOOK_ALLOW_PRIVATE=1).

    python -m bench.webhooks
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

from bench.fixtures import funded_accounts, pending_transfers
from bench.services import Services, database_url, redis_url
from deploy.processes import free_port

CURRENCY, ONE_MILLION = "PHP", 100_000_000
FAILING_ENDPOINTS = 100


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def children(parents: list[int]) -> list[int]:
    """The pids whose parent is one of `parents` (the workers' senders)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) in parents:
                found.append(int(entry.name))
    return found


class ReceiverProcess:
    def __init__(self, services: Services, fail: bool = False, hang: bool = False) -> None:
        self.port = free_port()
        modes = (["--fail"] if fail else []) + (["--hang"] if hang else [])
        services.spawn("bench/receiver.py", "--port", str(self.port), *modes)
        self.url = f"http://127.0.0.1:{self.port}/hook"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.arrivals()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    def arrivals(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/arrivals", timeout=10) as reply:
            return json.load(reply)

    def count(self) -> int:
        """How many arrived (asked while they arrive: the receiver's answer
        stays small)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/count", timeout=10) as reply:
            return int(reply.read())


def pairs(rng: random.Random, accounts: list[str], count: int) -> list[tuple[str, str]]:
    from bench.run import two_of

    return [two_of(rng, accounts) for _ in range(count)]


class Settled(NamedTuple):
    # When settlement was asked for (time.perf_counter), and how long it took.
    started: float
    seconds: float


def settle_backlog(transfers: list[tuple[str, str]]) -> Settled:
    """Pending transfers settled by the running workers: when settlement
    was asked for, and the seconds it took from then."""
    from bench.run import any_pending
    from config import Config
    from tasks.settlement import Settlement

    pending_transfers(transfers, CURRENCY, 1)
    started = time.perf_counter()
    Settlement(Config.from_env()).request()
    while any_pending():
        time.sleep(0.02)
    return Settled(started, time.perf_counter() - started)


def senders_holding(services: Services, count: int) -> None:
    """Wait until every active endpoint is held by a sender."""
    from models.retry import read_only
    from models.webhooks import ACTIVE, WebhookEndpoint

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        unheld = read_only(
            lambda: (
                WebhookEndpoint.select()
                .where((WebhookEndpoint.state == ACTIVE) & WebhookEndpoint.held_by.is_null())
                .exists()
            )
        )
        if not unheld and len(children(services.worker_pids)) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError("the senders did not take the endpoints")


def arrival_latency(services: Services, accounts: list[str], receiver: ReceiverProcess) -> dict:
    """Payments at 500/s for 10 s: from each one's due moment to its
    webhook's arrival at `receiver`, beside the feed's accept-to-notify."""
    from bench.notify_latency import measure, percentile

    due_at: dict[str, float] = {}
    feed = asyncio.run(measure(services, accounts, 500, 10, due_at=due_at))
    deadline = time.monotonic() + 30
    arrived: dict = {}
    while time.monotonic() < deadline:
        arrived = receiver.arrivals()["payments"]
        if all(p in arrived for p in due_at):
            break
        time.sleep(0.2)
    latencies = [1000 * (arrived[p][0] - due) for p, due in due_at.items() if p in arrived]
    return {
        "offered_per_s": 500,
        "p50": round(percentile(latencies, 0.5), 1),
        "p99": round(percentile(latencies, 0.99), 1),
        "feed_p50": feed["p50"],
        "feed_p99": feed["p99"],
        "undelivered": len(due_at) - len(latencies),
    }


def measure_webhooks(workers: int = 2) -> dict:
    from bench.run import disconnect_here, workers_listening

    rng = random.Random(3)
    disconnect_here()
    with Services(web=1, workers=0, env={"WEBHOOK_ALLOW_PRIVATE": "1"}) as services:
        accounts = funded_accounts(1000, CURRENCY, ONE_MILLION)
        receiver = ReceiverProcess(services)
        endpoint = services.api(
            "POST", "/api/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["payment.completed"]}
        )
        for _ in range(workers):
            services.spawn("worker", "--workers", "4")
        workers_listening(workers * 4)
        senders_holding(services, workers)

        # Deliveries beside settlement: a backlog settled while its events are sent.
        backlog = 10_000
        # Both from the moment settlement is asked for (the backlog's
        # transfers are written before it, outside either figure).
        settled = settle_backlog(pairs(rng, accounts, backlog))
        settled_seconds = settled.seconds
        while receiver.count() < backlog and time.perf_counter() - settled.started < 120:
            time.sleep(0.05)
        delivered_seconds = time.perf_counter() - settled.started
        delivered = receiver.count()
        throughput = {
            "unit": "deliveries/s to one endpoint",
            "ours": round(delivered / delivered_seconds, 1),
            "anchor": "settlement of the same backlog (payments/s)",
            "anchor_value": round(backlog / settled_seconds, 1),
            "ratio": round((delivered / delivered_seconds) / (backlog / settled_seconds), 2),
            "payments": backlog,
            "delivered": delivered,
        }
        print(f"webhooks: {throughput}", flush=True)

        # POST to arrival at 500 payments/s, beside POST to the feed.
        latency = arrival_latency(services, accounts, receiver)
        print(f"webhook latency: {latency}", flush=True)

        # The same, with an endpoint that hangs past the timeout and one that
        # fails, both sent every payment too: the healthy one's p99 beside.
        hanging, failing_one = ReceiverProcess(services, hang=True), ReceiverProcess(services, fail=True)
        bad = [
            services.api("POST", "/api/v1/webhook-endpoints", {"url": r.url, "event_types": ["payment.completed"]})
            for r in (hanging, failing_one)
        ]
        senders_holding(services, workers)
        beside_bad = arrival_latency(services, accounts, receiver)
        latency["beside_hanging_and_failing"] = {k: beside_bad[k] for k in ("p50", "p99", "undelivered")}
        print(f"webhook latency beside a hanging and a failing endpoint: {beside_bad}", flush=True)
        for endpoint in bad:
            services.api("PATCH", f"/api/v1/webhook-endpoints/{endpoint['id']}", {"active": False})

        # Settlement with no endpoint, then with 100 endpoints all failing.
        services.api("PATCH", f"/api/v1/webhook-endpoints/{endpoint['id']}", {"active": False})
        quiet_seconds = settle_backlog(pairs(rng, accounts, 5000)).seconds
        failing = ReceiverProcess(services, fail=True)
        for _ in range(FAILING_ENDPOINTS):
            services.api("POST", "/api/v1/webhook-endpoints", {"url": failing.url})
        senders_holding(services, workers)
        senders = children(services.worker_pids)
        memory = [sum(rss_mb(p) for p in senders + services.worker_pids)]
        failing_seconds = settle_backlog(pairs(rng, accounts, 5000)).seconds
        # And more time failing, for memory to grow if it would.
        for _ in range(3):
            memory.append(sum(rss_mb(p) for p in senders + services.worker_pids))
            time.sleep(10)
        memory.append(sum(rss_mb(p) for p in senders + services.worker_pids))
        slowdown = {
            "endpoints": FAILING_ENDPOINTS,
            "settlement_per_s_without": round(5000 / quiet_seconds, 1),
            "settlement_per_s_with": round(5000 / failing_seconds, 1),
            "ratio": round(quiet_seconds / failing_seconds, 2),
            "workers_and_senders_rss_mb": [round(m, 1) for m in memory],
            "rss_every_s": 10,
        }
        print(f"webhooks failing: {slowdown}", flush=True)
        return {**throughput, "latency_ms": latency, "failing_endpoints": slowdown}


def main() -> None:
    from bench.run import connect_here

    os.environ.setdefault("DATABASE_URL", database_url())
    os.environ.setdefault("REDIS_URL", redis_url())
    connect_here()
    print(json.dumps(measure_webhooks(), indent=2))


if __name__ == "__main__":
    main()
