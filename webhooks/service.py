"""A sender: a thread running an event loop with the dispatcher's lanes,
the log's read-ahead, the recorder, and the heartbeat that keeps this
sender's share of the endpoints (`webhooks.sharing`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from config import Config
from events.fanout import channel_names
from models.dialect import among
from models.retry import read_only, retried_transaction
from models.webhooks import WebhookResend

from . import sharing
from .dispatcher import Dispatcher

log = logging.getLogger(__name__)


def pending_resends(endpoint_ids: list[str]) -> list[WebhookResend]:
    """Resends asked for and not done yet, oldest first, through their
    (endpoint, done_at, id) index."""
    if not endpoint_ids:
        return []
    query = WebhookResend.select().where(among(WebhookResend.endpoint, endpoint_ids) & WebhookResend.done_at.is_null())
    return list(query.order_by(WebhookResend.id).limit(100))


class WebhookService:
    def __init__(self, config: Config, owner: str) -> None:
        self._config = config
        self._owner = owner
        self._dead_after = sharing.dead_after(config.webhook_timeout)
        self._executor = ThreadPoolExecutor(3, thread_name_prefix="webhooks-db")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait(30)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._executor.shutdown(wait=False)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run_db(self, work: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        lease = sharing.Lease()
        dispatcher = Dispatcher(self._config, self._run_db, lease)
        background: list[asyncio.Task] = []
        try:
            dispatcher.sender_id = await self._register()
            if not dispatcher.sender_id:
                return
            await dispatcher.feed.start()
            background = [
                asyncio.create_task(dispatcher.feed.follow(), name="webhooks-feed"),
                *self._subscription(dispatcher),
                asyncio.create_task(dispatcher.record_continuously(), name="webhooks-recorder"),
                asyncio.create_task(self._keep_share(dispatcher, lease), name="webhooks-share"),
            ]
            log.info("webhook sender %d started", dispatcher.sender_id)
            self._started.set()
            await self._stop.wait()
        finally:
            self._started.set()
            for task in background:
                task.cancel()
            await dispatcher.drop(list(dispatcher.lanes))
            dispatcher.resolver_threads.shutdown(wait=False)
            if dispatcher.sender_id:
                with contextlib.suppress(Exception):
                    await self._run_db(
                        functools.partial(retried_transaction, lambda: sharing.retire(dispatcher.sender_id))
                    )

    def _subscription(self, dispatcher: Dispatcher) -> list[asyncio.Task]:
        """With services: the relay's batches, as they are published."""
        config = self._config
        if not config.redis_url or not config.database_url:
            return []
        channel = channel_names(config.database_url)[1]
        return [asyncio.create_task(dispatcher.feed.listen(config.redis_url, channel), name="webhooks-events")]

    async def _register(self) -> int:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                return await self._run_db(lambda: retried_transaction(lambda: sharing.register(self._owner)))
            except Exception:
                log.warning("webhook sender cannot register; trying again", exc_info=True)
                await asyncio.sleep(1)
        return 0

    async def _keep_share(self, dispatcher: Dispatcher, lease: sharing.Lease) -> None:
        """Every second: beat, and run exactly the lanes of this sender's share."""
        while True:
            try:
                await self._beat(dispatcher, lease)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("webhook sender heartbeat failed", exc_info=True)
            if not lease.valid and dispatcher.lanes:
                log.warning("webhook sender %d lost its lease: stopping its lanes", dispatcher.sender_id)
                await dispatcher.drop(list(dispatcher.lanes))
            await asyncio.sleep(sharing.HEARTBEAT_SECONDS)

    async def _beat(self, dispatcher: Dispatcher, lease: sharing.Lease) -> None:
        sender_id = dispatcher.sender_id
        share = await self._run_db(lambda: retried_transaction(lambda: sharing.beat(sender_id, self._dead_after)))
        if share is None:
            log.warning("webhook sender %d was taken for dead: starting again", sender_id)
            await dispatcher.drop(list(dispatcher.lanes))
            dispatcher.sender_id = await self._register()
            return
        lease.renew()
        held = {row.id for row in share.endpoints}
        await dispatcher.drop([i for i in dispatcher.lanes if i not in held])
        dispatcher.hold(share.endpoints)
        if share.excess:
            excess = sorted(held)[-share.excess :]
            await dispatcher.drop(excess)
            await self._run_db(lambda: retried_transaction(lambda: sharing.release(sender_id, excess)))
        resends = await self._run_db(lambda: read_only(lambda: pending_resends(sorted(held))))
        for resend in resends:
            lane = dispatcher.lanes.get(resend.endpoint_id)
            if lane is not None:
                lane.add_resend(resend)
