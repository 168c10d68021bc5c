"""Requests in batches: those that arrive together are handled by one
database round of statements.

Each web process has an `IntakeBatcher` and a `CaptureBatcher`. Payment
requests (transfers, deposits, withdrawals without an Idempotency-Key)
queue up on the IOLoop;
a batch at a time (a second beside it when enough wait) is handed to a
database thread and accepted by `models.intake.accept_payments`: one query
reads what the whole batch names, one statement stores its payments and
their events, atomic by itself, so no transaction is opened around them.
At rest a batch is one request, so nobody waits for company; under load a
batch is whatever arrived while the previous one was committing.

Captures asked for without an Idempotency-Key queue up the same way, and
`models.holds.capture_holds` takes a batch in one transaction: its holds
locked in one statement, its captures stored in one.

Each request still gets exactly its own answer: its payment, or the
ApiError refusing it. Should a batch fail for any other reason, its
requests are accepted again one by one, so one bad request cannot sink its
neighbours.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

from models.actors import NOBODY, Acting
from models.errors import ApiError
from models.holds import capture_holds
from models.intake import Accepted, RequestSettlement, accept_payments
from models.ledger import Payment
from models.retry import OutcomeUnknown, retried_without_transaction, transaction_at_most_once

log = logging.getLogger(__name__)

MAX_BATCH = 200
# Two batches in flight under load: one is being built and sent while the
# other waits for its commit to reach the disk. The second starts only once
# this many requests wait for it: below that, they are better off joining
# the next batch of the one in flight than committing on their own (fewer
# commits, settlement requests and relay rounds for the same payments).
MAX_IN_FLIGHT = 2
SECOND_BATCH_AT = 8


T = TypeVar("T")


class Batcher(Generic[T]):
    """Requests `(key, body)` batched on the IOLoop; a subclass says how a
    batch is handled (`_accept_all`)."""

    def __init__(self, executor: Executor, request_settlement: RequestSettlement) -> None:
        self._executor = executor
        self._request_settlement = request_settlement
        self._waiting: deque[tuple[str, object, Acting, asyncio.Future]] = deque()
        self._draining = 0

    async def submit(self, key: str, body: object, acting: Acting = NOBODY) -> T:
        """What `acting` makes with this request; raises its ApiError if
        refused."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((key, body, acting, future))
        if self._draining == 0 or (self._draining < MAX_IN_FLIGHT and len(self._waiting) >= SECOND_BATCH_AT):
            self._draining += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(MAX_BATCH, len(self._waiting)))]
                requests = [(kind, body) for kind, body, _, _ in batch]
                actings = [acting for _, _, acting, _ in batch]
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._accept, requests, actings)
                except Exception as problem:
                    outcomes = [problem] * len(batch)
                for (_, _, _, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._draining -= 1

    def _accept_all(self, requests: list[tuple[str, object]], actings: list[Acting]) -> Sequence[T | ApiError]:
        raise NotImplementedError

    def _accept(self, requests: list[tuple[str, object]], actings: list[Acting]) -> Sequence[T | BaseException]:
        try:
            return self._accept_all(requests, actings)
        except (ApiError, OutcomeUnknown):
            # Refused, or perhaps stored: either way, not to be tried again.
            raise
        except Exception:
            if len(requests) == 1:
                raise
            log.exception("a batch of %d requests failed; accepting them one by one", len(requests))
        outcomes: list[T | BaseException] = []
        for request, acting in zip(requests, actings, strict=True):
            try:
                outcomes += self._accept_all([request], [acting])
            except Exception as problem:
                outcomes.append(problem)
        return outcomes


class IntakeBatcher(Batcher[Accepted]):
    """Payments (`(kind, body)`), stored by one statement, atomic by itself."""

    def _accept_all(self, requests: list[tuple[str, object]], actings: list[Acting]) -> Sequence[Accepted | ApiError]:
        return retried_without_transaction(
            functools.partial(accept_payments, requests, self._request_settlement, actings)
        )


class CaptureBatcher(Batcher[Payment]):
    """Captures (`(payment_id, body)`), asked for in one transaction."""

    def _accept_all(self, requests: list[tuple[str, object]], actings: list[Acting]) -> Sequence[Payment | ApiError]:
        return transaction_at_most_once(functools.partial(capture_holds, requests, self._request_settlement, actings))
