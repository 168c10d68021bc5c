"""The event log: an append-only record of every committed state change.

An event is written in the same transaction as the change it describes, so
the two commit or vanish together, and handed to the process's event sink only
after that commit (`database.after_commit`), so nobody is ever told of a change
that was rolled back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from peewee import BigAutoField, CharField, DateTimeField, TextField

from .db import BaseModel, database, utcnow

EVENT_TYPES = (
    "account.created",
    "account.updated",
    "balance.created",
    "balance.updated",
    "payment.created",
    "payment.completed",
    "payment.failed",
    "currency.created",
    "rate.updated",
)

log = logging.getLogger(__name__)

_sinks: list[Callable[[dict], None]] = []


class Event(BaseModel):
    seq = BigAutoField()
    type = CharField(max_length=40)
    created_at = DateTimeField(default=utcnow)
    data = TextField()

    @classmethod
    def head(cls) -> int:
        last = cls.select(cls.seq).order_by(cls.seq.desc()).first()
        return last.seq if last else 0


def event_json(event: Event) -> dict:
    return {
        "seq": event.seq,
        "type": event.type,
        "created_at": event.created_at.isoformat(timespec="microseconds") + "Z",
        "data": json.loads(event.data),
    }


def record_event(event_type: str, data: dict) -> Event:
    """Append an event inside the caller's transaction; publish it after commit."""
    assert event_type in EVENT_TYPES, event_type
    event = Event.create(type=event_type, data=json.dumps(data, separators=(",", ":")))
    if _sinks:
        frame = event_json(event)
        database.after_commit(lambda: _publish(frame))
    return event


def _publish(frame: dict) -> None:
    # The change is committed whatever happens here: a sink that fails (Redis
    # down) must not turn a stored change into an error for the caller. Feed
    # readers catch up from the log itself.
    for sink in _sinks:
        try:
            sink(frame)
        except Exception:
            log.exception("event sink failed for seq %s", frame["seq"])


def add_event_sink(sink: Callable[[dict], None]) -> None:
    """Receive every event this process commits (the fan-out publisher)."""
    _sinks.append(sink)


def remove_event_sink(sink: Callable[[dict], None]) -> None:
    _sinks.remove(sink)
