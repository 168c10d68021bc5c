"""Which database a request reads from: the replica only for a GET by a
client with no recent write (the rules are in `models.replica`). Shared by
the API's and the dashboard's base handlers."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis

from models.retry import read_only

if TYPE_CHECKING:
    from tornado.web import RequestHandler

    from models.replica import WriteMarks

    # What the mixin below is mixed into, as the type checker sees it.
    _Handler = RequestHandler
else:
    _Handler = object

log = logging.getLogger(__name__)

READS = ("GET", "HEAD")


class ReadRouting(_Handler):
    """Mixed into a RequestHandler whose `read_client()` names the caller
    (a token, an operator) or None for an anonymous one."""

    _replica_ok: bool | None = None
    _writing_as: str | None = None

    def read_client(self) -> str | None:
        raise NotImplementedError

    async def mark_writes(self) -> None:
        """Before a write request does anything: its client reads from the
        primary from now until REPLICA_MAX_LAG after it ends."""
        marks: WriteMarks | None = self.settings.get("write_marks")
        if marks is None or self.request.method in READS:
            return
        client = self.read_client()
        if client is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(
                self.settings["db_executor"], functools.partial(marks.start, client)
            )
        except redis.RedisError:
            # Its reads still go to the primary: `recent` says yes when Redis cannot answer.
            log.warning("could not mark a write for read routing", exc_info=True)
        self._writing_as = client

    def on_finish(self) -> None:
        if self._writing_as is not None:
            self.settings["db_executor"].submit(self.settings["write_marks"].end, self._writing_as)

    def routed_read(self, work: Callable[[], Any]) -> Any:
        """`read_only(work)`, on the replica when this request may (decided
        once per request, on a database thread: it asks Redis)."""
        if self._replica_ok is None:
            marks = self.settings.get("write_marks")
            client = self.read_client()
            self._replica_ok = (
                marks is not None and self.request.method in READS and (client is None or not marks.recent(client))
            )
        return read_only(work, replica_ok=self._replica_ok)
