"""Sending events to the endpoints this sender holds: one lane per endpoint.

Each lane is an asyncio task with its own connection, so an endpoint that
fails, answers slowly or hangs delays nobody but itself. A lane sends its
endpoint's events in `seq` order, the next one only once the previous got
a 2xx or was given up (retried with exponential backoff until
`webhook_give_up_seconds` after its first attempt). An endpoint failing
for `webhook_disable_seconds` is disabled, with a `webhook_endpoint.disabled`
event.

Each delivery's body is the event's feed frame, made once per event by the
relay, with `prev_seq` (the previous event sent to this endpoint) put in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple

from prometheus_client import Counter

from config import Config
from models.connection import utcnow
from models.destinations import Destination, check_url
from models.errors import ApiError
from models.event import Frame
from models.retry import read_only, retried_transaction
from models.webhooks import (
    ALL_TYPES,
    DELIVERED,
    FAILED,
    GIVEN_UP,
    LOGGED_ANSWER_BYTES,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookResend,
    disable_for_failures,
)

from .feed import EventFeed, RunDb
from .http import DeliveryError, EndpointClient, tls_context
from .recorder import Recorder
from .sharing import Lease
from .signing import Signer, webhook_id

log = logging.getLogger(__name__)

RESOLVER_THREADS = 32
ATTEMPTS = Counter("gateway_webhook_attempts", "Webhook delivery attempts by outcome", ["outcome"])
# The counter of each outcome, found once rather than at every attempt.
ATTEMPTS_BY_OUTCOME = {outcome: ATTEMPTS.labels(outcome) for outcome in (DELIVERED, FAILED, GIVEN_UP)}


def with_prev_seq(frame: Frame, prev_seq: int) -> bytes:
    """The delivery's body: the frame `{"seq":N,...}` with `"prev_seq"` after `seq`."""
    head = f'{{"seq":{frame.seq},'
    assert frame.text.startswith(head)
    return f'{head}"prev_seq":{prev_seq},{frame.text[len(head) :]}'.encode()


def backoff(failures: int, first: float, give_up: float) -> float:
    """The wait after the `failures`-th failed attempt: doubling from
    `first`, at most a twelfth of the time before giving up (6 hours of 3
    days), with a little jitter so endpoints failing together spread out."""
    ceiling = max(first, give_up / 12)
    return min(first * 2 ** (failures - 1), ceiling) * random.uniform(0.9, 1.1)


class Resumed(NamedTuple):
    """The attempts already made for the event a lane starts on (a sender
    taking over mid-retry goes on counting from there)."""

    seq: int
    attempts: int
    first_at: datetime


def resumed_attempts(endpoint_id: str, after_seq: int) -> Resumed | None:
    """The event after `after_seq` already attempted for this endpoint, if
    any: its (endpoint, seq) index gives it and its attempts."""
    first = (
        WebhookAttempt.select(WebhookAttempt.seq)
        .where((WebhookAttempt.endpoint == endpoint_id) & (WebhookAttempt.seq > after_seq) & ~WebhookAttempt.manual)
        .order_by(WebhookAttempt.seq, WebhookAttempt.id)
        .first()
    )
    if first is None:
        return None
    tried = list(
        WebhookAttempt.select(WebhookAttempt.at).where(
            (WebhookAttempt.endpoint == endpoint_id) & (WebhookAttempt.seq == first.seq) & ~WebhookAttempt.manual
        )
    )
    return Resumed(first.seq, len(tried), min(a.at for a in tried))


class LaneEnded(Exception):
    """The lane's endpoint was disabled for its failures."""


