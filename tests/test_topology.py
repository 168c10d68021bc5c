"""The production shape on one machine (SPEC section 9): nginx in front of
two web processes and two workers on PostgreSQL and Redis. Losing a web
process or a worker mid-run loses nothing: every payment is settled once,
every feed client sees every event once, in order, and every invariant
holds."""

from __future__ import annotations

import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.feed_client import FeedClient
from deploy.local import LocalTopology
from tests.client import Api
from tests.conftest import CONFIG, assert_audit_ok, issue_token, open_account, unique
from tests.test_concurrency import all_final
from tests.test_feed import all_events, log_head

pytestmark = pytest.mark.skipif(
    not CONFIG.database_url, reason="several processes behind nginx need PostgreSQL and Redis (DATABASE_URL)"
)

PAYMENTS = 600


@pytest.fixture
def topology(gateway):
    with LocalTopology(web=2, workers=2, env=dict(os.environ, LOG_LEVEL="warning")) as running:
        yield running


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


def entries_per_payment(ids: list[str]) -> dict[str, int]:
    from peewee import fn

    from models.db import read_only
    from models.ledger import Entry

    query = Entry.select(Entry.payment, fn.COUNT(Entry.id)).where(Entry.payment.in_(ids)).group_by(Entry.payment)
    return read_only(lambda: {payment_id: count for payment_id, count in query.tuples()})


def payments_of(accounts: list[str]) -> int:
    from models.db import read_only
    from models.ledger import Payment

    return read_only(lambda: Payment.select().where(Payment.from_account.in_(accounts)).count())


def test_losing_a_web_process_and_a_worker_behind_nginx_loses_and_repeats_nothing(topology, admin, writer):
    via_nginx = writer.at(topology.url)
    admin_via_nginx = admin.at(topology.url)
    accounts = [open_account(via_nginx, admin_via_nginx, {"PHP": "500.00"}) for _ in range(10)]
    start = log_head(admin)
    token = issue_token("read")
    followers = [FeedClient(topology.url, token, after=start).start() for _ in range(4)]
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
    assert len(set(ids)) == PAYMENTS
    assert payments_of(accounts) == PAYMENTS
    final = all_final(via_nginx, ids)
    entries = entries_per_payment(ids)
    for payment in final:
        assert entries.get(payment["id"], 0) == (2 if payment["status"] == "completed" else 0), payment
    head = log_head(admin)
    for follower in followers:
        assert follower.wait_for(head, timeout=60), f"follower stopped at {follower.last_seq} of {head}"
        follower.stop()
        assert follower.problems == []
    expected = all_events(admin, start)
    for follower in followers:
        assert follower.events == expected
    assert any(follower.connections >= 2 for follower in followers)
    assert_audit_ok()


def test_nginx_passes_request_ids_and_upgrades_the_feed(topology, reader):
    via_nginx = reader.at(topology.url)
    response = via_nginx.get("/api/v1/accounts", params={"limit": 1}, headers={"X-Request-Id": "from-client-7"})
    assert response.status == 200 and response.header("X-Request-Id") == "from-client-7"
    assert via_nginx.get("/healthz").header("X-Request-Id")
    assert via_nginx.get("/metrics").status == 404
    follower = FeedClient(topology.url, issue_token("read"), after=max(log_head(reader) - 1, 0)).start()
    try:
        assert follower.wait_for(log_head(reader), timeout=20)
    finally:
        follower.stop()
