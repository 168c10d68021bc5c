"""One pinger for all of a web process's feed connections.

A feed connection may sit idle for hours; pings tell a dead peer from a
quiet one. Rather than a timer task per connection (memory for each of ten
thousand followers), one task pings them all: the connections are dealt into
`SLICES` groups, and one group is pinged every `interval / SLICES` seconds, so
each connection is pinged once per interval and the work is spread over it
instead of landing on the IOLoop all at once. A connection that has not
answered its last ping by its next turn is closed.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Protocol

SLICES = 20


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
        self._deal = itertools.cycle(range(SLICES))
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
        for group in itertools.cycle(self._groups):
            if not self._group_of:
                return
            await asyncio.sleep(self._interval / SLICES)
            for connection in list(group):
                if connection.ponged:
                    connection.ponged = False
                    connection.ping()
                else:
                    self.discard(connection)
                    connection.close_unanswered()
