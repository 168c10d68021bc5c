"""The event log, read ahead once for all the lanes of a sender.

One reader follows the log's head, a page at a time through the index on
`seq`, and keeps the newest events in a window: a lane at the head takes
its next events from there, without a query. A lane further behind (one
just taken over, or back from a long failure) reads its own pages of the
log until it reaches the window. Nothing is ever read per delivery.

With services the relay publishes each numbered batch on Redis: a batch
that follows the window's newest event is taken as it is, without reading
the log, and any other wakes the reader at once. Pub/sub may drop a batch;
the reader still looks at the log between them, so nothing depends on it.

All of it only while the sender holds an endpoint: with many workers, most
senders hold none, and they neither read the log nor decode the relay's
batches. One that takes an endpoint again starts its window at the log's
head; its lanes read anything older from the log themselves.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio

from config import async_redis_client
from events.fanout import frames_subscription, read_frames
from models.event import Event, Frame, frames_after
from models.retry import read_only

log = logging.getLogger(__name__)

# What the reader takes from the log at a time, and what a lane takes at a
# time (from the window, or from the log when it is behind it).
PAGE = 1000
LANE_PAGE = 200
WINDOW = 4000
POLL_SECONDS = 0.05
# How often the log is looked at while the relay's batches arrive by Redis.
SUBSCRIBED_POLL_SECONDS = 0.5

# Runs blocking database work off the event loop.
RunDb = Callable[[Callable[[], Any]], Awaitable[Any]]


def log_head() -> int:
    return read_only(Event.head)


def log_after(seq: int, limit: int) -> list[Frame]:
    return read_only(lambda: frames_after(seq, limit))


class EventFeed:
    def __init__(
        self,
        run_db: RunDb,
        wanted: Callable[[], bool],
        read_head: Callable[[], int] = log_head,
        read_after: Callable[[int, int], list[Frame]] = log_after,
    ) -> None:
        """`wanted`: whether the sender holds an endpoint now. `read_head`
        and `read_after`: the log's head, and its frames after a seq (at
        most so many), read blocking (on `run_db`)."""
        self._run_db = run_db
        self._wanted = wanted
        self._read_head = read_head
        self._read_after = read_after
        self._idle = False
        self._frames: list[Frame] = []
        self._head = 0  # the newest seq read
        self._start = 0  # the window holds the events after this seq
        self._grown = asyncio.Event()
        self._nudged = asyncio.Event()
        self._subscribed = False

    async def start(self) -> None:
        """Start the window at the log's head."""
        self._head = self._start = await self._run_db(self._read_head)
        self._frames = []
        # Lanes waiting for the old head look again (`wait_past`).
        self._grown.set()
        self._grown = asyncio.Event()

    @property
    def head(self) -> int:
        return self._head

    async def follow(self) -> None:
        """Read new events as they are numbered, until cancelled."""
        while True:
            if not self._wanted():
                self._idle = True
                await asyncio.sleep(SUBSCRIBED_POLL_SECONDS)
                continue
            try:
                if self._idle:
                    await self.start()
                    self._idle = False
                frames = await self._run_db(lambda: self._read_after(self._head, PAGE))
            except Exception:
                frames = []
                await asyncio.sleep(1)
            self._extend(frames)
            if len(frames) < PAGE:
                self._nudged.clear()
                poll = SUBSCRIBED_POLL_SECONDS if self._subscribed else POLL_SECONDS
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), poll)

    def _extend(self, frames: list[Frame]) -> None:
        if not frames or frames[-1].seq <= self._head:
            return
        frames = [frame for frame in frames if frame.seq > self._head]
        self._frames.extend(frames)
        self._head = frames[-1].seq
        if len(self._frames) > 2 * WINDOW:
            dropped = len(self._frames) - WINDOW
            self._start = self._frames[dropped - 1].seq
            del self._frames[:dropped]
        self._grown.set()
        self._grown = asyncio.Event()

    async def listen(self, redis_url: str, channel: str) -> None:
        """Take the relay's published batches, until cancelled."""
        while True:
            client = async_redis_client(redis_url, socket_connect_timeout=2)
            try:
                async with frames_subscription(client) as pubsub:
                    await pubsub.subscribe(channel)
                    self._subscribed = True
                    async for message in pubsub.listen():
                        if message["type"] == "message" and not self._idle:
                            self.offer_batch(read_frames(message["data"]))
            except (redis.RedisError, OSError):
                log.warning("webhook sender lost its Redis subscription; reading the log meanwhile")
            finally:
                self._subscribed = False
                await client.aclose()
            await asyncio.sleep(1)

    def offer_batch(self, frames: list[Frame]) -> None:
        """A published batch: taken if it follows the newest event read,
        else the log is read now (nothing while the sender holds no endpoint)."""
        if self._idle:
            return
        if frames and frames[0].seq == self._head + 1:
            self._extend(frames)
        elif frames and frames[-1].seq > self._head:
            self._nudged.set()

    async def after(self, seq: int) -> list[Frame]:
        """Events after `seq`, oldest first: from the window when it covers
        them, else a page read from the log. Empty at the head."""
        if seq >= self._start:
            index = bisect.bisect_right(self._frames, seq, key=lambda frame: frame.seq)
            return self._frames[index : index + LANE_PAGE]
        return await self._run_db(lambda: self._read_after(seq, LANE_PAGE))

    async def wait_past(self, seq: int) -> None:
        """Return once an event after `seq` has been read."""
        while self._head <= seq:
            await self._grown.wait()
