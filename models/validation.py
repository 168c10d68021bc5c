"""The shape of request bodies: known fields, right JSON types.

Shape problems are 400 `invalid_request` (the client sent something it could
not have meant); rule problems found afterwards are 422.
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from .errors import invalid

AMOUNT = "amount"
CODES = "list of codes"
_TYPE_NAMES = {
    str: "a string",
    bool: "true or false",
    int: "an integer",
    AMOUNT: "a decimal string",
    CODES: "a list of strings",
    dict: "an object",
}


def _has_type(value: object, expected: object) -> bool:
    if expected is AMOUNT:
        return isinstance(value, (str, int, Decimal)) and not isinstance(value, bool)
    if expected is CODES:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    # The names above (AMOUNT, CODES) are the only expected kinds that are not types.
    return isinstance(value, cast(type, expected))


def check_shape(body: object, fields: dict[str, object], required: tuple[str, ...] = ()) -> dict:
    """`body` must be an object with only `fields` (name -> expected type),
    including every `required` one; `null` is accepted for optional fields."""
    if not isinstance(body, dict):
        raise invalid({"body": "must be a JSON object"}, code="invalid_request", status=400)
    problems = {}
    for name in body:
        if name not in fields:
            problems[name] = "is not a known field"
    for name, expected in fields.items():
        value = body.get(name)
        if value is None:
            if name in required:
                problems[name] = "is required"
        elif not _has_type(value, expected):
            problems[name] = f"must be {_TYPE_NAMES[expected]}"
        elif "\x00" in str(value):
            problems[name] = "must not contain NUL characters"
    if problems:
        raise invalid(problems, code="invalid_request", status=400)
    return body
