"""What a web process's handlers share, built once when it starts."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from models.replica import WriteMarks

from .hub import EventHub


@dataclass(frozen=True)
class WebServices:
    # The threads that run database work, never the IOLoop.
    executor: Executor
    # This process's view of the event log's tail (feeds, `Prefer: wait`).
    hub: EventHub
    # Asks a worker to settle what is pending (coalesced: cheap to call).
    request_settlement: Callable[[], None]
    # Tasks waiting in the queue; raises when the queue is unreachable.
    queue_depth: Callable[[], int]
    # Who wrote recently, when reads may go to a replica (`models.replica`).
    write_marks: WriteMarks | None = None