class Lane:
    def __init__(self, dispatcher: Dispatcher, row: WebhookEndpoint) -> None:
        self.d = dispatcher
        self.id = row.id
        self.delivered = row.delivered_seq
        self.cursor = self.recorded_cursor = row.cursor_seq
        self.failing_since: datetime | None = row.failing_since
        self.resends: deque[WebhookResend] = deque()
        # The next events after `cursor`, a page of them read at once.
        self._ahead: deque[Frame] = deque()
        self._resend_ids: set[int] = set()
        self._poked = asyncio.Event()
        self.client = EndpointClient(
            dispatcher.tls,
            dispatcher.config.webhook_allow_private,
            dispatcher.timeout,
            resolver_threads=dispatcher.resolver_threads,
        )
        self.update(row)
        self.task = asyncio.get_running_loop().create_task(self.run(), name=f"webhook-lane-{row.id}")

    def update(self, row: WebhookEndpoint) -> None:
        """The endpoint as last read: URL, filter and secrets may change."""
        self.row = row
        types = row.types
        self.types = None if ALL_TYPES in types else frozenset(types)
        self.account = row.account
        # Made again for the next attempt: the secrets may have changed.
        self._signer, self._signer_second = Signer(()), -1
        try:
            self.destination: Destination | None = check_url(row.url, True, resolve=None)
        except ApiError:
            self.destination = None

    def add_resend(self, resend: WebhookResend) -> None:
        if resend.id not in self._resend_ids:
            self._resend_ids.add(resend.id)
            self.resends.append(resend)
            self._poked.set()

    def wants(self, frame: Frame) -> bool:
        if self.types is not None and frame.type not in self.types:
            return False
        return self.account is None or self.account in frame.accounts

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        self.client.close()

    async def run(self) -> None:
        try:
            resumed = await self.d.run_db(lambda: read_only(lambda: resumed_attempts(self.id, self.cursor)))
            while True:
                while self.resends:
                    await self._resend(self.resends.popleft())
                frame = await self._next_frame()
                if frame is not None:
                    await self._deliver(frame, resumed if resumed and resumed.seq == frame.seq else None)
                    resumed = None
        except LaneEnded:
            log.warning("webhook endpoint %s disabled after failing too long", self.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook lane %s failed; it starts again at the next heartbeat", self.id)
        finally:
            self.d.lane_ended(self)

    async def _next_frame(self) -> Frame | None:
        """The next event this endpoint wants, or None when a resend came first."""
        while not self.resends:
            while self._ahead:
                frame = self._ahead.popleft()
                if frame.seq <= self.cursor:
                    continue
                if self.wants(frame):
                    return frame
                self.cursor = frame.seq
            frames = await self.d.feed.after(self.cursor)
            if frames:
                self._ahead.extend(frames)
                continue
            if self.cursor != self.recorded_cursor:
                self._record_place()
            self._poked.clear()
            waiting = asyncio.ensure_future(self.d.feed.wait_past(self.cursor))
            poked = asyncio.ensure_future(self._poked.wait())
            try:
                await asyncio.wait((waiting, poked), return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                poked.cancel()
        return None

    def _record_place(self) -> None:
        self.recorded_cursor = self.cursor
        self.d.recorder.place(self.id, self.delivered, self.cursor)

    async def _deliver(self, frame: Frame, resumed: Resumed | None) -> None:
        config = self.d.config
        body = with_prev_seq(frame, self.delivered)
        message_id = webhook_id(self.id, frame.seq)
        attempts = resumed.attempts if resumed else 0
        first_at = resumed.first_at if resumed else None
        while True:
            await self.d.lease_valid()
            attempts += 1
            ok, row = await self._attempt(frame.seq, self.delivered, message_id, body, attempts)
            self._trace(frame, row)
            now = row["at"]
            first_at = first_at or now
            if ok:
                self._log(row)
                self.delivered = self.cursor = frame.seq
                self._record_place()
                if self.failing_since is not None:
                    self.failing_since = None
                    self.d.recorder.failing(self.id, None)
                return
            if self.failing_since is None:
                self.failing_since = now
                self.d.recorder.failing(self.id, now)
            given_up = (now - first_at).total_seconds() >= config.webhook_give_up_seconds
            row["outcome"] = GIVEN_UP if given_up else FAILED
            self._log(row)
            if given_up:
                self.delivered = self.cursor = frame.seq
                self._record_place()
            if (now - self.failing_since).total_seconds() >= config.webhook_disable_seconds:
                await self.d.flush()
                await self.d.run_db(
                    lambda: retried_transaction(lambda: disable_for_failures(self.id, self.d.sender_id))
                )
                raise LaneEnded
            if given_up:
                return
            await self._wait_to_retry(backoff(attempts, config.webhook_retry_seconds, config.webhook_give_up_seconds))

    async def _wait_to_retry(self, delay: float) -> None:
        """Wait `delay` seconds before the next attempt, unless an admin asks
        for a resend: it is sent at once, and the event under way is tried
        again right after it."""
        self._poked.clear()
        if not self.resends:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), delay)
        while self.resends:
            await self._resend(self.resends.popleft())

    async def _resend(self, resend: WebhookResend) -> None:
        frames = await self.d.feed.after(resend.seq - 1)
        if frames and frames[0].seq == resend.seq:
            await self.d.lease_valid()
            body = with_prev_seq(frames[0], resend.prev_seq)
            ok, row = await self._attempt(resend.seq, resend.prev_seq, webhook_id(self.id, resend.seq), body, 1)
            self._trace(frames[0], row)
            row["manual"] = True
            self._log(row)
        self.d.recorder.resend_done(resend.id)

    def _trace(self, frame: Frame, row: dict) -> None:
        """The attempt's line in the process log, with its payment's trace
        (`request_id`, `payment_id`)."""
        if log.isEnabledFor(logging.INFO):
            log.info(
                "webhook %s attempt %d of event %d to endpoint %s: %s",
                row["webhook_id"],
                row["attempt"],
                frame.seq,
                self.id,
                row["status_code"] or row["error"],
                extra=frame.trace(),
            )

    def _log(self, row: dict) -> None:
        ATTEMPTS_BY_OUTCOME[row["outcome"]].inc()
        self.d.recorder.attempt(row)

    async def _attempt(self, seq: int, prev_seq: int, message_id: str, body: bytes, number: int) -> tuple[bool, dict]:
        """One POST; whether it got a 2xx, and its line for the log."""
        status = response = error = None
        started = time.perf_counter()
        if self.destination is None:
            error = "the URL is not valid"
        else:
            stamp = int(time.time())
            headers = {
                "webhook-id": message_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": self._signer_at(stamp).header(message_id, stamp, body),
            }
            try:
                answer = await self.client.post(self.destination, headers, body)
                status = answer.status
                response = answer.body[:LOGGED_ANSWER_BYTES].decode("utf-8", "replace")
            except DeliveryError as problem:
                error = str(problem)[:300]
        ok = status is not None and 200 <= status < 300
        row = {
            "endpoint": self.id,
            "seq": seq,
            "prev_seq": prev_seq,
            "webhook_id": message_id,
            "attempt": number,
            "manual": False,
            "outcome": DELIVERED if ok else FAILED,
            "status_code": status,
            "error": error,
            "response": response,
            "latency_ms": int((time.perf_counter() - started) * 1000),
            "at": utcnow(),
        }
        return ok, row

    def _signer_at(self, stamp: int) -> Signer:
        """What signs the attempts made in the second `stamp` (the resolution
        of their timestamp): the endpoint's secrets in force, looked up once
        a second rather than at every attempt."""
        if stamp != self._signer_second:
            self._signer, self._signer_second = Signer(self.row.secrets_in_force(utcnow())), stamp
        return self._signer


