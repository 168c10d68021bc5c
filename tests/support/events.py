"""The event log as the API shows it: its head, and every event after a given one."""

from __future__ import annotations


def head_seq(api) -> int:
    """The number of the newest event the API shows (0 for none)."""
    events = api.get("/api/v1/events", params={"order": "desc", "limit": 1}).body["data"]
    return events[0]["seq"] if events else 0


def events_after(api, seq: int) -> list[dict]:
    """Every event after `seq`, in order."""
    found, cursor = [], None
    while True:
        params = {"after": seq, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/events", params=params).body
        found += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def events_about(api, seq: int, resource_id: str, event_type: str | None = None, count: int = 1) -> list[dict]:
    """The events after `seq` whose data is the resource `resource_id` (of
    `event_type` when given), once at least `count` are numbered."""
    from tests.support.waiting import wait_until

    found: list[dict] = []

    def numbered() -> bool:
        found[:] = [
            e
            for e in events_after(api, seq)
            if e["data"].get("id") == resource_id and (event_type is None or e["type"] == event_type)
        ]
        return len(found) >= count

    assert wait_until(numbered, timeout=30), f"fewer than {count} events about {resource_id}: {found}"
    return found
