"""One pinger for all of a web process's feed connections.

A feed connection may sit idle for hours; pings tell a dead peer from a
quiet one. Rather than a timer task per connection (memory for each of ten
thousand followers), one task pings them all: the connections are dealt into
`SLICES` groups, and one group is pinged every `interval / SLICES` seconds
(each turn at its due moment, so that the interval holds), so each
connection is pinged once per interval and the work is spread over it
instead of landing on the IOLoop all at once: with 10,000 followers, 25
pings every 50 ms, not 500 at once every second, which would stall every
request waiting on the IOLoop. A connection that has not answered its last
ping by its next turn is closed.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Protocol

SLICES = 400
DEAL_STRIDE = 173


class Pinged(Protocol):
    # Set by the connection when a pong arrives; cleared by the pinger as it pings.
    ponged: bool

    def ping(self) -> None: ...

    def close_unanswered(self) -> None: ...


class Pinger:
    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._groups: list[set[Pinged]] = [set() for _ in range(SLICES)]
        self._group_of: dict[Pinged, int] = {}
        # Dealt with a stride prime to SLICES: however few, the connections
        # spread over the whole interval, not its first moments.
        self._deal = itertools.cycle([n * DEAL_STRIDE % SLICES for n in range(SLICES)])
        self._task: asyncio.Task | None = None

    def add(self, connection: Pinged) -> None:
        """Ping `connection` once per interval from now on, until `discard`."""
        group = next(self._deal)
        self._groups[group].add(connection)
        self._group_of[connection] = group
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def discard(self, connection: Pinged) -> None:
        group = self._group_of.pop(connection, None)
        if group is not None:
            self._groups[group].discard(connection)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        for group in itertools.cycle(self._groups):
            if not self._group_of:
                return
            due += self._interval / SLICES
            await asyncio.sleep(max(0.0, due - loop.time()))
            for connection in list(group):
                if connection.ponged:
                    connection.ponged = False
                    connection.ping()
                else:
                    self.discard(connection)
                    connection.close_unanswered()
