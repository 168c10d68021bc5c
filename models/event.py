"""The event log: an append-only record of every committed state change,
numbered in commit order.

Why not number events when they are inserted? On PostgreSQL transactions
commit out of order: one that took number 10 can commit after another took
11, so a reader that has seen 11 and resumes "after 11" would never see 10.

So an event is inserted, in the same transaction as the change it describes,
with no `seq`. Numbers are given afterwards by `sequence_committed`, which
only one process at a time runs (the relay, `events.relay`): it takes the
committed events that have no number yet, in insertion order, and numbers
them max(seq)+1, max(seq)+2, ... in one transaction. That is correct because:

- it can only see committed events, so a number is never given to a change
  that might still roll back, and an event committing later gets a later
  number: numbers follow commit order and never go back;
- one numbering transaction at a time (a PostgreSQL advisory lock held to
  its commit, beside the relay's leadership; SQLite has one writer) and a
  unique index on `seq` mean no number is given twice or skipped, and no
  event is numbered again, so `seq` runs 1, 2, 3, ... without gaps;
- a reader asking for `seq > N` therefore sees every later event once, in
  order, however long after N it asks (SPEC invariant 5).

Causal order is kept too: a payment's settlement starts only after its
intake committed, so its `payment.created` is numbered first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from peewee import BigAutoField, BigIntegerField, CharField, DateTimeField, TextField

from .actors import Acting, actor_json, current
from .bulk import IMMEDIATE, JsonTextField, Rows, Statements
from .connection import BaseModel, database, is_sqlite, utcnow
from .dialect import QUEUE_SCANS
from .peewee_internals import pending_commit_callbacks
from .serialize import compact_json, iso

EVENT_TYPES = (
    "account.created",
    "account.updated",
    "balance.created",
    "balance.updated",
    "payment.created",
    "payment.updated",
    "payment.authorized",
    "payment.completed",
    "payment.failed",
    "payment.voided",
    "payment.expired",
    "payment_group.completed",
    "payment_group.failed",
    "currency.created",
    "rate.updated",
    "webhook_endpoint.disabled",
)

_wakers: list[Callable[[], None]] = []
_NUMBERING_LOCK = 0x70677703


class Event(BaseModel):
    id = BigAutoField()
    # Unique where set (a partial index, migration 0004): read only by number.
    seq = BigIntegerField(null=True)
    type = CharField(max_length=40)
    created_at = DateTimeField(default=utcnow)
    account_a = CharField(max_length=64, null=True)
    account_b = CharField(max_length=64, null=True)
    # Written as the data's dict: encoded once, with the batch's rows.
    data = JsonTextField()
    # Who made the change (`models.actors`; null: the system), from where,
    # in which request. Read newest first by time, or by actor (migration 0010).
    actor = TextField(null=True)
    actor_key = CharField(max_length=80, null=True)
    client_ip = CharField(max_length=64, null=True)
    request_id = CharField(max_length=64, null=True)

    @classmethod
    def head(cls) -> int:
        """The highest number given so far (0 for an empty log)."""
        last = cls.select(cls.seq).where(cls.seq.is_null(False)).order_by(cls.seq.desc()).first()
        return last.seq if last else 0


class Frame(NamedTuple):
    """An event as the feed sends it: its JSON text, made once, and what
    subscribers filter on."""

    seq: int
    type: str
    accounts: tuple[str, ...]
    text: str
    # The request that made the change (for a payment's events, the one
    # that sent the payment): for the logs, never sent to clients.
    request_id: str | None = None

    def trace(self) -> dict[str, str | None]:
        """What a log line about this event carries to be found with the
        rest of its payment's lines (`request_id`, `payment_id`)."""
        return {"request_id": self.request_id, "payment_id": self._payment_id()}

    def _payment_id(self) -> str | None:
        # A payment's data begins with its id (`serialize.payment_json`), and
        # the frame's text has `"data":` only there, past the actor, whose
        # strings hold quotes escaped: found without parsing the event, for
        # every log line about one (at INFO, a line a payment each step).
        if not self.type.startswith("payment."):
            return None
        start = self.text.find(_DATA_ID)
        if start < 0:
            return json.loads(self.text)["data"].get("id")
        start += len(_DATA_ID)
        return self.text[start : self.text.index('"', start)]

    @classmethod
    def of_row(
        cls,
        seq: int,
        event_type: str,
        created_at: object,
        data: str,
        account_a: str | None,
        account_b: str | None,
        actor: str | None,
        request_id: str | None = None,
    ) -> Frame:
        """The frame of a stored event's columns; the stored JSON of its data
        and actor go into the text as they are, never parsed and written again."""
        stamp = iso(Event.created_at.python_value(created_at))
        who = actor or _SYSTEM_TEXT
        text = f'{{"seq":{seq},"type":"{event_type}","created_at":"{stamp}","actor":{who},"data":{data}}}'
        return cls(seq, event_type, tuple(a for a in (account_a, account_b) if a), text, request_id)


_SYSTEM_TEXT = '{"type":"system"}'
_DATA_ID = '"data":{"id":"'
FRAME_COLUMNS = ("seq", "type", "created_at", "data", "account_a", "account_b", "actor", "request_id")


def frames_after(seq: int, limit: int) -> list[Frame]:
    """The numbered events after `seq`, oldest first, as feed frames."""
    cursor = database.execute_sql(
        f"SELECT {', '.join(FRAME_COLUMNS)} FROM event WHERE seq > {int(seq)} ORDER BY seq LIMIT {int(limit)}"
    )
    return [Frame.of_row(*row) for row in cursor.fetchall()]


