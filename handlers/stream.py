"""The live feed: WebSocket `/api/v1/stream` (SPEC section 6).

Each connection keeps one number, the last `seq` it has passed on. It
catches up first: it takes the frames after that number from the hub's ring
(or from the database, when it is further behind than the ring reaches) and
sends the ones its filters want, up to the head. A connection with filters
then keeps up from what the hub hands it (`web.followers`): the events it
wants, and nothing else wakes it. It is followed before it starts catching
up and drops what was handed to it while it did, so no event falls between
the two or is sent twice. One that follows everything reads the ring again,
woken once per batch of events. The sending runs as a task that ends when
nothing is left, so an idle connection holds no task.

A client that does not read makes its own sends wait and nobody else's; when
one send has waited longer than `feed_send_timeout` the connection is closed
with code 4008 and the `after=` to resume from. Memory per connection is one
batch of frames, whatever the client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from typing import TYPE_CHECKING, Any

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from models.auth import ApiToken, Operator
from models.errors import ApiError, invalid
from models.event import EVENT_TYPES
from models.pagination import MAX_SEQ, parse_count
from models.retry import read_only
from web.access_watch import Key
from web.followers import Follower
from web.hub import EventHub, frames_from_log
from web.metrics import FEED_CLIENTS, FEED_CLIENTS_DROPPED

from .base import (
    NamesAllowedMethods,
    RefusalsAreNotFaults,
    authorize_token,
    bearer_secret,
    check_query,
    checked_in_prepare,
    tag_request,
    write_json_error,
)

BATCH = 500
SLOW_CLIENT = 4008
# The connection's token expired or was revoked, or its operator was
# disabled (`web.access_watch`).
ACCESS_ENDED = 4001
SESSION_COOKIE = "operator"
SESSION_DAYS = 0.5  # a dashboard session lasts 12 hours, here as on its pages


def _operator(operator_id: bytes) -> Operator:
    operator = read_only(lambda: Operator.get_or_none(Operator.id == int(operator_id)))
    if operator is None or not operator.active:
        raise ApiError(401, "unauthorized", "session expired: log in again")
    return operator


class StreamHandler(NamesAllowedMethods, RefusalsAreNotFaults, WebSocketHandler):
    last_sent = 0
    _pump: asyncio.Task | None = None
    _counted = False
    _token: ApiToken | None = None
    _operator_id: int | None = None
    _watched: Key | None = None
    _follower: Follower | None = None
    _catching_up = True
    # Whether the last ping was answered (`web.pinger`).
    ponged = True
    if TYPE_CHECKING:
        request_id: str  # set by `tag_request`

    @property
    def hub(self) -> EventHub:
        return self.settings["hub"]

    async def prepare(self) -> None:
        """Authenticate and read the filters before the upgrade, so that a
        refused client gets a plain HTTP error it can read."""
        check_query(self)
        loop = asyncio.get_running_loop()
        executor = self.settings["db_executor"]
        secret = bearer_secret(self.request) or self.get_query_argument("token", None)
        cookie = self.get_signed_cookie(SESSION_COOKIE, max_age_days=SESSION_DAYS) if secret is None else None
        if cookie is not None:
            self._operator_id = (await loop.run_in_executor(executor, _operator, cookie)).id
        else:
            self._token = await loop.run_in_executor(
                executor, functools.partial(authorize_token, secret, "read", open_to_customers=True)
            )
        after = self.get_query_argument("after", None)
        self.last_sent = self.hub.head if after is None else parse_count("after", after, 0, MAX_SEQ)
        self.account = self.get_query_argument("account", None)
        bound = self._token.account_id if self._token is not None else None
        if bound is not None:
            # A customer token follows its own account's feed, and only that.
            if self.account not in (None, bound):
                raise ApiError(403, "forbidden", f"this token may follow account {bound} only")
            self.account = bound
        types = self.get_query_argument("types", None)
        self.types = frozenset(types.split(",")) if types else None
        if self.types and not self.types <= set(EVENT_TYPES):
            raise invalid(
                {"types": "must be a comma-separated list of " + ", ".join(EVENT_TYPES)}, "invalid_request", 400
            )

    @checked_in_prepare("read", open_to_customers=True)
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if self.request.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError(400, "invalid_request", "this is a WebSocket: connect with Upgrade: websocket")
        await super().get(*args, **kwargs)

    def set_default_headers(self) -> None:
        tag_request(self)

    def check_xsrf_cookie(self) -> None:
        """No CSRF check: the feed has GET only, which changes nothing (and
        which Tornado never checks); any other method is answered 405."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        write_json_error(self, status_code, kwargs.get("exc_info"))

    async def open(self) -> None:
        FEED_CLIENTS.inc()
        self._counted = True
        # Events are small frames sent the moment they happen: with Nagle's
        # algorithm on, each would wait for the client's delayed ACK (up to
        # 40 ms on Linux) whenever the one before it is still unacknowledged.
        self.set_nodelay(True)
        watch = self.settings["access_watch"]
        if self._token is not None:
            self._watched = watch.watch_token(self._token, self._access_ended)
            self._token = None
        elif self._operator_id is not None:
            self._watched = watch.watch_operator(self._operator_id, self._access_ended)
        await self.write_message(json.dumps({"type": "hello", "head": self.hub.head}))
        self._forget_the_handshake()
        self.settings["feed_pinger"].add(self)
        self._follower = Follower(self.account, self.types, self._pump_soon)
        # Followed before anything is read, so that no event appended from
        # here on can fall between catching up and being handed.
        self.hub.follow(self._follower)
        self._pump_soon()

    def _forget_the_handshake(self) -> None:
        """Let go of the upgrade request's headers and the response's: read
        and answered, they are of no more use, and a follower may stay
        connected for days, one among thousands."""
        # Emptied in place: the server's own request loop holds them too.
        self.request.headers.clear()
        self._headers.clear()
        self.request.arguments = self.request.query_arguments = {}

    def ping(self, data: str | bytes = b"") -> None:
        with contextlib.suppress(WebSocketClosedError):
            super().ping(data)

    def on_pong(self, data: bytes) -> None:
        self.ponged = True

    def close_unanswered(self) -> None:
        self.close(reason="ping timed out")

    def _access_ended(self, reason: str) -> None:
        self.close(ACCESS_ENDED, f"{reason}: connect again with live credentials")

    def on_close(self) -> None:
        if self._counted:
            FEED_CLIENTS.dec()
            self._counted = False
        if self._follower is not None:
            self.hub.unfollow(self._follower)
            self._follower = None
        self.settings["feed_pinger"].discard(self)
        if self._pump is not None:
            self._pump.cancel()
        if self._watched is not None:
            self.settings["access_watch"].unwatch(self._watched, self._access_ended)
            self._watched = None

    def on_message(self, message: str | bytes) -> None:
        """The feed is one-way; what clients send is ignored."""

    def _pump_soon(self) -> None:
        """Send what this connection is owed, unless that is under way. The
        task ends once nothing is left, so an idle connection holds none."""
        if self._pump is None and self._follower is not None:
            self._pump = asyncio.create_task(self._pump_until_idle(self._follower))

    async def _pump_until_idle(self, follower: Follower) -> None:
        try:
            with contextlib.suppress(WebSocketClosedError, asyncio.CancelledError):
                busy = True
                while busy:
                    if self._catching_up or follower.overflowed or follower.follows_everything:
                        busy = await self._catch_up(follower)
                    else:
                        busy = await self._keep_up(follower)
        finally:
            # With no wait since the last look: whatever comes next starts a new task.
            self._pump = None

    async def _catch_up(self, follower: Follower) -> bool:
        """Send the next batch after `last_sent` from the ring, or the log
        when the ring no longer reaches back that far. At the head, a
        follower with filters goes on with what it is handed; False when
        there is nothing more to do."""
        frames = self.hub.frames_after(self.last_sent, BATCH)
        if frames is None:
            loop = asyncio.get_running_loop()
            frames = await loop.run_in_executor(self.settings["db_executor"], frames_from_log, self.last_sent, BATCH)
        if frames:
            await self._send([frame.text for frame in frames if follower.wants(frame)])
            self.last_sent = max(self.last_sent, frames[-1].seq)
            return True
        if follower.follows_everything:
            return False
        follower.start_afresh()
        self._catching_up = False
        return True

    async def _keep_up(self, follower: Follower) -> bool:
        """Send what the hub handed this follower since it last looked;
        False when there was nothing (or it fell a whole backlog behind, and
        must catch up: True)."""
        head = self.hub.head
        frames = [frame for frame in follower.take() if frame.seq > self.last_sent]
        if not frames:
            return follower.overflowed
        await self._send([frame.text for frame in frames])
        # Everything up to the head as it was at the take, that this
        # follower wants, has now been sent.
        self.last_sent = max(self.last_sent, head)
        return True

    async def _send(self, texts: list[str]) -> None:
        """Queue every frame at once and await the socket's progress once: a
        wait per frame would cost a turn of a busy IOLoop per event. A send
        still waiting after `feed_send_timeout` closes the connection (4008).
        Writes still pending then are left to end with the connection, not
        cancelled (Tornado's stream logs a traceback for each write cancelled
        under it)."""
        if not texts:
            return
        writes = [self.write_message(text) for text in texts]
        try:
            done, pending = await asyncio.wait(writes, timeout=self.settings.get("feed_send_timeout", 10.0))
        finally:
            for write in writes:
                write.add_done_callback(_quietly)
        if pending:
            FEED_CLIENTS_DROPPED.inc()
            self.close(SLOW_CLIENT, f"too slow: resume with after={self.last_sent}")
            raise WebSocketClosedError()
        for write in done:
            write.result()  # WebSocketClosedError if the connection went


def _quietly(write: asyncio.Future) -> None:
    """Take a write's outcome whenever it ends (an error if the connection
    closed under it), so that none is reported as never retrieved."""
    if not write.cancelled():
        write.exception()


default_handlers = [(r"/api/v1/stream", StreamHandler)]
