"""This web process's view of the event log's tail, kept contiguous.

Numbered events arrive from the relay: over Redis pub/sub with services, by a
direct call when embedded. The hub keeps the newest ones in a ring, in `seq`
order with no gaps: an event whose `seq` is not head+1 means something was
missed (a dropped pub/sub message, a reconnect), and the hub reads the gap
from the database before going on. Feed connections (`handlers.stream`) are
handed the new events they follow (`web.followers`), and read the ring, or
the database when they are further behind than it reaches, to catch up;
requests waiting for a payment's outcome (`Prefer: wait`) are answered from
here too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict, deque
from concurrent.futures import Executor
from itertools import islice

from config import async_redis_client
from events.fanout import frames_subscription, read_frames
from models.event import Event, Frame, frames_after
from models.retry import read_only

from .followers import Follower, FollowerIndex

log = logging.getLogger(__name__)

# What ends a settlement, and whose id the event's data has: a payment's
# (for a hold, its authorization), or a payment group's.
FINAL_EVENTS = (
    "payment.authorized",
    "payment.completed",
    "payment.failed",
    "payment_group.completed",
    "payment_group.failed",
)
# The newest frames kept in memory (about 1.5-2.5 KB each: 10 s of events
# at 500 a second); a reader further behind reads the log, in pages of
# CATCH_UP_PAGE. 20,000 frames held 35-50 MB of a web process, and followers
# were no faster for it (docs/performance-history.md, items 59 and 62).
RING_SIZE = 5_000
CATCH_UP_PAGE = 2_000
SAFETY_CHECK_SECONDS = 2.0


def frames_from_log(after: int, limit: int) -> list[Frame]:
    """Numbered events after `after`, read from the database (blocking)."""
    return read_only(lambda: frames_after(after, limit))


class EventHub:
    def __init__(self, loop: asyncio.AbstractEventLoop, executor: Executor) -> None:
        self._loop = loop
        self._executor = executor
        self.head = 0
        self._ring: deque[Frame] = deque(maxlen=RING_SIZE)
        self._inbox: asyncio.Queue[list[Frame] | None] = asyncio.Queue()
        self._followers = FollowerIndex()
        self._finals: dict[str, set[asyncio.Future]] = defaultdict(set)
        self._tasks: list[asyncio.Task] = []

    async def start(self, redis_url: str | None = None, events_channel: str | None = None) -> None:
        """Start from the log's current head; follow Redis if given."""
        self.head = await self._loop.run_in_executor(self._executor, lambda: read_only(Event.head))
        self._tasks.append(self._loop.create_task(self._process()))
        self._tasks.append(self._loop.create_task(self._safety_net()))
        if redis_url:
            assert events_channel is not None, "following Redis needs the events channel"
            self._tasks.append(self._loop.create_task(self._subscribe(redis_url, events_channel)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Bounded: closing a Redis subscription can hang (redis-py), and a
        # web process must still stop when told to.
        await asyncio.wait(self._tasks, timeout=3)

    # -- input ---------------------------------------------------------------

    def receive_threadsafe(self, frames: list[Frame]) -> None:
        """The embedded relay's publisher (called from its thread)."""
        self._loop.call_soon_threadsafe(self._inbox.put_nowait, frames)

    async def _subscribe(self, url: str, channel: str) -> None:
        while True:
            client = async_redis_client(url)
            try:
                async with frames_subscription(client) as pubsub:
                    await pubsub.subscribe(channel)
                    # Whatever was published while we were not listening:
                    self._inbox.put_nowait(None)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._inbox.put_nowait(read_frames(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event subscription lost; reconnecting", exc_info=True)
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    async def _safety_net(self) -> None:
        # Pub/sub gives no delivery guarantee: look at the log now and then.
        while True:
            await asyncio.sleep(SAFETY_CHECK_SECONDS)
            self._inbox.put_nowait(None)

    async def _process(self) -> None:
        while True:
            frames = await self._inbox.get()
            try:
                if frames is None:
                    await self._catch_up()
                    continue
                for frame in frames:
                    if frame.seq > self.head + 1:
                        await self._catch_up(until=frame.seq - 1)
                    if frame.seq == self.head + 1:
                        self._append(frame)
                self._followers.wake_followers_of_everything()
            except Exception:
                log.exception("could not follow the event log; retrying")
                await asyncio.sleep(0.5)
                self._inbox.put_nowait(None)

    async def _catch_up(self, until: int | None = None) -> None:
        while until is None or self.head < until:
            head = self.head
            frames = await self._loop.run_in_executor(self._executor, frames_from_log, head, CATCH_UP_PAGE)
            for frame in frames:
                if frame.seq == self.head + 1:
                    self._append(frame)
            self._followers.wake_followers_of_everything()
            if len(frames) < CATCH_UP_PAGE:
                return

    def _append(self, frame: Frame) -> None:
        self._ring.append(frame)
        self.head = frame.seq
        if self._finals and frame.type in FINAL_EVENTS:
            payment_id = json.loads(frame.text)["data"]["id"]
            for future in self._finals.pop(payment_id, ()):
                if not future.done():
                    future.set_result(frame)
        self._followers.hand(frame)

    # -- output --------------------------------------------------------------

    def follow(self, follower: Follower) -> None:
        """Hand `follower` every later event it wants (wake it once per batch
        if it follows everything), until `unfollow`."""
        self._followers.add(follower)

    def unfollow(self, follower: Follower) -> None:
        self._followers.remove(follower)

    def frames_after(self, seq: int, limit: int) -> list[Frame] | None:
        """Up to `limit` frames after `seq` from memory, or None when `seq` is
        older than the ring reaches (read the log instead)."""
        if seq >= self.head:
            return []
        if not self._ring or seq + 1 < self._ring[0].seq:
            return None
        # Walked from the nearer end: a reader keeping up is a few frames
        # from the head, and a deque is walked one element at a time.
        behind = self.head - seq
        if behind <= len(self._ring) // 2:
            recent = list(islice(reversed(self._ring), behind))
            recent.reverse()
            return recent[:limit]
        start = len(self._ring) - behind
        return list(islice(self._ring, start, start + limit))

    def final_of(self, payment_id: str) -> asyncio.Future:
        """A future resolved with the payment's completed/failed event.
        Take it *before* reading the payment's status, so that a settlement
        committing in between cannot be missed."""
        future = self._loop.create_future()
        self._finals[payment_id].add(future)
        return future

    def forget(self, payment_id: str, future: asyncio.Future) -> None:
        waiters = self._finals.get(payment_id)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                del self._finals[payment_id]
