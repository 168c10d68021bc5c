"""A sender's read-ahead of the log (`webhooks.feed.EventFeed`) works only
while its sender holds endpoints: one holding none reads nothing and takes
nothing of the relay's batches, and one that takes an endpoint again starts
from the log's head (its lanes read what is older from the log). With
services, the relay's batches published on Redis are taken as they come,
without reading the log."""

from __future__ import annotations

import asyncio
import json

import pytest

from models.event import Frame
from tests.support.environment import CONFIG, required_database_url, required_redis_url
from webhooks.feed import EventFeed


class Log:
    """The event log as the feed reads it: its head, and pages after a seq."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.reads = 0

    def frames_after(self, seq: int) -> list[Frame]:
        return [Frame(n, "payment.completed", ("a",), json.dumps({"seq": n})) for n in range(seq + 1, self.head + 1)]


def feed_on(log: Log, holding: list[bool]) -> EventFeed:
    async def run_db(work):
        return work()

    def after(seq: int, limit: int) -> list[Frame]:
        log.reads += 1
        return log.frames_after(seq)[:limit]

    return EventFeed(run_db, wanted=lambda: holding[0], read_head=lambda: log.head, read_after=after)


def test_a_sender_holding_no_endpoint_reads_nothing_and_takes_no_batch():
    log, holding = Log(head=10), [False]

    async def scenario() -> tuple[int, int]:
        feed = feed_on(log, holding)
        await feed.start()
        following = asyncio.create_task(feed.follow())
        await asyncio.sleep(0.3)
        log.head = 12
        feed.offer_batch(log.frames_after(10))
        await asyncio.sleep(0.3)
        following.cancel()
        return log.reads, feed.head

    reads, head = asyncio.run(scenario())
    assert reads == 0 and head == 10


def test_a_sender_that_takes_an_endpoint_again_starts_from_the_head():
    log, holding = Log(head=10), [False]

    async def scenario() -> tuple[int, int, list[int]]:
        feed = feed_on(log, holding)
        await feed.start()
        following = asyncio.create_task(feed.follow())
        await asyncio.sleep(0.2)
        log.head = 5000  # much happened while it held nothing
        holding[0] = True
        await asyncio.sleep(0.3)
        log.head = 5002
        feed.offer_batch(log.frames_after(5000))
        await asyncio.sleep(0.1)
        following.cancel()
        reads = log.reads
        return reads, feed.head, [frame.seq for frame in await feed.after(5000)]

    reads, head, window = asyncio.run(scenario())
    # The events before it took the endpoint were not read page by page.
    assert reads <= 3 and head == 5002 and window == [5001, 5002]


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.redis_url, reason="the relay's batches travel over Redis with services")
def test_a_batch_the_relay_publishes_is_taken_without_reading_the_log():
    import redis

    from events.fanout import RedisFanout

    fanout = RedisFanout(required_redis_url(), required_database_url() + "-webhook-feed-test")
    client = redis.Redis.from_url(required_redis_url())
    log, holding = Log(head=10), [True]

    async def scenario() -> tuple[int, list[str]]:
        feed = feed_on(log, holding)
        await feed.start()
        listening = asyncio.create_task(feed.listen(required_redis_url(), fanout.events_channel))
        while not dict(client.pubsub_numsub(fanout.events_channel))[fanout.events_channel.encode()]:
            await asyncio.sleep(0.05)
        log.head = 12
        fanout.publish_events(log.frames_after(10))
        for _ in range(100):
            if feed.head == 12:
                break
            await asyncio.sleep(0.05)
        listening.cancel()
        return log.reads, [frame.text for frame in await feed.after(10)]

    reads, texts = asyncio.run(scenario())
    assert reads == 0
    assert texts == [json.dumps({"seq": 11}), json.dumps({"seq": 12})]
