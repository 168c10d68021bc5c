"""Operators' own data on accounts and payments: the rules of `metadata` (a
few string keys and values) and of the `metadata[key]=value` filters.

An object's metadata lives in its own row (the `metadata` column, JSON
text), which is what reading it shows, and once more as one row per key in
`AccountMetadata` or `PaymentMetadata`, which lists filter by through an
index in their own order (migration 0009). Both are written together, in
the caller's statement or transaction.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from .errors import invalid

MAX_KEYS = 20
KEY_MAX_LENGTH = 40
VALUE_MAX_LENGTH = 500
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
# `metadata[key]=value` in a list's query.
FILTER_PARAMETER = re.compile(r"^metadata\[(.*)\]$")


def check_metadata(value: object, merged_into: dict[str, str] | None = None) -> dict[str, str]:
    """The metadata a request sets: an object of at most MAX_KEYS string
    values (each at most VALUE_MAX_LENGTH characters) under keys of
    `[A-Za-z0-9_.-]`, 1 to KEY_MAX_LENGTH characters. With `merged_into`
    (what an object has now) it is a change: a key given null is removed,
    the others set, and the result must still hold at most MAX_KEYS keys.
    422 `validation_error` naming `metadata` or `metadata.<key>`."""
    if not isinstance(value, dict):
        raise invalid({"metadata": "must be an object of string values"})
    problems: dict[str, str] = {}
    result = dict(merged_into or {})
    for key, item in value.items():
        if not KEY_PATTERN.match(key):
            problems["metadata"] = f"keys must be 1 to {KEY_MAX_LENGTH} characters of A-Z, a-z, 0-9, _ . -"
        elif item is None and merged_into is not None:
            result.pop(key, None)
        elif not isinstance(item, str) or len(item) > VALUE_MAX_LENGTH or "\x00" in item:
            problems[f"metadata.{key}"] = f"must be a string of at most {VALUE_MAX_LENGTH} characters"
        else:
            result[key] = item
    if not problems and len(result) > MAX_KEYS:
        problems["metadata"] = f"must hold at most {MAX_KEYS} keys"
    if problems:
        raise invalid(problems)
    return result


def metadata_text(metadata: dict[str, str] | None) -> str | None:
    """The `metadata` column's value: compact JSON text, null for none."""
    return json.dumps(metadata, separators=(",", ":"), sort_keys=True) if metadata else None


def metadata_of(text: str | None) -> dict[str, str]:
    return json.loads(text) if text else {}


def payment_metadata_rows(payments: list[dict]) -> list[dict]:
    """The `PaymentMetadata` rows of payments given as row values."""
    return [
        {"payment": row["id"], "key": key, "value": value}
        for row in payments
        for key, value in metadata_of(row.get("metadata")).items()
    ]


def account_metadata_rows(account_id: str, created_at: datetime, metadata: dict[str, str]) -> list[dict]:
    return [
        {"account": account_id, "key": key, "value": value, "account_created_at": created_at}
        for key, value in metadata.items()
    ]


def metadata_filters(args: dict[str, str]) -> list[tuple[str, str]]:
    """The `metadata[key]=value` pairs of a list's query, each key checked
    (400 `invalid_request` naming the parameter)."""
    pairs = []
    for name, value in args.items():
        match = FILTER_PARAMETER.match(name)
        if match is None:
            continue
        if not KEY_PATTERN.match(match.group(1)):
            raise invalid({name: "the key must be 1 to 40 characters of A-Z, a-z, 0-9, _ . -"}, "invalid_request", 400)
        pairs.append((match.group(1), value))
    return sorted(pairs)
