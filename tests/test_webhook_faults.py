"""Webhooks survive faults as settlement does (SPEC section 13): a sender
killed with SIGKILL mid-delivery, then a whole worker with its sender, and
Redis stopped while events flow lose no event and break no endpoint's
order; three workers share the endpoints, each endpoint sent by one at a
time. Receivers record what they got: every event they should get arrives
(at least once, duplicates carrying the same webhook-id), and the first
arrival of each comes in `seq` order with `prev_seq` naming the one before.

On a PostgreSQL and a Redis of the tests' own (`tests.support.faults`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.client import Api
from tests.support.environment import CONFIG, RECEIVER_CERTIFICATE
from tests.support.faults import Stack
from tests.support.receiver import Receiver, assert_in_order
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.skipif(
        not CONFIG.database_url,
        reason="kills worker and sender processes and Redis: embedded mode has none of them",
    ),
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.server,
]


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(count: int, delay: float = 0.0) -> list[Receiver]:
        for _ in range(count):
            made.append(Receiver(RECEIVER_CERTIFICATE, delay=delay))
        return made[-count:]

    yield make
    for receiver in made:
        receiver.stop()


def sender_of(worker: subprocess.Popen) -> int | None:
    """The pid of the webhook sender a worker runs (its child), if one runs."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == worker.pid and b"webhooks" in cmdline:
            return int(entry.name)
    return None


def follow(api: Api, receivers: list[Receiver], account: str) -> list[dict]:
    """One endpoint per receiver, for `account`'s completed payments."""
    made = []
    for receiver in receivers:
        body = {"url": receiver.url, "account": account, "event_types": ["payment.completed"]}
        answer = api.post("/api/v1/webhook-endpoints", body)
        assert answer.status == 201, answer.body
        receiver.secrets = [answer.body["secret"]]
        made.append(answer.body)
    return made


def deposit_until_accepted(api: Api, account: str, n: int) -> str:
    """A deposit, sent again (same Idempotency-Key) after a 503 or a broken connection."""
    for _ in range(200):
        try:
            answer = api.post(
                "/api/v1/deposits",
                {"account": account, "currency": "PHP", "amount": "1.00"},
                headers={"Idempotency-Key": f"webhook-fault-{account}-{n}"},
            )
        except OSError:
            time.sleep(0.2)
            continue
        if answer.status in (200, 201, 202):
            return answer.body["id"]
        assert answer.status == 503, answer.body
        time.sleep(0.2)
    raise AssertionError("deposit never accepted")


def completed_seqs(stack: Stack, payment_ids: list[str]) -> list[int]:
    """The seq of each payment's payment.completed event, once all are numbered."""

    def numbered() -> list[int] | None:
        rows = stack.postgres.query(
            "SELECT seq FROM event WHERE type = 'payment.completed' AND seq IS NOT NULL"
            " AND data::json->>'id' = ANY(%s) ORDER BY seq",
            (payment_ids,),
        )
        return [row[0] for row in rows] if len(rows) == len(payment_ids) else None

    seqs = wait_until(numbered, timeout=90, interval=0.25)
    assert seqs, "not every payment completed"
    return seqs


def assert_all_received_in_order(receivers: list[Receiver], seqs: list[int], timeout: float = 90) -> None:
    for receiver in receivers:
        assert wait_until(lambda r=receiver: {d.seq for d in r.first_arrivals()} >= set(seqs), timeout=timeout), sorted(
            set(seqs) - {d.seq for d in receiver.first_arrivals()}
        )
        firsts = receiver.first_arrivals()
        assert [d.seq for d in firsts] == seqs
        assert_in_order(firsts)
        # A duplicate is the same delivery again: same body, same webhook-id.
        by_id = {d.headers["webhook-id"]: d.body for d in firsts}
        assert all(by_id[d.headers["webhook-id"]] == d.body for d in receiver.got())


def test_a_sender_killed_mid_delivery_then_a_whole_worker_lose_no_event_and_break_no_order(stack, receivers):
    _, api = stack.web()
    workers = [stack.worker(), stack.worker()]
    account = stack.open_account(api)
    hooks = receivers(4, delay=0.02)
    follow(api, hooks, account)
    accepted: list[str] = []
    with ThreadPoolExecutor(4) as pool:
        accepted += pool.map(lambda n: deposit_until_accepted(api, account, n), range(40))
        assert wait_until(lambda: all(len(r.got()) >= 5 for r in hooks), timeout=60)
        # A sender dies mid-delivery; its worker starts another, which takes its endpoints back.
        killed = sender_of(workers[0])
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        accepted += pool.map(lambda n: deposit_until_accepted(api, account, n), range(40, 80))
        assert wait_until(lambda: sender_of(workers[0]) not in (None, killed), timeout=30)
        # Then a whole worker and its sender at once: the other worker's sender
        # takes over once the dead one's heartbeat is old enough.
        dying = sender_of(workers[1])
        workers[1].kill()
        if dying is not None:
            os.kill(dying, signal.SIGKILL)
        accepted += pool.map(lambda n: deposit_until_accepted(api, account, n), range(80, 120))
    seqs = completed_seqs(stack, accepted)
    assert len(seqs) == 120
    assert_all_received_in_order(hooks, seqs)
    assert stack.audit_ok()


def test_events_committed_while_redis_is_down_are_all_delivered_in_order(stack, receivers):
    _, api = stack.web()
    stack.worker()
    account = stack.open_account(api)
    hooks = receivers(2)
    follow(api, hooks, account)
    accepted = [deposit_until_accepted(api, account, n) for n in range(10)]
    stack.redis.kill()
    accepted += [deposit_until_accepted(api, account, n) for n in range(10, 30)]
    stack.redis.start()
    accepted += [deposit_until_accepted(api, account, n) for n in range(30, 40)]
    seqs = completed_seqs(stack, accepted)
    assert_all_received_in_order(hooks, seqs)
    assert stack.audit_ok()


def test_three_workers_share_the_endpoints_and_each_gets_its_events_in_order(stack, receivers):
    _, api = stack.web()
    for _ in range(3):
        stack.worker()
    account = stack.open_account(api)
    hooks = receivers(6, delay=0.01)
    follow(api, hooks, account)

    def shared() -> bool:
        rows = stack.postgres.query(
            "SELECT count(DISTINCT held_by), count(*) FROM webhook_endpoint WHERE state = 'active' AND held_by IS NOT NULL"
        )
        return rows[0][0] == 3 and rows[0][1] >= 6

    assert wait_until(shared, timeout=30), "the endpoints were not shared out by three senders"
    with ThreadPoolExecutor(4) as pool:
        accepted = list(pool.map(lambda n: deposit_until_accepted(api, account, n), range(60)))
    seqs = completed_seqs(stack, accepted)
    assert_all_received_in_order(hooks, seqs)
    # Handing an endpoint over sends nothing twice: its place is recorded first.
    assert all(len(r.got()) == len(seqs) for r in hooks)
    assert stack.audit_ok()
