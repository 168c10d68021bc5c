"""`make bench`: the product's figures beside the machine's own limits.

Runs on PostgreSQL + Redis (the machine's, as CI has them) with real web and
worker processes on loopback and load from separate processes, prints one
table and writes bench/results.json. Each figure comes with its anchor,
measured in the same run, and their ratio: machines are shared and noisy,
ratios travel better than absolute numbers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

from bench import feed_scale, growth
from bench.services import Services, database_url, redis_url

HERE = Path(__file__).resolve().parent
CURRENCY, ONE_MILLION = "PHP", 100_000_000
# Each anchor run beside a figure: long enough for a steady figure of a
# handler answering thousands a second.
ANCHOR_SECONDS = 5


def connect_here() -> None:
    from config import Config
    from models.connection import connect

    config = Config.from_env()
    connect(config.database_url, config.sqlite_path)


def disconnect_here() -> None:
    """Close this process's connection to the benchmark database before the
    next run drops and makes it afresh (which would cut it mid-use)."""
    from models.connection import database

    if not database.is_closed():
        database.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def any_pending() -> bool:
    """One index probe, cheap enough to ask every 50 ms without slowing
    what is being measured (a count of the backlog would scan it)."""
    from models.ledger import PENDING, Payment
    from models.retry import read_only

    return read_only(lambda: Payment.select().where(Payment.status == PENDING).exists())


def workers_listening(count: int, timeout: float = 30.0) -> None:
    """Wait until `count` Huey worker threads block on the queue, ready."""
    import redis

    client = redis.Redis.from_url(redis_url())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for c in client.client_list() if c.get("cmd") in ("brpop", "blpop")) >= count:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{count} worker threads did not start listening")


@contextlib.contextmanager
def stopped(pids: list[int]):
    """The processes paused (SIGSTOP) for the duration, then resumed."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def two_of(rng: random.Random, ids: list[str]) -> tuple[str, str]:
    """Two different ids, drawn as `rng.sample(ids, 2)` draws them."""
    first, second = rng.sample(ids, 2)
    return first, second


def drain(services: Services, pairs: list[tuple[str, str]], workers: int = 2, threads: int = 4) -> dict:
    """Settle a backlog of transfers: payments settled per second, from the
    moment the workers are ready (their start-up is not settlement) until
    none is pending."""
    from bench.fixtures import pending_transfers
    from config import Config
    from tasks.settlement import Settlement

    ids = pending_transfers(pairs, CURRENCY, 1)
    for _ in range(workers):
        services.spawn("worker", "--workers", str(threads))
    workers_listening(workers * threads)
    started = time.perf_counter()
    Settlement(Config.from_env()).request()
    while any_pending():
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    return {"payments": len(ids), "seconds": round(elapsed, 2), "per_s": round(len(ids) / elapsed, 1)}


def settlement_scenario(accounts: int, hot: int, payments: int, rate: int) -> dict:
    """Backlog throughput and paced accept-to-notify latency with `hot`
    balances taking all the traffic among `accounts` funded accounts."""
    from bench.fixtures import funded_accounts
    from bench.notify_latency import measure

    rng = random.Random(accounts * 31 + hot)
    disconnect_here()
    with Services(web=1, workers=0) as services:
        ids = funded_accounts(accounts, CURRENCY, ONE_MILLION)
        if hot:
            # Every payment leaves one of the `hot` balances for any other account.
            pairs = [(ids[rng.randrange(hot)], ids[rng.randrange(hot, accounts)]) for _ in range(payments)]
        else:
            pairs = [two_of(rng, ids) for _ in range(payments)]
        backlog = drain(services, pairs)
        import asyncio

        paced = asyncio.run(measure(services, ids[:200] if hot else ids, rate, 5, senders=ids[:hot] if hot else None))
        return {
            "accounts": accounts,
            "hot_balances": hot or accounts,
            **backlog,
            "paced_per_s": rate,
            "p50_ms": paced["p50"],
            "p99_ms": paced["p99"],
        }


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    return f"{os.cpu_count()} cores ({model}), {memory} GiB, Python {platform.python_version()}"


