"""One pinger for all of a process's feed connections (`web.pinger`): each
connection is pinged once per interval, the pings spread over it rather than
all at once, and one that has not answered the last ping by its next turn
is closed with "ping timed out"."""

from __future__ import annotations

import asyncio
import bisect

from web.pinger import Pinger


class Connection:
    def __init__(self, answers: bool) -> None:
        self.answers = answers
        self.pinged_at: list[float] = []
        self.closed: str | None = None
        self.ponged = True

    def ping(self) -> None:
        self.pinged_at.append(asyncio.get_running_loop().time())
        if self.answers:
            self.ponged = True

    def close_unanswered(self) -> None:
        self.closed = "ping timed out"


def run(pinger_seconds: float, connections: list[Connection], seconds: float, remove: Connection | None = None) -> None:
    async def scenario() -> None:
        pinger = Pinger(pinger_seconds)
        for connection in connections:
            pinger.add(connection)
        if remove is not None:
            pinger.discard(remove)
        await asyncio.sleep(seconds)
        pinger.stop()

    asyncio.run(scenario())


def test_every_connection_is_pinged_once_per_interval_spread_over_it():
    connections = [Connection(answers=True) for _ in range(200)]
    run(0.5, connections, 1.6)
    assert all(len(c.pinged_at) in (3, 4) for c in connections), sorted({len(c.pinged_at) for c in connections})
    firsts = sorted(c.pinged_at[0] for c in connections)
    # Not all in one go: the first pings are spread over the interval.
    assert firsts[-1] - firsts[0] > 0.25
    assert not any(c.closed for c in connections)


def test_a_connection_that_does_not_answer_is_closed_at_its_next_turn():
    silent, lively = Connection(answers=False), Connection(answers=True)
    run(0.3, [silent, lively], 1.2)
    assert silent.closed == "ping timed out" and len(silent.pinged_at) == 1
    assert lively.closed is None and len(lively.pinged_at) >= 3


def test_a_connection_let_go_is_pinged_no_more():
    kept, gone = Connection(answers=True), Connection(answers=True)
    run(0.3, [kept, gone], 1.0, remove=gone)
    assert gone.pinged_at == [] and kept.pinged_at


def test_pings_come_a_few_at_a_time_not_in_bursts():
    # 10,000 followers' pings in one burst would stall the IOLoop, and every
    # request waiting on it, for tens of milliseconds. With a 20 s interval
    # they come from the start, a 400th of them a turn: in a second, none of
    # 10 ms holds more than two turns' worth.
    connections = [Connection(answers=True) for _ in range(10_000)]
    run(20.0, connections, 1.0)
    times = sorted(t for c in connections for t in c.pinged_at)
    assert len(times) >= 300
    busiest = max(bisect.bisect_left(times, t + 0.010) - i for i, t in enumerate(times))
    assert busiest <= 2 * 10_000 / 400, busiest