class Dispatcher:
    """The lanes of one sender, and what they share: the read-ahead of the
    log, the recorder, the lease."""

    def __init__(self, config: Config, run_db: RunDb, lease: Lease) -> None:
        self.config = config
        self.run_db = run_db
        self.lease = lease
        self.timeout = config.webhook_timeout
        self.tls = tls_context(config.webhook_ca_file)
        # Host names are resolved on threads of their own (see EndpointClient).
        self.resolver_threads = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="webhooks-dns")
        self.lanes: dict[str, Lane] = {}
        self.feed = EventFeed(run_db, wanted=lambda: bool(self.lanes))
        self.recorder = Recorder()
        self.sender_id = 0
        self._flushing = asyncio.Lock()

    async def lease_valid(self) -> None:
        """Wait while this sender's lease has lapsed (it sends nothing then)."""
        while not self.lease.valid:
            await asyncio.sleep(0.1)

    def hold(self, rows: list[WebhookEndpoint]) -> None:
        """Lanes for these endpoints (the ones this sender holds now): new
        lanes start, running ones see the endpoint's changes."""
        for row in rows:
            lane = self.lanes.get(row.id)
            if lane is None:
                self.lanes[row.id] = Lane(self, row)
            else:
                lane.update(row)

    async def drop(self, endpoint_ids: list[str]) -> None:
        """Stop these lanes, and record where they stopped."""
        lanes = [self.lanes.pop(i) for i in endpoint_ids if i in self.lanes]
        for lane in lanes:
            await lane.stop()
        await self.flush()

    def lane_ended(self, lane: Lane) -> None:
        if self.lanes.get(lane.id) is lane:
            del self.lanes[lane.id]

    async def flush(self) -> None:
        async with self._flushing:
            if not self.recorder.empty:
                sender_id = self.sender_id
                await self.run_db(lambda: self.recorder.flush(sender_id))

    async def record_continuously(self, every: float = 0.1) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.flush()
            except Exception:
                log.warning("could not record webhook attempts; trying again", exc_info=True)
                await asyncio.sleep(1)
