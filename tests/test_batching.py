"""How the intake batcher groups the requests that arrive together: one
batch at rest, a second beside it only once enough requests wait to be
worth a commit of their own, never a third; every request answered with
its own outcome."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from web.batching import MAX_IN_FLIGHT, SECOND_BATCH_AT, IntakeBatcher


class HeldBatches:
    """Stands in for the database: records each batch and holds it until
    released, answering each request with its own body reversed."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self._release: list[threading.Event] = []
        self._released = False
        self._lock = threading.Lock()

    def accept(self, requests: list[tuple[str, str]]) -> list[str]:
        """(kind, body) requests whose bodies, in these tests, are strings."""
        with self._lock:
            self.batches.append([body for _, body in requests])
            release = threading.Event()
            self._release.append(release)
            if self._released:
                release.set()
        assert release.wait(10)
        return [body[::-1] for _, body in requests]

    def release_all(self) -> None:
        with self._lock:
            self._released = True
            for release in self._release:
                release.set()

    async def settled(self, count: int, patience: float = 5.0) -> list[list[str]]:
        """The batches once `count` have started, or `patience` seconds
        passed (and a moment more, so that one too many would show)."""
        deadline = time.monotonic() + patience
        while len(self.batches) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        return list(self.batches)


@pytest.fixture
def held(monkeypatch):
    database = HeldBatches()
    monkeypatch.setattr(IntakeBatcher, "_accept", lambda self, requests, actings: database.accept(requests))
    yield database
    database.release_all()


def run(scenario):
    executor = ThreadPoolExecutor(MAX_IN_FLIGHT + 2)
    try:
        return asyncio.run(scenario(IntakeBatcher(executor, lambda: None)))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def test_a_request_at_rest_is_a_batch_at_once(held):
    async def scenario(batcher):
        answer = asyncio.ensure_future(batcher.submit("transfer", "alone"))
        assert await held.settled(1) == [["alone"]]
        held.release_all()
        assert await answer == "enola"

    run(scenario)


def test_a_request_arriving_while_a_batch_commits_waits_to_join_the_next(held):
    async def scenario(batcher):
        answers = [asyncio.ensure_future(batcher.submit("transfer", "first"))]
        assert await held.settled(1) == [["first"]]
        answers += [asyncio.ensure_future(batcher.submit("withdrawal", body)) for body in ("second", "third")]
        assert await held.settled(2, patience=0.2) == [["first"]]
        held.release_all()
        assert await asyncio.gather(*answers) == ["tsrif", "dnoces", "driht"]
        assert held.batches == [["first"], ["second", "third"]]

    run(scenario)


def test_a_second_batch_starts_only_when_enough_requests_wait(held):
    bodies = [f"r{n}" for n in range(1 + SECOND_BATCH_AT)]

    async def scenario(batcher):
        answers = [asyncio.ensure_future(batcher.submit("transfer", bodies[0]))]
        assert await held.settled(1) == [bodies[:1]]
        # Fewer than SECOND_BATCH_AT waiting: they wait for the first batch.
        answers += [asyncio.ensure_future(batcher.submit("transfer", body)) for body in bodies[1:-1]]
        assert await held.settled(2, patience=0.2) == [bodies[:1]]
        # One more, and they are enough for a second batch beside the first.
        answers.append(asyncio.ensure_future(batcher.submit("transfer", bodies[-1])))
        assert await held.settled(2) == [bodies[:1], bodies[1:]]
        held.release_all()
        assert await asyncio.gather(*answers) == [body[::-1] for body in bodies]

    run(scenario)


def test_never_more_than_two_batches_in_flight(held):
    first = [f"a{n}" for n in range(1 + SECOND_BATCH_AT)]
    later = [f"b{n}" for n in range(3 * SECOND_BATCH_AT)]

    async def scenario(batcher):
        answers = [asyncio.ensure_future(batcher.submit("deposit", first[0]))]
        assert await held.settled(1) == [first[:1]]
        answers += [asyncio.ensure_future(batcher.submit("deposit", body)) for body in first[1:]]
        assert await held.settled(2) == [first[:1], first[1:]]
        answers += [asyncio.ensure_future(batcher.submit("deposit", body)) for body in later]
        assert len(await held.settled(3, patience=0.2)) == MAX_IN_FLIGHT == 2
        held.release_all()
        # Whatever waited goes in one batch as soon as one leaves.
        assert await asyncio.gather(*answers) == [body[::-1] for body in first + later]
        assert held.batches[2:] == [later]

    run(scenario)
