"""Cursor pagination (SPEC section 5): `?limit=` and an opaque `?cursor=`.

A cursor is the sort key of the last row a page returned, so pages stay
stable while new rows arrive (no offsets that shift).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from .errors import ApiError, invalid

R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


MAX_SEQ = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_count(name: str, raw: str, low: int, high: int) -> int:
    """A query parameter that must be a whole number from low to high."""
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise invalid({name: f"must be an integer from {low} to {high}"}, code="invalid_request", status=400)
    return int(raw)


def parse_limit(raw: str | None) -> int:
    return DEFAULT_LIMIT if raw is None else parse_count("limit", raw, 1, MAX_LIMIT)


# What encode_cursor makes: unpadded base64url. Anything else is refused
# before it is decoded.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


SEQ = "seq"
TIME = "time"
TEXT = "text"


def decode_cursor(raw: str | None, *kinds: str) -> list | None:
    """The sort key a cursor carries, each part checked against its kind
    (SEQ, TIME or TEXT); anything else is 400 `invalid_cursor`."""
    if raw is None:
        return None
    try:
        if not _CURSOR.fullmatch(raw):
            raise ValueError(raw)
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if not isinstance(key, list) or len(key) != len(kinds):
            raise ValueError
        return [_cursor_part(part, kind) for part, kind in zip(key, kinds, strict=True)]
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API gave out") from None


def _cursor_part(part: object, kind: str) -> int | datetime | str:
    if kind == SEQ and isinstance(part, int) and not isinstance(part, bool) and 0 <= part <= MAX_SEQ:
        return part
    if kind == TIME and isinstance(part, str):
        return datetime.fromisoformat(part)
    if kind == TEXT and isinstance(part, str) and "\x00" not in part and len(part) <= 64:
        return part
    raise ValueError(part)


def page(rows: list[R], limit: int, key: Callable[[R], list]) -> tuple[list[R], str | None]:
    """Given up to limit+1 rows, the page and the cursor to the next one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(key(rows[-1]))
