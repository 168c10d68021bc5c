"""Nothing is lost and nothing settles twice when the machinery fails
(SPEC sections 4 and 8): a worker killed with SIGKILL mid-settlement, Redis
stopped while payments arrive, PostgreSQL restarted mid-run, one task
delivered many times, a web process killed under its feed clients.

These run real processes on a PostgreSQL cluster and a Redis of their own
(`tests.support.faults`), never on the machine's shared ones. Each ends
with every accepted payment settled exactly once: final, with exactly its
entries and one final event, and `server.py audit` passing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from huey import RedisHuey

from tasks.queue import QUEUE_NAME
from tests.support.client import Api
from tests.support.environment import CONFIG
from tests.support.events import events_after, head_seq
from tests.support.faults import Stack
from tests.support.ledger import all_final, amounts, assert_audit_ok, open_account
from tests.support.waiting import wait_until
from tools.feed import FeedClient


def services_only(test):
    """A test on services of its own: skipped embedded, and marked as needing
    services, slow, and starting processes."""
    marks = (
        pytest.mark.skipif(
            not CONFIG.database_url,
            reason="kills and restarts PostgreSQL, Redis and worker processes: embedded mode has none of them",
        ),
        pytest.mark.services,
        pytest.mark.slow,
        pytest.mark.server,
    )
    for mark in marks:
        test = mark(test)
    return test


ACCEPTED = (200, 201, 202)


def pay_until_accepted(apis: list[Api], body: dict, key: str, seen: Counter, attempts: int = 120) -> str:
    """Send one order as a careful client does: with an Idempotency-Key,
    again after a 503 or a broken connection (on the next web process),
    until it is accepted. Any other answer fails the test."""
    for attempt in range(attempts):
        api = apis[attempt % len(apis)]
        try:
            response = api.post("/api/v1/payments", body, headers={"Idempotency-Key": key})
        except OSError:
            seen["no connection"] += 1
            time.sleep(0.2)
            continue
        seen[response.status] += 1
        if response.status in ACCEPTED:
            return response.body["id"]
        assert response.status == 503, (response.status, response.body)
        assert response.body["error"]["code"] == "service_unavailable", response.body
        time.sleep(0.2)
    raise AssertionError(f"order {key} never accepted: {seen}")


def transfers_from(stack: Stack, account: str) -> int:
    return stack.postgres.query("SELECT count(*) FROM payment WHERE from_account = %s", (account,))[0][0]


@services_only
def test_a_worker_killed_with_sigkill_mid_settlement_loses_no_payment_and_settles_none_twice(stack):
    _, api = stack.web()
    workers = [stack.worker(), stack.worker()]
    payer = stack.open_account(api, "1000.00")
    payees = [stack.open_account(api) for _ in range(3)]
    accepted: list[str] = []
    seen: Counter = Counter()

    def pay(n: int) -> None:
        body = {"from_account": payer, "to_account": payees[n % 3], "amount": "1.00"}
        accepted.append(pay_until_accepted([api], body, f"kill-{n}", seen))

    with ThreadPoolExecutor(6) as pool:
        sent = pool.map(pay, range(240))
        for done in (60, 120, 180):
            assert wait_until(lambda done=done: len(accepted) >= done, timeout=60)
            # A worker dies mid-batch; another takes its place. (Children are
            # started from this thread: they die with the thread that made them.)
            workers.pop(0).kill()
            workers.append(stack.worker())
        list(sent)
    # And finally every worker at once, before a fresh one starts: what is
    # still pending can only be found by the sweeper.
    for worker in workers:
        worker.kill()
    stack.worker()
    statuses = stack.assert_settled_exactly_once(accepted)
    assert Counter(statuses.values()) == {"completed": 240}
    assert transfers_from(stack, payer) == 240
    assert sum(amounts(api, p)["PHP"] for p in payees) == 240


@services_only
def test_payments_arriving_while_redis_is_down_are_kept_or_refused_503_and_settle_when_it_returns(stack):
    _, api = stack.web()
    stack.worker()
    payer = stack.open_account(api, "1000.00")
    payee = stack.open_account(api)
    body = {"from_account": payer, "to_account": payee, "amount": "2.00"}

    def pay(_: int):
        response = api.post("/api/v1/payments", body)
        assert response.status in (202, 503), (response.status, response.body)
        return response.body["id"] if response.status == 202 else None

    with ThreadPoolExecutor(4) as pool:
        before = list(pool.map(pay, range(20)))
        stack.redis.kill()  # the queue and everything in it are gone
        during = list(pool.map(pay, range(80)))
        stack.redis.start()  # empty: no task survived
    kept = [p for p in before + during if p is not None]
    assert len(kept) >= 20, "intake should keep accepting while the queue is down"
    # No payment arrives now to ask for settlement: the sweeper must find them.
    stack.assert_settled_exactly_once(kept)
    with ThreadPoolExecutor(4) as pool:
        after = list(pool.map(pay, range(20)))
    assert None not in after
    statuses = stack.assert_settled_exactly_once(kept + after)
    assert amounts(api, payee)["PHP"] == 2 * sum(s == "completed" for s in statuses.values())


@services_only
def test_postgres_restarted_mid_run_answers_only_2xx_or_503_and_every_order_settles_once(stack):
    _, api = stack.web()
    stack.worker()
    stack.worker()
    payer = stack.open_account(api, "1000.00")
    payee = stack.open_account(api)
    seen: Counter = Counter()
    accepted: list[str] = []
    halfway = threading.Event()

    def pay(n: int) -> None:
        body = {"from_account": payer, "to_account": payee, "amount": "1.00", "description": f"order {n}"}
        accepted.append(pay_until_accepted([api], body, f"restart-{n}", seen))
        if len(accepted) == 50:
            halfway.set()

    with ThreadPoolExecutor(4) as pool:
        sent = pool.map(pay, range(200))
        assert halfway.wait(120)
        stack.postgres.stop()
        time.sleep(5)  # longer than a transaction's own retries last
        stack.postgres.start()  # from this thread: the server dies with the thread that started it
        list(sent)
    assert len(set(accepted)) == 200
    assert seen[503] > 0, "the restart should have been seen by some requests"
    statuses = stack.assert_settled_exactly_once(accepted)
    assert Counter(statuses.values()) == {"completed": 200}
    assert transfers_from(stack, payer) == 200
    assert amounts(api, payee)["PHP"] == 200


@services_only
def test_a_settlement_task_delivered_many_times_settles_each_payment_once(stack):
    _, api = stack.web()
    funding = stack.worker()
    payer = stack.open_account(api, "100.00")
    payee = stack.open_account(api)
    funding.kill()
    funding.wait()
    # Let Redis notice the dead worker's blocked read: a task pushed before it
    # does may still be handed to it, and lost (the sweeper's case, not this one).
    time.sleep(1)
    ids = []
    for _ in range(60):
        response = api.post("/api/v1/payments", {"from_account": payer, "to_account": payee, "amount": "2.50"})
        assert response.status == 202, response.body
        ids.append(response.body["id"])
    queue = stack.redis.client()
    key = RedisHuey(QUEUE_NAME, url=stack.redis.url).storage.queue_key
    messages = queue.lrange(key, 0, -1)
    assert messages, "intake queued no settlement task"
    for message in messages:
        queue.lpush(key, *[message] * 5)  # the same task, delivered again and again
    stack.worker(threads=4)
    stack.worker(threads=4)
    statuses = stack.assert_settled_exactly_once(ids)
    assert Counter(statuses.values()) == {"completed": 40, "failed": 20}
    assert amounts(api, payee)["PHP"] == 100


@services_only
def test_a_web_process_killed_under_its_feed_clients_loses_no_event_and_no_payment(stack):
    web_a, api_a = stack.web()
    _, api_b = stack.web()
    stack.worker()
    payer = stack.open_account(api_b, "1000.00")
    payees = [stack.open_account(api_b) for _ in range(2)]
    start = head_seq(api_b)
    reader = stack.command("create-token", "--name", "feed", "--scope", "read").splitlines()[-1]
    clients = [FeedClient(api_a.base_url, reader, after=start).start() for _ in range(3)]
    assert wait_until(lambda: all(c.connections for c in clients), timeout=20)
    seen: Counter = Counter()
    accepted: list[str] = []
    lock = threading.Lock()

    def pay(n: int) -> None:
        body = {"from_account": payer, "to_account": payees[n % 2], "amount": "1.00"}
        apis = [api_a, api_b] if n % 2 else [api_b, api_a]
        payment_id = pay_until_accepted(apis, body, f"web-{n}", seen)
        with lock:
            accepted.append(payment_id)
            if len(accepted) == 60:
                web_a.kill()
                # The load balancer sends the clients' reconnections elsewhere.
                for client in clients:
                    client.ws_url = api_b.base_url.replace("http://", "ws://") + "/api/v1/stream"

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(pay, range(180)))
    assert len(set(accepted)) == 180
    stack.assert_settled_exactly_once(accepted)
    log = events_after(api_b, start)
    for client in clients:
        assert client.wait_for(log[-1]["seq"], timeout=60)
        client.stop()
        assert client.problems == []
        assert [e["seq"] for e in client.events] == [e["seq"] for e in log]
        assert client.connections >= 2


def test_the_settlement_task_run_many_times_at_once_settles_each_payment_once(writer, admin):
    """The same task delivered to several workers at once, in process (both
    backends): claimed rows are skipped or waited for, never settled twice."""
    from models.intake import submit_transfer
    from models.retry import retried_transaction
    from tasks.settlement import Settlement

    payer = open_account(writer, admin, {"PHP": "30.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "1.00"}
    ids = [retried_transaction(lambda: submit_transfer(body, lambda: None)).id for _ in range(40)]
    settlement = Settlement(CONFIG)
    barrier = threading.Barrier(6)

    def deliver(_: int) -> None:
        barrier.wait()
        settlement.settle_backlog.call_local()

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(deliver, range(6)))
    payments = all_final(writer, ids)
    assert Counter(p["status"] for p in payments) == {"completed": 30, "failed": 10}
    assert all(len(writer.get(f"/api/v1/payments/{p}").body["entries"]) in (0, 2) for p in ids)
    assert amounts(writer, payee)["PHP"] == 30
    assert_audit_ok()


@pytest.mark.parametrize("state", ["shutting down", "starting up"])
def test_a_database_that_is_restarting_is_a_transient_error_worth_a_retry(state):
    from peewee import OperationalError

    from models.retry import is_retryable

    refused = OperationalError(
        f'connection to server at "127.0.0.1", port 5432 failed: FATAL:  the database system is {state}\n'
    )
    assert is_retryable(refused)


@services_only
def test_a_worker_killed_while_sweeping_does_not_stop_the_sweeper_for_good(stack):
    _, api = stack.web()
    worker = stack.worker()
    payer = stack.open_account(api, "10.00")
    payee = stack.open_account(api)
    worker.kill()
    worker.wait()
    time.sleep(1)
    payment = api.post("/api/v1/payments", {"from_account": payer, "to_account": payee, "amount": "1.00"}).body
    stack.redis.client().flushdb()  # its task is lost with the queue
    # What a worker killed inside the sweeper leaves behind: its lock, taken.
    RedisHuey(QUEUE_NAME, url=stack.redis.url).lock_task("sweep-pending").acquire()
    stack.worker()
    assert stack.wait_final([payment["id"]], timeout=20)[payment["id"]] == "completed"


def send_until_accepted(api: Api, path: str, body: dict, key: str, seen: Counter) -> dict:
    """As `pay_until_accepted`, for any creating POST; returns the answer's body."""
    for _ in range(120):
        try:
            response = api.post(path, body, headers={"Idempotency-Key": key})
        except OSError:
            seen["no connection"] += 1
            time.sleep(0.2)
            continue
        seen[response.status] += 1
        if response.status in ACCEPTED:
            return response.body
        assert response.status == 503, (response.status, response.body)
        time.sleep(0.2)
    raise AssertionError(f"{path} {key} never accepted: {seen}")


