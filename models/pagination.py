"""Cursor pagination (SPEC section 5): `?limit=` and an opaque `?cursor=`.

A cursor is the sort key of the last row a page returned, so pages stay
stable while new rows arrive (no offsets that shift).
"""

from __future__ import annotations

import base64
import json

from .errors import ApiError, invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise invalid({"limit": f"must be an integer from 1 to {MAX_LIMIT}"}, code="invalid_request", status=400)
    return int(raw)


def encode_cursor(key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, arity: int) -> list | None:
    if raw is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != arity or not all(isinstance(k, (str, int)) for k in key):
        raise ApiError(400, "invalid_cursor", "cursor is not one this API gave out")
    return key


def page(rows: list, limit: int, key) -> tuple[list, str | None]:
    """Given up to limit+1 rows, the page and the cursor to the next one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(key(rows[-1]))
