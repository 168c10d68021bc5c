"""The shape of request bodies: known fields, right JSON types.

Shape problems are 400 `invalid_request` (the client sent something it could
not have meant); rule problems found afterwards are 422.
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from .errors import invalid

# No string a body or a query carries may hold a NUL (PostgreSQL's text
# cannot store one): the document's pattern for free text.
NUL_FREE_PATTERN = r"^[^\x00]*$"

AMOUNT = "amount"
CODES = "list of codes"
_TYPE_NAMES = {
    str: "a string",
    bool: "true or false",
    int: "an integer",
    list: "a list",
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
        return (isinstance(value, int) and not isinstance(value, bool)) or _is_whole(value)
    # The names above (AMOUNT, CODES) are the only expected kinds that are not types.
    return isinstance(value, cast(type, expected))


def _is_whole(value: object) -> bool:
    """A JSON number written with a decimal point or an exponent that equals
    a whole number (`5.0`, `2E0`): an integer to JSON Schema, so to us too.
    (Up to 40 digits, as the body's plain integers: `1E999999999` must not
    become a number of a billion digits.)"""
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < 40
        and value == value.to_integral_value()
    )


def _holds_nul(value: object) -> bool:
    """A NUL in a string, or in a string of a list (the objects of a list
    are shaped by their own call)."""
    if isinstance(value, list):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return isinstance(value, str) and "\x00" in value


def check_shape(body: object, fields: dict[str, object], required: tuple[str, ...] = ()) -> dict:
    """`body` must be an object with only `fields` (name -> expected type),
    including every `required` one; `null` is accepted for optional fields.
    Returns the body with whole numbers given for integer fields as ints."""
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
        elif _holds_nul(value):
            problems[name] = "must not contain NUL characters"
    if problems:
        raise invalid(problems, code="invalid_request", status=400)
    return {name: int(value) if fields[name] is int and _is_whole(value) else value for name, value in body.items()}
