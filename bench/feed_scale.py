"""The live feed at wallet scale: 0, 1,000, 5,000 and 10,000 feed followers
on one web process, each following its own account with a customer token
(`types=payment.completed`), while payments arrive at 200 a second.

Per step: the POST's p50/p99 (from its due moment to its answer), settle to
follower p50/p99 (from the `payment.completed` event's time, stamped by the
settling worker, to a follower reading it), misses (an event a follower of
one of the payment's accounts never got), the web process's resident memory,
and what each idle follower added to it.

Then 20,000 followers split by nginx between two web processes (the local
topology, `deploy.local`), from two follower processes.

The followers live in a process of their own (`--follow`, driven through
its stdin), the payments are sent from this one, and the service runs in
its own processes: one web, two workers. The open-files limit is raised
here, for this process and its children, up to the hard limit.

    python -m bench.feed_scale                # the curve, into "feed_scale" of bench/results.json
    python -m bench.feed_scale --two-web 20000  # 20,000 followers on two web processes behind nginx
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import resource
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from bench.keepalive import KeepAlivePool, paced
from bench.notify_latency import percentile
from bench.services import Services, database_url, fresh_database, redis_url

HERE = Path(__file__).resolve().parent
STEPS = (0, 1_000, 5_000, 10_000)
RATE = 200
SECONDS = 10
CURRENCY, ONE_MILLION = "PHP", 100_000_000
# Followers connecting at once: more would overflow the server's listen backlog.
CONNECTING = 100


# Open files nginx keeps for itself (its listeners, logs, upstream spares).
NGINX_FILES_SPARE = 1000


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit
    (children inherit it); returns the new limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def customer_tokens(accounts: list[str]) -> list[str]:
    """A `read` customer token for each account, stored in bulk."""
    from models.connection import database
    from models.customer_tokens import issue_customer_token

    secrets = []
    for start in range(0, len(accounts), 1000):
        with database.atomic():
            secrets += [issue_customer_token(a, {"scope": "read"})[1] for a in accounts[start : start + 1000]]
    return secrets


# -- the followers' process ---------------------------------------------------


class Followers:
    """Raw WebSocket followers: the handshake, then frames read as they come
    (pings answered), each `payment.completed` noted with its delay."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.received: list[tuple[str, str, float]] = []
        self.tasks: list[asyncio.Task] = []
        self.failed = 0

    async def open(self, account: str, token: str) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /api/v1/stream?types=payment.completed HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            self.failed += 1
            writer.close()
            return
        opcode, payload = await self._frame(reader)
        assert opcode == 0x1 and b'"hello"' in payload, payload
        self.tasks.append(asyncio.create_task(self._follow(account, reader, writer)))

    async def _follow(self, account: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                opcode, payload = await self._frame(reader)
                if opcode == 0x1:
                    frame = json.loads(payload)
                    settled = datetime.fromisoformat(frame["created_at"].replace("Z", "+00:00"))
                    delay = 1000 * (time.time() - settled.timestamp())
                    self.received.append((frame["data"]["id"], account, delay))
                elif opcode == 0x9:  # ping: a masked pong back
                    mask = os.urandom(4)
                    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                    writer.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
                elif opcode == 0x8:
                    self.failed += 1
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.failed += 1

    @staticmethod
    async def _frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(await reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await reader.readexactly(8), "big")
        return first & 0x0F, await reader.readexactly(length)


async def serve_followers(url: str) -> None:
    """The followers' process: reads commands on stdin, one a line
    (`open <account> <token>...`, `count`, `report`), answers one JSON line
    each; `report` hands over what was received since the last one."""
    followers = Followers(url)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, *args = line.split()
        if command == "open":
            pairs = list(zip(args[::2], args[1::2], strict=True))
            for start in range(0, len(pairs), CONNECTING):
                await asyncio.gather(*(followers.open(a, t) for a, t in pairs[start : start + CONNECTING]))
            answer: dict = {"open": len(followers.tasks), "failed": followers.failed}
        elif command == "count":
            answer = {"open": len(followers.tasks), "failed": followers.failed}
        else:
            answer = {"received": followers.received, "failed": followers.failed}
            followers.received = []
        print(json.dumps(answer), flush=True)


# -- the benchmark --------------------------------------------------------------


class FollowerProcess:
    def __init__(self, url: str) -> None:
        from deploy.processes import die_with_parent

        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.feed_scale", "--follow", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent,
        )

    def ask(self, line: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


async def send_payments(base: str, token: str, accounts: list[str], rate: int, seconds: int, seed: int) -> dict:
    """Open loop: `rate` transfers a second between random accounts, each
    timed from its due moment to its answer."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    answered: list[float] = []
    sent: list[tuple[str, str, str]] = []
    errors = 0

    async def pay(pool: KeepAlivePool, due: float) -> None:
        nonlocal errors
        sender, receiver = rng.sample(accounts, 2)
        body = json.dumps({"from_account": sender, "to_account": receiver, "amount": "0.01"}).encode()
        try:
            reply = await pool.request("POST", "/api/v1/payments", body)
        except OSError:
            errors += 1
            return
        answered.append(1000 * (time.perf_counter() - due))
        if reply.status == 202:
            sent.append((json.loads(reply.body)["id"], sender, receiver))
        else:
            errors += 1

    async with KeepAlivePool(base, headers, connections=16) as pool:
        due = await paced(rate, rate * seconds, lambda _: asyncio.create_task(pay(pool, time.perf_counter())))
        await asyncio.gather(*due)
    return {"answered": answered, "sent": sent, "errors": errors}


def wait_settled(timeout: float = 60.0) -> None:
    from bench.run import any_pending

    deadline = time.monotonic() + timeout
    while any_pending() and time.monotonic() < deadline:
        time.sleep(0.1)


def open_followers(processes: list[FollowerProcess], accounts: list[str], tokens: list[str]) -> int:
    """Open a follower for each account, with its token, spread evenly over
    the follower processes; returns how many are open in all."""
    pairs = [f"{a} {t}" for a, t in zip(accounts, tokens, strict=True)]
    for start in range(0, len(pairs), 1000):
        processes[(start // 1000) % len(processes)].ask("open " + " ".join(pairs[start : start + 1000]))
    return sum(process.ask("count")["open"] for process in processes)


def under_load(
    base: str, token: str, accounts: list[str], followed: set[str], processes: list[FollowerProcess], seconds: int
) -> dict:
    """Payments at RATE a second for `seconds`, and what the followers of
    their accounts received: the POST's latency, settle to follower, misses."""
    for process in processes:
        process.ask("report")  # forget what came before
    load = asyncio.run(send_payments(base, token, accounts, RATE, seconds, len(followed)))
    wait_settled()
    time.sleep(2)  # the last events on their way
    reports = [process.ask("report") for process in processes]
    received = [item for report in reports for item in report["received"]]
    expected = {(p, a) for p, sender, receiver in load["sent"] for a in (sender, receiver) if a in followed}
    got = {(p, a) for p, a, _ in received}
    delays = [delay for _, _, delay in received]
    return {
        "post_p50_ms": round(percentile(load["answered"], 0.50), 1),
        "post_p99_ms": round(percentile(load["answered"], 0.99), 1),
        "post_errors": load["errors"],
        "settle_to_follower_p50_ms": round(percentile(delays, 0.50), 1) if delays else None,
        "settle_to_follower_p99_ms": round(percentile(delays, 0.99), 1) if delays else None,
        "deliveries": len(got),
        "misses": len(expected - got),
        "followers_closed": sum(report["failed"] for report in reports),
    }


def run(steps: tuple[int, ...] = STEPS, seconds: int = SECONDS) -> dict:
    """The curve on one web process: one row per step, followers added
    between steps."""
    from bench.fixtures import funded_accounts
    from bench.run import disconnect_here

    limit = raise_open_files_limit()
    disconnect_here()
    with Services(web=1, workers=2) as services:
        accounts = funded_accounts(max(steps[-1], 1000), CURRENCY, ONE_MILLION, prefix="wallet")
        tokens = customer_tokens(accounts[: steps[-1]])
        web = services.web_pids[0]
        followers = FollowerProcess(services.urls[0])
        try:
            rows, open_now = [], 0
            for following in steps:
                rss_before, added = rss_mb(web), following - open_now
                opened = open_followers([followers], accounts[open_now:following], tokens[open_now:following])
                open_now = following
                assert opened == following, (opened, following)
                time.sleep(2)  # the new connections idle
                rss_idle = rss_mb(web)
                measured = under_load(
                    services.urls[0], services.admin_token, accounts, set(accounts[:following]), [followers], seconds
                )
                row = {
                    "followers": following,
                    **measured,
                    "web_rss_mb": round(rss_mb(web), 1),
                    "web_rss_idle_mb": round(rss_idle, 1),
                    # What the followers opened at this step added, each.
                    "kb_per_idle_follower": round(1024 * (rss_idle - rss_before) / added, 1) if added else None,
                }
                rows.append(row)
                print(f"feed scale: {row}", flush=True)
        finally:
            followers.stop()
    base = rows[0]
    for row in rows:
        row["rss_growth_mb"] = round(row["web_rss_idle_mb"] - base["web_rss_idle_mb"], 1)
        row["post_p99_vs_none"] = round(row["post_p99_ms"] / base["post_p99_ms"], 2)
    return {
        "offered_per_s": RATE,
        "seconds_per_step": seconds,
        "open_files_limit": limit,
        "steps": rows,
        "goals_at_10000": {"post_p99_vs_none": 1.2, "settle_to_follower_p99_ms": 50, "misses": 0, "rss_growth_mb": 100},
    }


def feed_clients(web_url: str) -> int:
    """Open feed connections of one web process, from its /metrics."""
    with urllib.request.urlopen(web_url + "/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith("gateway_feed_clients "):
                return int(float(line.split()[1]))
    return 0


def run_two_web_processes(following: int = 20_000, seconds: int = SECONDS) -> dict:
    """`following` followers through nginx in front of two web processes
    (`deploy.local`), from two follower processes, while payments arrive
    through nginx at RATE a second."""
    import redis

    from bench.fixtures import funded_accounts
    from bench.run import disconnect_here
    from deploy.local import NGINX_WORKERS, LocalTopology
    from deploy.processes import server_command

    limit = raise_open_files_limit()
    # nginx holds two open files a follower (its client's connection and
    # the web process's), shared among its workers, each under the same
    # hard limit: it takes what that allows, and the result says how many
    # were wanted.
    wanted, following = following, min(following, NGINX_WORKERS * (limit - NGINX_FILES_SPARE) // 2)
    disconnect_here()
    env = {**os.environ, "DATABASE_URL": fresh_database(), "REDIS_URL": redis_url(), "LOG_LEVEL": "warning"}
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    with LocalTopology(web=2, workers=2, env=env) as topology:
        token = server_command(env, "create-token", "--name", "bench", "--scope", "admin").splitlines()[-1]
        accounts = funded_accounts(following, CURRENCY, ONE_MILLION, prefix="wallet")
        tokens = customer_tokens(accounts)
        print(f"feed scale, two web processes: {following} accounts and tokens made", flush=True)
        webs = [(process.pid, url) for process, url in topology.web]
        processes = [FollowerProcess(topology.url) for _ in range(2)]
        try:
            rss_before = [rss_mb(pid) for pid, _ in webs]
            opened = open_followers(processes, accounts, tokens)
            print(f"feed scale, two web processes: {opened} followers open", flush=True)
            assert opened == following, (opened, following)
            time.sleep(2)
            rss_idle = [rss_mb(pid) for pid, _ in webs]
            split = [feed_clients(url) for _, url in webs]
            measured = under_load(topology.url, token, accounts, set(accounts), processes, seconds)
        finally:
            for process in processes:
                process.stop()
    result = {
        "followers": following,
        "followers_wanted": wanted,
        "web_processes": 2,
        "followers_per_web": split,
        **measured,
        "web_rss_idle_mb": [round(rss, 1) for rss in rss_idle],
        "rss_growth_mb": [round(idle - before, 1) for idle, before in zip(rss_idle, rss_before, strict=True)],
        "open_files_limit": limit,
    }
    print(f"feed scale, two web processes: {result}", flush=True)
    return result


def table(result: dict) -> str:
    lines = [
        "| followers | POST p50 / p99 (ms) | settle to follower p50 / p99 (ms) | misses | web RSS (MB) | KB per follower |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["steps"]:
        delay = (
            f"{row['settle_to_follower_p50_ms']} / {row['settle_to_follower_p99_ms']}"
            if row["settle_to_follower_p50_ms"] is not None
            else "–"
        )
        lines.append(
            f"| {row['followers']:,} | {row['post_p50_ms']} / {row['post_p99_ms']} | {delay} | {row['misses']} | "
            f"{row['web_rss_idle_mb']} | {row['kb_per_idle_follower'] or '–'} |"
        )
    two = result.get("two_web_processes")
    if two:
        split = " + ".join(f"{n:,}" for n in two["followers_per_web"])
        rss = " + ".join(str(mb) for mb in two["web_rss_idle_mb"])
        lines.append(
            f"| {two['followers']:,} on two web processes behind nginx ({split}) | {two['post_p50_ms']} / "
            f"{two['post_p99_ms']} | {two['settle_to_follower_p50_ms']} / {two['settle_to_follower_p99_ms']} | "
            f"{two['misses']} | {rss} | – |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--follow", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--steps", default=",".join(map(str, STEPS)), help="followers at each step")
    parser.add_argument("--seconds", type=int, default=SECONDS, help="seconds of payments at each step")
    parser.add_argument(
        "--two-web", type=int, metavar="N", help="only N followers on two web processes behind nginx (the curve stays)"
    )
    args = parser.parse_args()
    if args.follow:
        asyncio.run(serve_followers(args.follow))
        return
    from bench.run import connect_here

    os.environ.setdefault("DATABASE_URL", database_url())
    os.environ.setdefault("REDIS_URL", redis_url())
    connect_here()
    results_file = HERE / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    if args.two_web:
        result = {
            **results.get("feed_scale", {"steps": []}),
            "two_web_processes": run_two_web_processes(args.two_web, args.seconds),
        }
    else:
        earlier = results.get("feed_scale", {}).get("two_web_processes")
        result = {**run(tuple(int(n) for n in args.steps.split(",")), args.seconds), "two_web_processes": earlier}
    results["feed_scale"] = result
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    print(table(result))


if __name__ == "__main__":
    main()
