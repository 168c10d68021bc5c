"""Ends feed connections whose token expires or is revoked, within a second.

A feed connection outlives the check of its token at connect time, so each
web process watches the tokens of its open feeds: an expiry is known from
the start and kept in a heap; a revocation may happen in any process, so
while any token is watched the process asks the database twice a second
which tokens were revoked lately (a partial index holds only revoked ones).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime, timedelta

from models.auth import ApiToken
from models.connection import utcnow
from models.retry import read_only

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.5
# How far back each look for revocations reaches: a revocation is stamped
# before its transaction commits, so one committing late is still seen.
LOOK_BACK = timedelta(seconds=10)

Close = Callable[[str], None]


def revoked_since(moment: datetime) -> set[int]:
    """Ids of the tokens revoked at or after `moment` (blocking)."""
    query = ApiToken.select(ApiToken.id).where(ApiToken.revoked_at >= moment)
    return read_only(lambda: {row.id for row in query})


class TokenWatch:
    """The open feeds of one process by token; `watch` one, and it is told
    to close (with the reason) when its token expires or is revoked."""

    def __init__(self, executor: Executor) -> None:
        self._executor = executor
        self._closers: dict[int, set[Close]] = {}
        self._expiries: list[tuple[datetime, int]] = []
        self._task: asyncio.Task | None = None

    def watch(self, token: ApiToken, close: Close) -> None:
        """Call `close(reason)` once `token` expires or is revoked, unless
        `unwatch`ed first (when the connection ends)."""
        closers = self._closers.setdefault(token.id, set())
        if not closers and token.expires_at is not None:
            heapq.heappush(self._expiries, (token.expires_at, token.id))
        closers.add(close)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def unwatch(self, token_id: int, close: Close) -> None:
        remaining = self._closers.get(token_id)
        if remaining is not None:
            remaining.discard(close)
            if not remaining:
                del self._closers[token_id]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._closers:
            await asyncio.sleep(CHECK_SECONDS)
            now = utcnow()
            while self._expiries and self._expiries[0][0] <= now:
                _, token_id = heapq.heappop(self._expiries)
                self._end(token_id, "token expired")
            try:
                revoked = await loop.run_in_executor(self._executor, revoked_since, now - LOOK_BACK)
            except Exception:
                log.warning("could not look for revoked tokens; trying again", exc_info=True)
                continue
            for token_id in revoked:
                self._end(token_id, "token revoked")
        self._expiries.clear()

    def _end(self, token_id: int, reason: str) -> None:
        for close in self._closers.pop(token_id, ()):
            close(reason)