def main() -> None:
    from bench.anchors import BareTornado, pgbench_tpcb

    # This process (fixtures, settlement requests) works on the benchmark's
    # database and Redis unless told otherwise.
    os.environ.setdefault("DATABASE_URL", database_url())
    os.environ.setdefault("REDIS_URL", redis_url())
    connect_here()
    started = time.perf_counter()
    results: dict = {"machine": machine()}
    tpcb = pgbench_tpcb()
    with BareTornado(floor_database=database_url()) as bare:
        measure_web(results, tpcb, bare)
    from bench.webhooks import measure_webhooks

    results["webhooks"] = measure_webhooks()
    results["scaling"] = [
        settlement_scenario(100, 1, 3000, 200),
        settlement_scenario(100, 8, 5000, 200),
        settlement_scenario(100_000, 0, 10_000, 200),
    ]
    results["feed_scale"] = {**feed_scale.run(), "two_web_processes": feed_scale.run_two_web_processes()}
    disconnect_here()
    results["growth"] = growth.run()
    results["seconds"] = round(time.perf_counter() - started, 1)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print()
    print(feed_scale.table(results["feed_scale"]))
    print()
    print(growth.table(results["growth"]))


def beside(anchor: Callable[[], dict], measure: Callable[[], dict]) -> tuple[dict, float]:
    """`measure()`, and the anchor's requests/s measured just before and just
    after it, averaged: the machine's speed drifts from minute to minute."""
    before = anchor()
    ours = measure()
    after = anchor()
    return ours, round((before["per_s"] + after["per_s"]) / 2, 1)


