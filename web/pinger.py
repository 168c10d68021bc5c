"""One pinger for all of a web process's feed connections.

A feed connection may sit idle for hours; pings tell a dead peer from a
quiet one. Rather than a timer task per connection (memory for each of ten
thousand followers), one task pings them all: the connections are dealt into
one group per `TURN_SECONDS` of the interval, and one group is pinged each
turn (at its due moment, so that the interval holds; after a busy spell,
twice as often until on time), so each connection is pinged once per
interval and the work is spread over it instead of landing on the IOLoop
all at once: with 10,000 followers and a 20 s interval, 25 pings every
50 ms, never hundreds at once, which would stall every request waiting on
the IOLoop. A connection that has not answered its last ping by its next
turn is closed.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Protocol

TURN_SECONDS = 0.05


class Pinged(Protocol):
    # Set by the connection when a pong arrives; cleared by the pinger as it pings.
    ponged: bool

    def ping(self) -> None: ...

    def close_unanswered(self) -> None: ...


class Pinger:
    def __init__(self, interval: float) -> None:
        self._interval = interval
        groups = max(1, round(interval / TURN_SECONDS))
        self._groups: list[set[Pinged]] = [set() for _ in range(groups)]
        self._group_of: dict[Pinged, int] = {}
        self._deal = itertools.cycle(_dealing(groups))
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
        loop, step = asyncio.get_running_loop(), self._interval / len(self._groups)
        due = loop.time()
        for group in itertools.cycle(self._groups):
            if not self._group_of:
                return
            # Behind (the IOLoop was busy), turns come twice as often until
            # they are on time again, never all at once.
            due += step
            await asyncio.sleep(max(step / 2, due - loop.time()))
            for connection in list(group):
                if connection.ponged:
                    connection.ponged = False
                    connection.ping()
                else:
                    self.discard(connection)
                    connection.close_unanswered()


def _dealing(groups: int) -> list[int]:
    """The order connections are dealt into groups in: by a stride prime to
    their number, so that however few, they spread over the whole interval,
    not its first moments."""
    stride = max(1, round(groups * 0.618))
    while math.gcd(stride, groups) != 1:
        stride += 1
    return [n * stride % groups for n in range(groups)]
