"""Streaming CSV: a batch read on a database thread, written and flushed,
then the next, so an export of any length holds one batch in memory. The
API and the dashboard both stream through `stream_csv`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from models.exports import Batch, csv_text
from models.queries import parse_choice

CSV_TYPE = "text/csv; charset=UTF-8"


class Streaming(Protocol):
    """What streaming needs of a handler (API or page)."""

    def set_header(self, name: str, value: str) -> None: ...
    def write(self, chunk: str) -> None: ...
    def flush(self) -> Awaitable[None]: ...
    def finish(self) -> Awaitable[None]: ...
    async def run_db(self, work: Callable[[], Any]) -> Any: ...


FORMATS = ("json", "csv")


def wants_csv(args: dict[str, str], accept: str | None) -> bool:
    """Asked for CSV: `format=csv`, or no `format` and an Accept header
    naming text/csv; a `format` other than json or csv is 400."""
    chosen = parse_choice("format", args.get("format"), FORMATS)
    return chosen == "csv" or (chosen is None and "text/csv" in (accept or ""))


async def stream_csv(handler: Streaming, filename: str, header: Sequence[str], batch: Callable[[Any], Batch]) -> None:
    """Answer with `header` and every line `batch(start)` gives, from start
    None, each batch naming where the next starts until one names None."""
    handler.set_header("Content-Type", CSV_TYPE)
    handler.set_header("Content-Disposition", f'attachment; filename="{filename}"')
    handler.write(csv_text([header]))
    start = None
    while True:
        lines, start = await handler.run_db(functools.partial(batch, start))
        handler.write(csv_text(lines))
        await handler.flush()
        if start is None:
            break
    await handler.finish()