def accounts_of(event_type: str, data: dict) -> tuple[str, ...]:
    """The accounts an event is about, for `?account=` filters."""
    if event_type.startswith("payment."):
        return (data["from_account"], data["to_account"])
    if event_type.startswith("account."):
        return (data["id"],)
    if event_type.startswith("balance."):
        return (data["account"],)
    return ()


def event_json(event: Event) -> dict:
    return {
        "seq": event.seq,
        "type": event.type,
        "created_at": iso(event.created_at),
        "actor": actor_json(event.actor),
        "data": json.loads(event.data),
    }


def record_event(event_type: str, data: dict | Encoded) -> Event:
    """Append an event inside the caller's transaction, by whoever is acting
    (`models.actors`). After the commit the relay is woken to number and
    publish it."""
    event = Event.create(**_row(event_type, data, utcnow(), current()))
    IMMEDIATE.insert_rows(*_tallies([(event_type, data)]))
    _wake_after_commit()
    return event


def record_events(
    events: Sequence[tuple[str, dict | Encoded]],
    *along: Rows,
    at: datetime | None = None,
    into: Statements = IMMEDIATE,
    actings: Sequence[Acting] | None = None,
) -> None:
    """Append many events in one statement (a batch's), which also inserts
    `along`'s rows, `(model, rows)` each: the changes they describe. `at`:
    the moment they happened, if the batch has one; else now. `into`: the
    statement batch to send the statement with (`models.bulk`). `actings`:
    who made each change, when they differ; else whoever is acting now."""
    at = at or utcnow()
    who = actings or [current()] * len(events)
    rows = [_row(event_type, data, at, acting) for (event_type, data), acting in zip(events, who, strict=True)]
    into.insert_rows(*along, *_tallies(events), (Event, rows))
    if events:
        _wake_after_commit()


def _tallies(events: Sequence[tuple[str, dict | Encoded]]) -> list:
    """The overview's summary rows the events add (`models.summaries`),
    written with them."""
    # Imported here: the summaries read the ledger's models, which record
    # events through this module.
    from .summaries import tally_rows

    return tally_rows(events)


class Encoded(NamedTuple):
    """An event's data with its JSON text, for a caller that needs the text
    too (intake answers with it): encoded once."""

    data: dict
    text: str

    @classmethod
    def of(cls, data: dict) -> Encoded:
        return cls(data, compact_json(data))


def _row(event_type: str, data: dict | Encoded, at: datetime, acting: Acting) -> dict:
    assert event_type in EVENT_TYPES, event_type
    # The dict goes into the row as it is, encoded once with the batch's
    # rows (`JsonTextField`); an `Encoded` event's text is ready.
    data, stored = (data.data, data.text) if isinstance(data, Encoded) else (data, data)
    accounts = accounts_of(event_type, data) + (None, None)
    return {
        "type": event_type,
        "data": stored,
        "account_a": accounts[0],
        "account_b": accounts[1] if accounts[1] != accounts[0] else None,
        "created_at": at,
        "actor": acting.actor.text(),
        "actor_key": acting.actor.key,
        "client_ip": acting.client_ip,
        "request_id": acting.request_id,
    }


def _wake_after_commit() -> None:
    # Once per transaction, however many events it records. (The pending
    # commit callbacks live in Peewee's per-thread state and are dropped on
    # rollback, so a rolled-back transaction wakes nobody.)
    pending = pending_commit_callbacks(database.obj)
    for wake in _wakers:
        if wake not in pending:
            database.after_commit(wake)


def on_commit_of_events(wake: Callable[[], None]) -> None:
    """Call `wake` after every commit in this process that recorded events."""
    _wakers.append(wake)


def forget_waker(wake: Callable[[], None]) -> None:
    _wakers.remove(wake)


def sequence_committed(limit: int = 5000) -> list[Frame]:
    """Number up to `limit` committed, unnumbered events in insertion order,
    continuing from the highest number; returns their frames in `seq` order.
    Call inside a transaction, from one process at a time (see the module
    doc). The relay runs it after every burst of commits.

    One process at a time is the relay's leadership, which is only checked
    between rounds: should the leader's lock connection die during one, its
    successor may start the next at once. So numbering rounds also take a
    transaction lock, and one that waited for another numbers only what that
    one left (each statement sees what committed before it)."""
    numbering = (
        "WITH head AS (SELECT coalesce(max(seq), 0) AS n FROM event WHERE seq IS NOT NULL),"
        " pending AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM event"
        f" WHERE seq IS NULL ORDER BY id LIMIT {int(limit)})"
        " UPDATE event SET seq = pending.n + head.n FROM pending, head WHERE event.id = pending.id"
        f" RETURNING {', '.join('event.' + column for column in FRAME_COLUMNS)}"
    )
    if is_sqlite():
        cursor = database.execute_sql(numbering)
    else:
        # The lock, the queue's scans (`walk_queue_indexes`) and the numbering
        # in one round trip: the relay makes one a commit burst.
        cursor = database.execute_sql(
            f"SELECT pg_advisory_xact_lock(%s); {QUEUE_SCANS}; {numbering}", (_NUMBERING_LOCK,)
        )
    return sorted((Frame.of_row(*row) for row in cursor.fetchall()), key=lambda frame: frame.seq)
