"""Accept-to-notify latency: from sending `POST /api/v1/payments` to a feed
client receiving that payment's `payment.completed`, at a fixed offered load.

Open loop: payments are sent on a fixed schedule whatever the server's
answers, so a slow server shows as latency, not as a politely lower rate.

    python -m bench.notify_latency [--rate 500] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from bench.keepalive import KeepAlivePool, paced
from bench.services import Services

# Keep-alive connections the payments are sent on, as an API client's pool.
CONNECTIONS = 32


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    services: Services,
    accounts: list[str],
    rate: int,
    seconds: float,
    senders: list[str] | None = None,
    due_at: dict[str, float] | None = None,
) -> dict:
    """Send `rate` payments a second for `seconds` between random `accounts`
    (from one of `senders` when given) and time each until its outcome
    reaches a feed client. `due_at`, when given, gets each accepted
    payment's due moment by the wall clock (for timing it elsewhere too)."""
    base = services.urls[0]
    sent: dict[str, float] = {}
    completed: dict[str, float] = {}
    feed = await websocket_connect(
        HTTPRequest(
            base.replace("http", "ws") + "/api/v1/stream?types=payment.completed,payment.failed",
            headers={"Authorization": f"Bearer {services.admin_token}"},
        )
    )

    async def follow() -> None:
        while (message := await feed.read_message()) is not None:
            frame = json.loads(message)
            if frame["type"] != "hello":
                completed.setdefault(frame["data"]["id"], time.perf_counter())

    follower = asyncio.create_task(follow())
    headers = {"Authorization": f"Bearer {services.admin_token}", "Content-Type": "application/json"}
    rng = random.Random(7)
    errors = 0
    accepted: list[float] = []

    async def pay(pool: KeepAlivePool, started: float) -> None:
        nonlocal errors
        if senders:
            sender = rng.choice(senders)
            receiver = rng.choice([a for a in accounts if a != sender])
        else:
            sender, receiver = rng.sample(accounts, 2)
        body = json.dumps({"from_account": sender, "to_account": receiver, "amount": "0.01"}).encode()
        try:
            reply = await pool.request("POST", "/api/v1/payments", body)
        except OSError:
            errors += 1
            return
        if reply.status == 202:
            payment_id = json.loads(reply.body)["id"]
            sent[payment_id] = started
            if due_at is not None:
                due_at[payment_id] = time.time() - (time.perf_counter() - started)
            accepted.append(1000 * (time.perf_counter() - started))
        else:
            errors += 1

    async with KeepAlivePool(base, headers, connections=CONNECTIONS) as pool:
        # Timed from the moment each payment is due, whenever it gets sent.
        due = await paced(rate, int(rate * seconds), lambda _: asyncio.create_task(pay(pool, time.perf_counter())))
        await asyncio.gather(*due)
    deadline = time.perf_counter() + 30
    while len(completed.keys() & sent.keys()) < len(sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    follower.cancel()
    feed.close()
    latencies = [1000 * (completed[p] - sent[p]) for p in sent if p in completed]
    return {
        "offered_per_s": rate,
        "payments": int(rate * seconds),
        "errors": errors,
        "unnotified": len(sent) - len(latencies),
        "p50": round(percentile(latencies, 0.50), 1),
        "p99": round(percentile(latencies, 0.99), 1),
        "accept_p50": round(percentile(accepted, 0.50), 1),
        "accept_p99": round(percentile(accepted, 0.99), 1),
    }


def run(rate: int = 500, seconds: float = 10.0, services: Services | None = None) -> dict:
    if services is None:
        with Services(web=1, workers=2) as started:
            return run(rate, seconds, started)
    accounts = services.fund_accounts(50)
    return asyncio.run(measure(services, accounts, rate, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    result = run(args.rate, args.seconds)
    print(
        f"accept-to-notify at {result['offered_per_s']} payments/s: p50 {result['p50']} ms, p99 {result['p99']} ms "
        f"({result['payments']} payments, {result['errors']} errors, {result['unnotified']} not notified)"
    )


if __name__ == "__main__":
    main()
