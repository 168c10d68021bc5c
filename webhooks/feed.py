"""The event log, read ahead once for all the lanes of a sender.

One reader follows the log's head, a page at a time through the index on
`seq`, and keeps the newest events in a window: a lane at the head takes
its next events from there, without a query. A lane further behind (one
just taken over, or back from a long failure) reads its own pages of the
log until it reaches the window. Nothing is ever read per delivery.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable
from typing import Any

from models.event import Event, Frame, frames_after
from models.retry import read_only

# What the reader takes from the log at a time, and what a lane takes at a
# time (from the window, or from the log when it is behind it).
PAGE = 1000
LANE_PAGE = 200
WINDOW = 4000
POLL_SECONDS = 0.05

# Runs blocking database work off the event loop.
RunDb = Callable[[Callable[[], Any]], Awaitable[Any]]


class EventFeed:
    def __init__(self, run_db: RunDb, poll_seconds: float = POLL_SECONDS) -> None:
        self._run_db = run_db
        self._poll = poll_seconds
        self._frames: list[Frame] = []
        self._head = 0  # the newest seq read
        self._start = 0  # the window holds the events after this seq
        self._grown = asyncio.Event()

    async def start(self) -> None:
        self._head = self._start = await self._run_db(lambda: read_only(Event.head))

    @property
    def head(self) -> int:
        return self._head

    async def follow(self) -> None:
        """Read new events as they are numbered, until cancelled."""
        while True:
            try:
                frames = await self._run_db(lambda: read_only(lambda: frames_after(self._head, PAGE)))
            except Exception:
                frames = []
                await asyncio.sleep(1)
            if frames:
                self._frames.extend(frames)
                self._head = frames[-1].seq
                if len(self._frames) > 2 * WINDOW:
                    dropped = len(self._frames) - WINDOW
                    self._start = self._frames[dropped - 1].seq
                    del self._frames[:dropped]
                self._grown.set()
                self._grown = asyncio.Event()
            if len(frames) < PAGE:
                await asyncio.sleep(self._poll)

    async def after(self, seq: int) -> list[Frame]:
        """Events after `seq`, oldest first: from the window when it covers
        them, else a page read from the log. Empty at the head."""
        if seq >= self._start:
            index = bisect.bisect_right(self._frames, seq, key=lambda frame: frame.seq)
            return self._frames[index : index + LANE_PAGE]
        return await self._run_db(lambda: read_only(lambda: frames_after(seq, LANE_PAGE)))

    async def wait_past(self, seq: int) -> None:
        """Return once an event after `seq` has been read."""
        while self._head <= seq:
            await self._grown.wait()
