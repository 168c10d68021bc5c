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
