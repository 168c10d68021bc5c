"""Who does what: the actor of every change (an API token, a dashboard
operator, or the system itself), with the client address and request id
it came with.

A request's handler says who is acting (`acting_as`) around the database
work it runs; the domain functions below it read `current()` where they
record a change (events, a payment's `created_by`, the access log), so no
rule has to pass it along. Work nobody asked for (settlement, the clock,
commands) acts as the system.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from typing import NamedTuple

ACTOR_PATTERN = re.compile(r"^(system|anonymous|token:[0-9]{1,18}|operator:[0-9]{1,18})$")


class Actor(NamedTuple):
    """`kind` is token, operator, system, or anonymous (someone not logged
    in: a refused log-in); `name` a token's name or an operator's email."""

    kind: str
    id: int | None = None
    name: str | None = None

    @property
    def key(self) -> str | None:
        """What lists filter by (`token:12`, `operator:3`, `anonymous`); None
        for the system, whose changes are most of the log and need no index."""
        if self.kind in ("system", "anonymous"):
            return None if self.kind == "system" else "anonymous"
        return f"{self.kind}:{self.id}"

    def to_json(self) -> dict:
        if self.kind == "token":
            return {"type": "token", "id": self.id, "name": self.name}
        if self.kind == "operator":
            return {"type": "operator", "id": self.id, "email": self.name}
        return {"type": self.kind}

    def text(self) -> str | None:
        """As stored: JSON text, null for the system."""
        return None if self.kind == "system" else json.dumps(self.to_json(), separators=(",", ":"))


SYSTEM = Actor("system")
ANONYMOUS = Actor("anonymous")
SYSTEM_JSON = SYSTEM.to_json()


def actor_json(text: str | None) -> dict:
    """A stored actor as the API shows it."""
    return json.loads(text) if text else SYSTEM_JSON


class Acting(NamedTuple):
    """An actor, and where its request came from."""

    actor: Actor
    client_ip: str | None = None
    request_id: str | None = None


NOBODY = Acting(SYSTEM)


def acting_text(acting: Acting) -> str:
    """An acting as stored with work it asked for and others do later (a
    capture, settled by the workers): JSON text."""
    return json.dumps(
        {"actor": acting.actor.to_json(), "client_ip": acting.client_ip, "request_id": acting.request_id},
        separators=(",", ":"),
    )


def acting_of_text(text: str | None) -> Acting:
    """The acting `acting_text` stored; the system's when none was."""
    if not text:
        return NOBODY
    stored = json.loads(text)
    actor = stored["actor"]
    kind = actor["type"]
    return Acting(
        Actor(kind, actor.get("id"), actor.get("name", actor.get("email"))), stored["client_ip"], stored["request_id"]
    )


class _Current(threading.local):
    acting: Acting = NOBODY


_current = _Current()


def current() -> Acting:
    """Who is acting in this thread: the system unless told otherwise."""
    return _current.acting


@contextlib.contextmanager
def acting_as(acting: Acting) -> Iterator[None]:
    """Within the block, changes made in this thread are `acting`'s."""
    before = _current.acting
    _current.acting = acting
    try:
        yield
    finally:
        _current.acting = before
