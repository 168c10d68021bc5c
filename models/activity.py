"""Who did what: every change (the event log, with each event's actor) and
every access (log-ins, log-outs, tokens, operators: `models.access`),
newest first, as one list.

Each of the two is read newest first by (created_at, id), or by (actor,
created_at, id) when filtered by actor, from an index made for it
(migration 0010); a page takes up to a page from each and keeps the newest.
The cursor is the (time, source, id) of the last line shown, so the next
page starts exactly after it in both.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .access import ACCESS_ACTIONS, AccessRecord
from .actors import ACTOR_PATTERN, actor_json
from .errors import invalid
from .event import EVENT_TYPES, Event
from .pagination import SEQ, TIME, decode_cursor, encode_cursor
from .queries import parse_time
from .serialize import iso

# Which of two lines at the same instant comes first, newest first.
CHANGE, ACCESS = 1, 0


def list_activity(args: dict, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
    """A page of the activity log, newest first, and the cursor to the next."""
    actor = args.get("actor")
    if actor is not None and not ACTOR_PATTERN.match(actor):
        raise invalid({"actor": "must be system, anonymous, token:<id> or operator:<id>"}, "invalid_request", 400)
    kind = args.get("type")
    if kind is not None and kind not in EVENT_TYPES and kind not in ACCESS_ACTIONS:
        raise invalid({"type": "must be an event type or an access action"}, "invalid_request", 400)
    after = parse_time("created_after", args.get("created_after"))
    before = parse_time("created_before", args.get("created_before"))
    key = decode_cursor(cursor, TIME, SEQ, SEQ)
    lines: list[tuple[datetime, int, int, Any]] = []
    for source, query in activity_queries(actor, kind, after, before, key):
        lines += [(row.created_at, source, row.id, row) for row in query.limit(limit + 1)]
    lines.sort(key=lambda line: line[:3], reverse=True)
    page, more = lines[:limit], len(lines) > limit
    next_cursor = encode_cursor([page[-1][0].isoformat(), page[-1][1], page[-1][2]]) if more else None
    return [_line(source, row) for _, source, _, row in page], next_cursor


def activity_queries(
    actor: str | None, kind: str | None, after: datetime | None, before: datetime | None, key: list | None
) -> list[tuple[int, Any]]:
    """The queries of the changes and the accesses that match, each newest
    first by (created_at, id) from the index made for it: (source, query)."""
    queries = []
    for source, model, type_field in ((CHANGE, Event, Event.type), (ACCESS, AccessRecord, AccessRecord.action)):
        if kind is not None and (kind in EVENT_TYPES) != (source == CHANGE):
            continue
        query = model.select()
        if actor is not None:
            query = query.where(model.actor_key.is_null() if actor == "system" else model.actor_key == actor)
        if kind is not None:
            query = query.where(type_field == kind)
        if after is not None:
            query = query.where(model.created_at >= after)
        if before is not None:
            query = query.where(model.created_at < before)
        if key:
            query = query.where(_older_than(model, source, *key))
        queries.append((source, query.order_by(model.created_at.desc(), model.id.desc())))
    return queries


def _older_than(model: Any, source: int, moment: datetime, last_source: int, last_id: int) -> Any:
    """The rows of `source` after the line (moment, last_source, last_id) in
    newest-first order."""
    earlier = model.created_at < moment
    if source < last_source:
        return model.created_at <= moment
    if source > last_source:
        return earlier
    return earlier | ((model.created_at == moment) & (model.id < last_id))


def _line(source: int, row: Any) -> dict:
    if source == CHANGE:
        return {
            "id": f"event:{row.id}",
            "source": "change",
            "type": row.type,
            "subject": _subject(json.loads(row.data)),
            "seq": row.seq,
            "actor": actor_json(row.actor),
            "created_at": iso(row.created_at),
            "client_ip": row.client_ip,
            "request_id": row.request_id,
        }
    return {
        "id": f"access:{row.id}",
        "source": "access",
        "type": row.action,
        "subject": row.subject,
        "seq": None,
        "actor": actor_json(row.actor),
        "created_at": iso(row.created_at),
        "client_ip": row.client_ip,
        "request_id": row.request_id,
    }


def _subject(data: dict) -> str | None:
    """What an event is about: the id of what changed (a currency's code, a
    rate's pair)."""
    if "id" in data:
        return str(data["id"])
    if "code" in data:
        return str(data["code"])
    if "base" in data:
        return f"{data['base']}/{data['quote']}"
    return None
