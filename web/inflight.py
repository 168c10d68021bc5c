"""Requests this process is answering, so that stopping it drops none.

On SIGTERM the server stops taking connections, waits for the requests it
has started to be answered (up to a grace period), and only then closes
what is left. WebSocket feeds are not counted: a feed never finishes, and
its clients resume with `after=` wherever they reconnect.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tornado.web import RequestHandler

    # What the mixin below is mixed into, as the type checker sees it.
    _Handler = RequestHandler
else:
    _Handler = object


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drained(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if `timeout` came first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class Counted(_Handler):
    """Mixed into request handlers: each counts as in flight from the moment
    it is made until its answer is finished. A client that hangs up does not
    end it: the handler still runs to its end (its payment may be committing
    just then), and stopping would cancel it half-way. Only a request whose
    body never arrived is done when its client goes, as its handler will
    never run."""

    _in_flight: InFlight | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = self.settings.get("in_flight")
        if self._in_flight is not None:
            self._in_flight.enter()

    def _done(self) -> None:
        if self._in_flight is not None:
            self._in_flight.leave()
            self._in_flight = None

    def on_finish(self) -> None:
        super().on_finish()
        self._done()

    def on_connection_close(self) -> None:
        # Tornado's own flag for a streamed body still being received (a
        # handler without a streamed body has it whole before it runs).
        body = getattr(self.request, "_body_future", None)
        handler_will_run = body is None or body.done()
        super().on_connection_close()
        if not handler_will_run:
            self._done()