@services_only
def test_holds_and_atomic_groups_survive_workers_killed_with_sigkill_mid_batch(stack):
    """Holds are authorized once, atomic groups settle all or nothing, and
    each balance's `held` is exactly its open holds, however many workers
    die mid-batch."""
    _, api = stack.web()
    workers = [stack.worker(), stack.worker()]
    payer = stack.open_account(api, "1000.00")
    merchant, fees = stack.open_account(api), stack.open_account(api)
    holds: list[str] = []
    groups: list[dict] = []
    seen: Counter = Counter()

    def send(n: int) -> None:
        if n % 2:
            body = {"from_account": payer, "to_account": merchant, "amount": "2.00", "capture": "manual"}
            holds.append(send_until_accepted(api, "/api/v1/payments", body, f"hold-{n}", seen)["id"])
        else:
            payments = [
                {"from_account": payer, "to_account": merchant, "amount": "3.00"},
                {"from_account": payer, "to_account": fees, "amount": "0.10"},
            ]
            group = {"atomic": True, "payments": payments}
            groups.append(send_until_accepted(api, "/api/v1/payment-groups", group, f"group-{n}", seen))

    with ThreadPoolExecutor(6) as pool:
        sent = pool.map(send, range(160))
        for done in (40, 80, 120):
            assert wait_until(lambda done=done: len(holds) + len(groups) >= done, timeout=60)
            workers.pop(0).kill()
            workers.append(stack.worker())
        list(sent)
    for worker in workers:
        worker.kill()
    stack.worker()

    def settled() -> bool:
        pending = stack.postgres.query("SELECT count(*) FROM payment WHERE status = 'pending'")[0][0]
        return pending == 0

    assert wait_until(settled, timeout=120, interval=0.25)
    statuses = dict(stack.postgres.query("SELECT id, status FROM payment WHERE id = ANY(%s)", (holds,)))
    assert set(statuses.values()) == {"authorized"} and len(statuses) == 80
    authorized = dict(
        stack.postgres.query(
            "SELECT data::json->>'id', count(*) FROM event WHERE type = 'payment.authorized'"
            " AND data::json->>'id' = ANY(%s) GROUP BY 1",
            (holds,),
        )
    )
    assert authorized == {hold: 1 for hold in holds}
    group_ids = [g["id"] for g in groups]
    outcomes = stack.postgres.query(
        "SELECT g.status, count(p.id), count(p.id) FILTER (WHERE p.status = 'completed') FROM payment_group g"
        " JOIN payment p ON p.group_id = g.id WHERE g.id = ANY(%s) GROUP BY g.id, g.status",
        (group_ids,),
    )
    assert sorted(set(outcomes)) == [("completed", 2, 2)] and len(outcomes) == 80
    held = stack.postgres.query(
        "SELECT b.held FROM balance b JOIN account a ON a.id = b.account_id WHERE a.id = %s", (payer,)
    )[0][0]
    assert held == 80 * 200  # 80 holds of 2.00, in minor units
    assert amounts(api, merchant)["PHP"] == 80 * 3 and amounts(api, fees)["PHP"] == 8
    assert stack.audit_ok()
