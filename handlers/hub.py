"""This web process's end of the event fan-out.

Events arrive from the one Redis subscription of the process (services) or
straight from this process's own commits (embedded), and are handed, on the
IOLoop, to whoever waits for them: requests holding a `Prefer: wait`
response until their payment is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict

import redis.asyncio as aioredis

from tasks.fanout import CHANNEL

log = logging.getLogger(__name__)

FINAL_EVENTS = ("payment.completed", "payment.failed")


class EventHub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._finals: dict[str, set[asyncio.Future]] = defaultdict(set)
        self._task: asyncio.Task | None = None

    def publish_threadsafe(self, frame: dict) -> None:
        """Event sink for commits made in this process (any thread)."""
        self._loop.call_soon_threadsafe(self.dispatch, frame)

    def dispatch(self, frame: dict) -> None:
        if frame["type"] in FINAL_EVENTS:
            for future in self._finals.pop(frame["data"]["id"], ()):
                if not future.done():
                    future.set_result(frame)

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

    def follow_redis(self, url: str) -> None:
        self._task = self._loop.create_task(self._subscribe(url))

    async def _subscribe(self, url: str) -> None:
        while True:
            client = aioredis.Redis.from_url(url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self.dispatch(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event subscription lost; reconnecting", exc_info=True)
                await asyncio.sleep(1)
            finally:
                await client.aclose()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
