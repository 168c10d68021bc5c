"""The event log: an append-only record of every committed state change,
numbered in commit order.

Why not number events when they are inserted? On PostgreSQL transactions
commit out of order: one that took number 10 can commit after another took
11, so a reader that has seen 11 and resumes "after 11" would never see 10.

So an event is inserted, in the same transaction as the change it describes,
with no `seq`. Numbers are given afterwards by `sequence_committed`, which
only one process at a time runs (the relay, `tasks.relay`): it takes the
committed events that have no number yet, in insertion order, and numbers
them max(seq)+1, max(seq)+2, ... in one transaction. That is correct because:

- it can only see committed events, so a number is never given to a change
  that might still roll back, and an event committing later gets a later
  number: numbers follow commit order and never go back;
- one relay at a time (a PostgreSQL advisory lock; SQLite has one writer) and
  a unique index on `seq` mean no number is given twice or skipped, so `seq`
  runs 1, 2, 3, ... without gaps;
- a reader asking for `seq > N` therefore sees every later event once, in
  order, however long after N it asks (SPEC invariant 5).

Causal order is kept too: a payment's settlement starts only after its
intake committed, so its `payment.created` is numbered first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

from peewee import SQL, BigAutoField, BigIntegerField, CharField, DateTimeField, TextField

from .db import BaseModel, database, insert_rows, utcnow

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

_wakers: list[Callable[[], None]] = []


class Event(BaseModel):
    id = BigAutoField()
    seq = BigIntegerField(null=True, unique=True)
    type = CharField(max_length=40)
    created_at = DateTimeField(default=utcnow)
    account_a = CharField(max_length=64, null=True)
    account_b = CharField(max_length=64, null=True)
    data = TextField()

    class Meta:
        indexes = ((("account_a", "seq"), False), (("account_b", "seq"), False))

    @classmethod
    def head(cls) -> int:
        """The highest number given so far (0 for an empty log)."""
        last = cls.select(cls.seq).where(cls.seq.is_null(False)).order_by(cls.seq.desc()).first()
        return last.seq if last else 0

    @classmethod
    def numbered_after(cls, seq: int, limit: int) -> list[Event]:
        return list(cls.select().where(cls.seq > seq).order_by(cls.seq).limit(limit))


class Frame(NamedTuple):
    """An event as the feed sends it: its JSON text, made once, and what
    subscribers filter on."""

    seq: int
    type: str
    accounts: tuple[str, ...]
    text: str

    @classmethod
    def of(cls, body: dict) -> Frame:
        return cls(body["seq"], body["type"], accounts_of(body["type"], body["data"]), json.dumps(body))


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
        "created_at": event.created_at.isoformat(timespec="microseconds") + "Z",
        "data": json.loads(event.data),
    }


def record_event(event_type: str, data: dict) -> Event:
    """Append an event inside the caller's transaction. After the commit the
    relay is woken to number and publish it."""
    event = Event.create(**_row(event_type, data))
    _wake_after_commit()
    return event


def record_events(events: list[tuple[str, dict]]) -> None:
    """Append many events in one statement (a settlement batch's)."""
    if events:
        insert_rows(Event, [_row(event_type, data) for event_type, data in events])
        _wake_after_commit()


def _row(event_type: str, data: dict) -> dict:
    assert event_type in EVENT_TYPES, event_type
    accounts = accounts_of(event_type, data) + (None, None)
    return {
        "type": event_type,
        "data": json.dumps(data, separators=(",", ":")),
        "account_a": accounts[0],
        "account_b": accounts[1] if accounts[1] != accounts[0] else None,
        "created_at": utcnow(),
    }


def _wake_after_commit() -> None:
    # Once per transaction, however many events it records. (The pending
    # commit callbacks live in Peewee's per-thread state and are dropped on
    # rollback, so a rolled-back transaction wakes nobody.)
    pending = database.obj._state.commit_callbacks
    for wake in _wakers:
        if wake not in pending:
            database.after_commit(wake)


def on_commit_of_events(wake: Callable[[], None]) -> None:
    """Call `wake` after every commit in this process that recorded events."""
    _wakers.append(wake)


def forget_waker(wake: Callable[[], None]) -> None:
    _wakers.remove(wake)


def sequence_committed(limit: int = 5000) -> list[Event]:
    """Number up to `limit` committed, unnumbered events in insertion order,
    continuing from the highest number; returns them in `seq` order. Call
    inside a transaction, from one process at a time (see the module doc)."""
    head = Event.head()
    pending = (
        Event.select(Event.id, SQL("row_number() OVER (ORDER BY id)").alias("n"))
        .where(Event.seq.is_null())
        .order_by(Event.id)
        .limit(limit)
        .cte("pending", columns=("id", "n"))
    )
    numbered = (
        Event.update(seq=pending.c.n + head).from_(pending).where(Event.id == pending.c.id).with_cte(pending).execute()
    )
    return Event.numbered_after(head, numbered) if numbered else []
