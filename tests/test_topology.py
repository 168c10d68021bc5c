"""The production shape on one machine (SPEC section 9): nginx in front of
two web processes and two workers on PostgreSQL and Redis. Losing a web
process or a worker mid-run loses nothing: every payment is settled once,
every feed client sees every event once, in order, and every invariant
holds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest

from deploy.local import LocalTopology
from tests.support.client import Api
from tests.support.environment import CONFIG, ROOT, required_database_url, required_redis_url
from tests.support.events import events_after, head_seq
from tests.support.ledger import all_final, open_account, unique
from tools.feed import FeedClient

pytestmark = [
    pytest.mark.skipif(
        not CONFIG.database_url, reason="several processes behind nginx need PostgreSQL and Redis (DATABASE_URL)"
    ),
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.server,
]

PAYMENTS = 600


def own_services() -> dict[str, str]:
    """A database and a Redis db of the topology's own, emptied, so that
    only its two workers settle its payments (the session's server and
    workers use CONFIG's)."""
    import psycopg2
    import redis

    url = urlparse(required_database_url())
    name = url.path.lstrip("/") + "_topology"
    drop_database(name)
    conn = psycopg2.connect(required_database_url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    queue = urlparse(required_redis_url())
    redis_url = queue._replace(path=f"/{(int(queue.path.lstrip('/') or 0) + 8) % 16}").geturl()
    client = redis.Redis.from_url(redis_url)
    for pattern in ("*payment-gateway*", "gateway:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)
    return {"DATABASE_URL": url._replace(path=f"/{name}").geturl(), "REDIS_URL": redis_url}


def drop_database(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(required_database_url())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    conn.close()


# A worker killed holding the settlement request leaves what was committed
# meanwhile to the next payment or to the sweeper (SPEC section 8): here the
# sweeper looks every 2 s, as in the fault tests, instead of every minute.
FAST_SWEEPER = {"STALE_AFTER_SECONDS": "2", "SWEEP_SECONDS": "2"}


@pytest.fixture(scope="module")
def topology(gateway):
    env = dict(os.environ, LOG_LEVEL="warning", **FAST_SWEEPER, **own_services())
    with LocalTopology(web=2, workers=2, env=env) as running:
        yield running
    drop_database(urlparse(env["DATABASE_URL"]).path.lstrip("/"))


def token(topology: LocalTopology, scope: str) -> str:
    command = [sys.executable, "server.py", "create-token", "--name", f"topology {scope}", "--scope", scope]
    return subprocess.run(
        command, cwd=ROOT, env=topology.env, check=True, capture_output=True, text=True
    ).stdout.split()[-1]


def pay_until_answered(api: Api, body: dict, key: str) -> dict:
    """What a careful client does: retry with the same Idempotency-Key until
    some web process answers (a 502 or a cut connection means the one it
    reached died)."""
    for _ in range(50):
        try:
            response = api.post("/api/v1/payments", body, headers={"Idempotency-Key": key})
        except OSError:
            time.sleep(0.1)
            continue
        if response.status in (200, 202):
            return response.body
        assert response.status in (502, 503, 504), response.body
        time.sleep(0.1)
    raise AssertionError(f"no web process answered for {key}")


def transfers_sent(api: Api, account: str) -> list[str]:
    """Ids of the transfers `account` sent, every page."""
    ids, cursor = [], None
    while True:
        params = {"account": account, "kind": "transfer", "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/payments", params=params).body
        ids += [p["id"] for p in page["data"] if p["from_account"] == account]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_losing_a_web_process_and_a_worker_behind_nginx_loses_and_repeats_nothing(topology):
    via_nginx = Api(topology.url, token(topology, "write"))
    admin_via_nginx = Api(topology.url, token(topology, "admin"))
    accounts = [open_account(via_nginx, admin_via_nginx, {"PHP": "500.00"}) for _ in range(10)]
    start = head_seq(admin_via_nginx)
    reading = token(topology, "read")
    followers = [FeedClient(topology.url, reading, after=start).start() for _ in range(4)]
    rng = random.Random(6)
    orders = [(rng.sample(accounts, 2), f"{rng.randint(1, 9000) / 100:.2f}") for _ in range(PAYMENTS)]
    keys = [unique("topology") for _ in range(PAYMENTS)]

    def pay(n: int) -> str:
        if n == PAYMENTS // 3:
            topology.web[0][0].send_signal(signal.SIGKILL)
            topology.workers[0][0].send_signal(signal.SIGKILL)
        (sender, receiver), amount = orders[n]
        body = {"from_account": sender, "to_account": receiver, "amount": amount}
        return pay_until_answered(via_nginx, body, keys[n])["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(pay, range(PAYMENTS)))
    assert topology.web[0][0].wait(10) == -signal.SIGKILL
    assert topology.workers[0][0].wait(10) == -signal.SIGKILL
    assert len(set(ids)) == PAYMENTS
    assert sorted(i for account in accounts for i in transfers_sent(via_nginx, account)) == sorted(ids)
    for payment in all_final(via_nginx, ids):
        assert len(payment["entries"]) == (2 if payment["status"] == "completed" else 0), payment
    head = head_seq(admin_via_nginx)
    for follower in followers:
        assert follower.wait_for(head, timeout=60), f"follower stopped at {follower.last_seq} of {head}"
        follower.stop()
        assert follower.problems == []
    expected = events_after(admin_via_nginx, start)
    for follower in followers:
        assert follower.events == expected
    assert any(follower.connections >= 2 for follower in followers)
    audit = admin_via_nginx.get("/api/v1/audit").body
    assert audit["ok"], audit["problems"][:10]


def test_nginx_passes_request_ids_and_upgrades_the_feed(topology):
    read_token = token(topology, "read")
    via_nginx = Api(topology.url, read_token)
    response = via_nginx.get("/api/v1/accounts", params={"limit": 1}, headers={"X-Request-Id": "from-client-7"})
    assert response.status == 200 and response.header("X-Request-Id") == "from-client-7"
    assert via_nginx.get("/healthz").header("X-Request-Id")
    assert via_nginx.get("/metrics").status == 404
    follower = FeedClient(topology.url, read_token, after=max(head_seq(via_nginx) - 1, 0)).start()
    try:
        assert follower.wait_for(head_seq(via_nginx), timeout=20)
    finally:
        follower.stop()
