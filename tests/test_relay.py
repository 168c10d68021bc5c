"""Who numbers events, and how commits tell them: the relay's leadership
(a worker before a web process) and the coalesced post-commit signals."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from config import redis_client
from events.fanout import RedisFanout, frames_message, read_frames
from events.signals import Coalesced, Courier
from models.event import Frame
from tests.support.environment import CONFIG, required_database_url, required_redis_url
from tests.support.waiting import wait_until


def test_every_signal_is_followed_by_a_send_that_starts_after_it():
    calls = 0
    seen_at_start: list[int] = []
    lock = threading.Lock()

    def send():
        with lock:
            seen_at_start.append(calls)
        time.sleep(0.005)

    signal = Coalesced(send, "test-signal")

    def burst():
        nonlocal calls
        for _ in range(500):
            with lock:
                calls += 1
            signal()

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The last call is answered by a send that saw every call before it...
    assert wait_until(lambda: seen_at_start and seen_at_start[-1] == 2000, timeout=5)
    # ...and a burst of calls costs a few sends, not one each.
    assert len(seen_at_start) < 2000 / 4


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.redis_url, reason="wakes travel over Redis with services")
def test_only_a_process_whose_relay_leads_listens_for_wakes():
    import redis

    from events.fanout import RedisFanout

    fanout = RedisFanout(required_redis_url(), required_database_url() + "-wakes-test")
    client = redis.Redis.from_url(required_redis_url())

    def listeners() -> int:
        return dict(client.pubsub_numsub(fanout.wake_channel))[fanout.wake_channel.encode()]

    leads, woken, stop = threading.Event(), threading.Event(), threading.Event()
    thread = fanout.follow_wakes(woken.set, stop, leading=leads.is_set)
    try:
        time.sleep(0.6)
        # A follower hears none of the wakes every commit sends.
        assert listeners() == 0
        leads.set()
        assert wait_until(lambda: listeners() == 1, timeout=5)
        fanout.wake_relay()
        assert woken.wait(5)
        leads.clear()
        assert wait_until(lambda: listeners() == 0, timeout=5)
    finally:
        stop.set()
        thread.join(5)


def test_signals_due_together_are_sent_together_by_one_thread():
    courier = Courier("test-courier")
    sent: list[tuple[str, str]] = []
    release = threading.Event()

    def send(name: str):
        def sending():
            if name == "first":
                release.wait(5)
            sent.append((name, threading.current_thread().name))

        return sending

    first, second, third = (Coalesced(send(n), n, courier) for n in ("first", "second", "third"))
    first()
    time.sleep(0.05)  # the courier is now sending `first`, held up
    third()
    second()
    third()
    release.set()
    assert wait_until(lambda: len(sent) == 3, timeout=5)
    # One send each for the calls made meanwhile, in the order first called.
    assert sent == [("first", "test-courier"), ("third", "test-courier"), ("second", "test-courier")]
    time.sleep(0.05)
    assert len(sent) == 3


def test_a_flush_sends_what_is_still_due():
    sent = []
    signal = Coalesced(lambda: sent.append(1), "test-flush")
    signal.flush()
    assert sent == []
    signal._due.set()  # due, and the sending thread not yet started
    signal.flush()
    assert sent == [1]


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """A database of its own: advisory locks are per database, and the
    session's workers hold the relay of CONFIG's."""
    import psycopg2

    url = urlparse(required_database_url())
    name = url.path.lstrip("/") + "_relay"
    admin = psycopg2.connect(required_database_url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    yield url._replace(path=f"/{name}").geturl()
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.mark.services
@pytest.mark.skipif(
    not CONFIG.database_url, reason="leadership is a PostgreSQL advisory lock; embedded has one process"
)
def test_a_worker_takes_the_relay_from_a_web_process_and_gives_it_back_when_it_goes(scratch_database):
    from events.relay import Leadership

    web = Leadership(scratch_database)
    worker = Leadership(scratch_database, worker=True)
    other_worker = Leadership(scratch_database, worker=True)
    try:
        assert web.hold(), "with no worker running, a web process relays"
        assert not worker.hold(), "one leader at a time"
        assert wait_until(lambda: not web.hold(), timeout=5), "the web process hands the relay back"
        assert wait_until(worker.hold, timeout=5)
        assert not other_worker.hold() and not web.hold()
        worker.release()  # the worker's process ends: its connection, and both its locks, go
        assert wait_until(other_worker.hold, timeout=5), "another worker takes over"
        other_worker.release()
        assert wait_until(web.hold, timeout=5), "with every worker gone, a web process relays again"
    finally:
        for leadership in (web, worker, other_worker):
            leadership.release()


@pytest.mark.services
@pytest.mark.skipif(
    not CONFIG.database_url, reason="concurrent relays need PostgreSQL; SQLite has one writer at a time"
)
@pytest.mark.server  # relays racing in a process of their own
def test_relays_numbering_at_once_give_each_event_one_number_and_never_renumber(scratch_database):
    # What a relay whose lock connection died mid-round may do: number
    # events while its successor does too. Each event must still get one
    # number, the one it was published with, and the log stay gapless.
    import json
    import os
    import subprocess
    import sys

    from tests.support.environment import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "tests.support.relay_race"],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=scratch_database),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.splitlines()[-1])
    returned = [tuple(pair) for pair in result["returned"]]
    stored = [tuple(pair) for pair in result["stored"]]
    assert len(stored) == result["expected"], "every event committed is in the log"
    assert [seq for seq, _ in stored] == list(range(1, len(stored) + 1)), "gapless, from 1"
    assert returned == stored, "each published once, with the number it keeps"


FRAMES = [
    Frame(
        7,
        "payment.completed",
        ("acct-a", "acct-b"),
        '{"seq":7,"data":{"note":"line\\nbreak \\u00e9 \\"q\\""}}',
        "req-1",
    ),
    Frame(8, "account.created", ("acct-c",), '{"seq":8,\n"data":{"note":"\u00e9 said plainly"}}', None),
    Frame(9, "currency.created", (), '{"seq":9}', None),
]


def test_published_frames_reach_a_subscriber_as_they_were_made():
    # The second frame's text has a line break between its members and a
    # raw non-ASCII letter (JSON allows both): it arrives as the same JSON.
    message = frames_message(FRAMES)
    received = read_frames(message.encode())
    assert [(f.seq, f.type, f.accounts, f.request_id) for f in received] == [
        (f.seq, f.type, f.accounts, f.request_id) for f in FRAMES
    ]
    assert [json.loads(f.text) for f in received] == [json.loads(f.text) for f in FRAMES]
    assert received[0].text == FRAMES[0].text and received[2].text == FRAMES[2].text


@pytest.mark.skipif(not CONFIG.redis_url, reason="frames travel over Redis with services only")
def test_frames_published_on_redis_arrive_whole_in_one_message():
    fanout = RedisFanout(required_redis_url(), "postgresql://nowhere/" + uuid.uuid4().hex)
    subscriber = redis_client(required_redis_url()).pubsub()
    subscriber.subscribe(fanout.events_channel)
    assert subscriber.get_message(timeout=2)["type"] == "subscribe"
    fanout.publish_events(FRAMES)
    message = subscriber.get_message(timeout=2)
    subscriber.close()
    assert [f.seq for f in read_frames(message["data"])] == [7, 8, 9]


@pytest.mark.skipif(not CONFIG.redis_url, reason="frames travel over Redis with services only")
def test_a_large_numbered_batch_is_published_in_messages_of_at_most_500_frames_in_order():
    """A subscriber never holds a whole relay round (thousands of frames)
    at once."""
    fanout = RedisFanout(required_redis_url(), "postgresql://nowhere/" + uuid.uuid4().hex)
    subscriber = redis_client(required_redis_url()).pubsub()
    subscriber.subscribe(fanout.events_channel)
    assert subscriber.get_message(timeout=2)["type"] == "subscribe"
    batch = [Frame(seq, "payment.completed", ("acct-a",), f'{{"seq":{seq}}}', None) for seq in range(1, 1202)]
    fanout.publish_events(batch)
    messages = [subscriber.get_message(timeout=2) for _ in range(3)]
    assert subscriber.get_message(timeout=0.5) is None, "three messages, no more"
    subscriber.close()
    received = [[f.seq for f in read_frames(message["data"])] for message in messages]
    assert [len(seqs) for seqs in received] == [500, 500, 201]
    assert [seq for seqs in received for seq in seqs] == list(range(1, 1202))


def test_a_payment_events_trace_names_its_payment_whoever_made_it():
    actor = json.dumps({"type": "token", "id": "tok_1", "name": 'sly "data":{"id":"pay_fake"'}, separators=(",", ":"))
    text = f'{{"seq":3,"type":"payment.completed","created_at":"2026-01-01T00:00:00.000000Z","actor":{actor},"data":{{"id":"pay_real","amount":"1.00"}}}}'
    assert Frame(3, "payment.completed", (), text, "req-9").trace() == {"request_id": "req-9", "payment_id": "pay_real"}
    assert Frame(4, "account.created", (), '{"seq":4,"data":{"id":"acct"}}', None).trace()["payment_id"] is None