def measure_web(results: dict, tpcb: float, bare) -> None:
    """Settlement, intake, reads, accept-to-notify and memory, on one web
    process and two workers."""
    from bench.anchors import pgbench_tpcb
    from bench.load import wrk
    from bench.notify_latency import measure

    anchor_post = functools.partial(bare.post, ANCHOR_SECONDS)
    anchor_get = functools.partial(bare.get, ANCHOR_SECONDS)
    with Services(web=1, workers=0) as services:
        from bench.fixtures import funded_accounts

        accounts = funded_accounts(1000, CURRENCY, ONE_MILLION)
        rng = random.Random(1)
        settled = drain(services, [two_of(rng, accounts) for _ in range(20_000)])
        # pgbench ran before the drain; again after it, and the two averaged,
        # as each anchor is measured on both sides of its figure.
        tpcb = round((tpcb + pgbench_tpcb(fresh=False)) / 2, 1)
        print(f"settlement: {settled}, pgbench TPC-B {tpcb} tps", flush=True)
        results["settlement"] = figure("payments/s", settled["per_s"], "pgbench tpcb", tpcb)
        results["bulk_payouts"] = measure_bulk_payouts(services, accounts, settled["per_s"])
        env = {"BENCH_TOKEN": services.admin_token, "BENCH_ACCOUNTS": "1000"}
        # The web process's own capacity, as the bare handler's is measured:
        # with the workers paused, not sharing the two cores (they settle
        # the backlog after); then, for comparison, with them settling
        # alongside.
        for name, paused in (("intake", services.worker_pids), ("intake_alongside", [])):

            def post(paused=paused) -> dict:
                with stopped(paused):
                    return wrk(services.urls[0] + "/api/v1/payments", "payments.lua", env=env)

            intake, anchor = beside(anchor_post, post)
            print(f"{name}: {intake}, bare Tornado POST {anchor}/s", flush=True)
            results[name] = figure(
                "requests/s per web process",
                intake["per_s"],
                "bare tornado POST",
                anchor,
                p50_ms=intake["p50_ms"],
                p99_ms=intake["p99_ms"],
                errors=intake["errors"],
                workers="paused" if paused else "settling",
            )
            while any_pending():
                time.sleep(0.1)
        reads = {}
        for name, path in (("account", "/api/v1/accounts/bench000001"), ("payments", "/api/v1/payments?limit=50")):
            get = functools.partial(
                wrk,
                services.urls[0] + path,
                "get.lua",
                env={"BENCH_TOKEN": services.admin_token, "BENCH_PATH": path},
            )
            measured, anchor = beside(anchor_get, get)
            print(f"{name}: {measured}, bare Tornado GET {anchor}/s", flush=True)
            reads[name] = {
                "ours": measured["per_s"],
                "anchor_value": anchor,
                "ratio": round(measured["per_s"] / anchor, 2),
                "p99_ms": measured["p99_ms"],
            }
        # The floor of a read on this stack (one primary-key read on a
        # thread, nothing else), right after the account's read it bounds.
        floor = bare.get_row("bench000001", ANCHOR_SECONDS)["per_s"]
        print(f"one-row read on a thread (the floor): {floor}/s", flush=True)
        reads["account"].update(
            floor_value=floor,
            floor_vs_bare=round(floor / reads["account"]["anchor_value"], 2),
            ratio_to_floor=round(reads["account"]["ours"] / floor, 2),
        )
        results["reads"] = {"unit": "requests/s per web process", "anchor": "bare tornado GET", **reads}
        import asyncio

        latency = asyncio.run(measure(services, accounts, 500, 10))
        print(f"notify latency: {latency}", flush=True)
        results["notify_latency_ms"] = {
            "p50": latency["p50"],
            "p99": latency["p99"],
            "accept_p50": latency["accept_p50"],
            "accept_p99": latency["accept_p99"],
            "offered_per_s": 500,
            "unnotified": latency["unnotified"],
            "errors": latency["errors"],
        }
        # The workers that drained, read before the holds run stops them
        # (a stopped process has no peak to read), and those that settle the holds.
        drained = [peak_rss_mb(p) for p in services.worker_pids]
        results["holds"] = measure_holds(services, accounts, tpcb)
        results["memory_mb"] = {
            "web": max(peak_rss_mb(p) for p in services.web_pids),
            "worker": max(drained + [peak_rss_mb(p) for p in services.worker_pids]),
        }


def figure(unit: str, ours: float, anchor: str, anchor_value: float, **more) -> dict:
    """A figure beside its anchor, as `results.json` keeps each."""
    return {
        "unit": unit,
        "ours": ours,
        "anchor": anchor,
        "anchor_value": anchor_value,
        "ratio": round(ours / anchor_value, 2),
        **more,
    }


def measure_bulk_payouts(services: Services, accounts: list[str], settled_per_s: float) -> dict:
    """Non-atomic groups of 1,000 payouts, next to the ordinary settlement
    just measured."""
    from bench.groups import bulk_payouts

    measured = bulk_payouts(services, accounts[0], accounts[1:])
    print(f"bulk payouts: {measured}, ordinary settlement {settled_per_s}/s", flush=True)
    return figure(
        "payments/s",
        measured["per_s"],
        "ordinary settlement, same run",
        settled_per_s,
        groups=measured["groups"],
        payments=measured["payments"],
    )


def measure_holds(services: Services, accounts: list[str], tpcb: float) -> dict:
    """Authorize-then-capture pairs per second, next to pgbench TPC-B."""
    from bench.holds import holds_pairs

    for pid in services.worker_pids:
        os.kill(pid, signal.SIGTERM)
    rng = random.Random(2)
    measured = holds_pairs(services, [two_of(rng, accounts) for _ in range(10_000)], CURRENCY)
    print(f"holds: {measured}, pgbench TPC-B {tpcb} tps", flush=True)
    return figure(
        "authorize + capture pairs/s",
        measured["per_s"],
        "pgbench tpcb",
        tpcb,
        **{k: v for k, v in measured.items() if k != "per_s"},
    )


