"""Ends feed connections whose access ends, within a second.

A feed connection outlives the check made when it connected, so each web
process watches who its open feeds belong to: a token, until it expires or
is revoked; an operator's dashboard session, until the operator is disabled.
An expiry is known from the start and kept in a heap. A revocation or a
disabling may happen in any process, so while anything is watched the
process asks the database twice a second: which tokens were revoked lately
(a partial index holds only revoked ones), and which of the operators it
watches are no longer active (by primary key, a handful of rows).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta

from models.auth import ApiToken, Operator
from models.connection import utcnow
from models.retry import read_only

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.5
# How far back each look for revocations reaches: a revocation is stamped
# before its transaction commits, so one committing late is still seen.
LOOK_BACK = timedelta(seconds=10)

Close = Callable[[str], None]
# What a feed is watched by: ("token", id) or ("operator", id).
Key = tuple[str, int]


def ended_since(moment: datetime, operator_ids: list[int]) -> list[tuple[Key, str]]:
    """What ended among the watched (blocking): the tokens revoked at or
    after `moment`, and those of `operator_ids` that are disabled."""

    def look() -> list[tuple[Key, str]]:
        revoked = ApiToken.select(ApiToken.id).where(ApiToken.revoked_at >= moment)
        ended = [(("token", row.id), "token revoked") for row in revoked]
        if operator_ids:
            disabled = Operator.select(Operator.id).where(Operator.id.in_(operator_ids), ~Operator.active)
            ended += [(("operator", row.id), "operator disabled") for row in disabled]
        return ended

    return read_only(look)


class AccessWatch:
    """The open feeds of one process by whose access they use; `watch` one,
    and it is told to close (with the reason) when that access ends."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._closers: dict[Key, set[Close]] = {}
        # The operators among them, asked about by id (tokens by revocation time).
        self._operators: set[int] = set()
        self._expiries: list[tuple[datetime, Key]] = []
        self._task: asyncio.Task | None = None

    def watch_token(self, token: ApiToken, close: Close) -> Key:
        """Call `close(reason)` once `token` expires or is revoked, unless
        `unwatch`ed first (when the connection ends)."""
        key = ("token", token.id)
        if key not in self._closers and token.expires_at is not None:
            heapq.heappush(self._expiries, (token.expires_at, key))
        self._watch(key, close)
        return key

    def watch_operator(self, operator_id: int, close: Close) -> Key:
        """Call `close(reason)` once the operator is disabled."""
        key = ("operator", operator_id)
        self._watch(key, close)
        self._operators.add(operator_id)
        return key

    def unwatch(self, key: Key, close: Close) -> None:
        remaining = self._closers.get(key)
        if remaining is not None:
            remaining.discard(close)
            if not remaining:
                self._forget(key)

    def _watch(self, key: Key, close: Close) -> None:
        self._closers.setdefault(key, set()).add(close)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._closers:
            await asyncio.sleep(CHECK_SECONDS)
            now = utcnow()
            while self._expiries and self._expiries[0][0] <= now:
                _, key = heapq.heappop(self._expiries)
                self._end(key, "token expired")
            operators = list(self._operators)
            try:
                ended = await loop.run_in_executor(self._executor, ended_since, now - LOOK_BACK, operators)
            except Exception:
                log.warning("could not look for ended access; trying again", exc_info=True)
                continue
            for key, reason in ended:
                self._end(key, reason)
        self._expiries.clear()

    def _end(self, key: Key, reason: str) -> None:
        for close in self._closers.get(key, set()).copy():
            close(reason)
        self._forget(key)

    def _forget(self, key: Key) -> None:
        self._closers.pop(key, None)
        if key[0] == "operator":
            self._operators.discard(key[1])