def table(results: dict) -> str:
    s, i, a, r = results["settlement"], results["intake"], results["intake_alongside"], results["reads"]
    lat, mem = results["notify_latency_ms"], results["memory_mb"]
    rows = [
        ("settlement (payments/s)", s["ours"], f"pgbench TPC-B {s['anchor_value']:.0f} tps", s["ratio"]),
        ("intake POST /payments (req/s, 1 web)", i["ours"], f"bare Tornado POST {i['anchor_value']:.0f}/s", i["ratio"]),
        (
            "intake, workers settling alongside (req/s, 1 web)",
            a["ours"],
            f"bare Tornado POST {a['anchor_value']:.0f}/s",
            a["ratio"],
        ),
        (
            "GET /accounts/{id} (req/s, 1 web)",
            r["account"]["ours"],
            f"bare Tornado GET {r['account']['anchor_value']:.0f}/s",
            r["account"]["ratio"],
        ),
        (
            "floor: one primary-key row read on a thread, bare (req/s)",
            r["account"]["floor_value"],
            f"bare Tornado GET {r['account']['anchor_value']:.0f}/s",
            r["account"]["floor_vs_bare"],
        ),
        (
            "GET /payments?limit=50 (req/s, 1 web)",
            r["payments"]["ours"],
            f"bare Tornado GET {r['payments']['anchor_value']:.0f}/s",
            r["payments"]["ratio"],
        ),
        (
            "accept-to-notify p50 / p99 at 500/s (ms)",
            f"{lat['p50']} / {lat['p99']}",
            f"of which the POST's answer: {lat['accept_p50']} / {lat['accept_p99']}",
            "",
        ),
        (
            "holds: authorize + capture pairs/s (1 web, 2 workers)",
            results["holds"]["ours"],
            f"pgbench TPC-B {results['holds']['anchor_value']:.0f} tps",
            results["holds"]["ratio"],
        ),
        (
            "bulk payouts: groups of 1,000, atomic: false (payments/s)",
            results["bulk_payouts"]["ours"],
            f"ordinary settlement {results['bulk_payouts']['anchor_value']:.0f}/s",
            results["bulk_payouts"]["ratio"],
        ),
        ("peak memory web / worker (MB)", f"{mem['web']} / {mem['worker']}", "", ""),
    ]
    hooks = results["webhooks"]
    rows += [
        (
            "webhook deliveries/s to one endpoint, while settling",
            hooks["ours"],
            f"settlement of the same backlog {hooks['anchor_value']:.0f}/s",
            hooks["ratio"],
        ),
        (
            "POST-to-webhook p50 / p99 at 500/s (ms)",
            f"{hooks['latency_ms']['p50']} / {hooks['latency_ms']['p99']}",
            f"POST-to-feed {hooks['latency_ms']['feed_p50']} / {hooks['latency_ms']['feed_p99']}",
            "",
        ),
        (
            "POST-to-webhook p50 / p99 beside a hanging and a failing endpoint (ms)",
            "{p50} / {p99}".format(**hooks["latency_ms"]["beside_hanging_and_failing"]),
            f"alone {hooks['latency_ms']['p50']} / {hooks['latency_ms']['p99']}",
            "",
        ),
        (
            "settlement with 100 failing endpoints (payments/s)",
            hooks["failing_endpoints"]["settlement_per_s_with"],
            f"with none {hooks['failing_endpoints']['settlement_per_s_without']}/s",
            hooks["failing_endpoints"]["ratio"],
        ),
    ]
    for scenario in results["scaling"]:
        rows.append(
            (
                f"settlement, {scenario['hot_balances']} hot of {scenario['accounts']} accounts (payments/s)",
                scenario["per_s"],
                f"p50/p99 at {scenario['paced_per_s']}/s: {scenario['p50_ms']}/{scenario['p99_ms']} ms",
                "",
            )
        )
    lines = [f"Machine: {results['machine']}", "", "| figure | ours | anchor | ratio |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
