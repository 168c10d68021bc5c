"""Currencies: ISO 4217 out of the box, custom ones added by operators."""

from __future__ import annotations

import re
import time

import iso4217
from peewee import BooleanField, CharField, DateTimeField, IntegerField

from .connection import BaseModel, utcnow
from .errors import ApiError, invalid

CODE_PATTERN = re.compile(r"^[A-Z0-9]{3,10}$")
MAX_EXPONENT = 18
NAME_MAX_LENGTH = 100
# A name is refused when it holds nothing but spaces.
NAME_PATTERN = re.compile(r"\S")
CACHE_SECONDS = 10.0
_recent: dict[str, tuple[Currency, float]] = {}


class Currency(BaseModel):
    code = CharField(max_length=10, primary_key=True)
    name = CharField(max_length=NAME_MAX_LENGTH)
    exponent = IntegerField()
    active = BooleanField(default=True)
    custom = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    @classmethod
    def known(cls, code: object) -> Currency:
        """The currency named `code`, or 422 `unknown_currency`. Read from a
        short-lived cache: currencies are added, never removed, and every
        payment names one."""
        hit = _recent.get(code) if isinstance(code, str) else None
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        currency = cls.get_or_none(cls.code == code) if isinstance(code, str) else None
        if currency is None:
            raise ApiError(422, "unknown_currency", f"unknown currency {code!r}")
        assert isinstance(code, str)  # a currency was found by it
        _recent[code] = (currency, time.monotonic() + CACHE_SECONDS)
        return currency


def iso_currencies() -> list[tuple[str, str, int]]:
    """(code, name, exponent) of every ISO 4217 currency that has minor units
    (funds, metals and test codes have none and cannot carry payments)."""
    return sorted((c.code, c.currency_name, c.exponent) for c in iso4217.Currency if c.exponent is not None)


def validate_new_currency(data: dict) -> tuple[str, str, int]:
    code, name, exponent = data.get("code"), data.get("name"), data.get("exponent")
    problems = {}
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        problems["code"] = "must be 3 to 10 upper-case letters or digits"
    if not isinstance(name, str) or not NAME_PATTERN.search(name) or len(name) > NAME_MAX_LENGTH:
        problems["name"] = f"must be a non-empty string of at most {NAME_MAX_LENGTH} characters"
    if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= MAX_EXPONENT:
        problems["exponent"] = f"must be an integer from 0 to {MAX_EXPONENT}"
    if problems:
        raise invalid(problems)
    assert isinstance(code, str) and isinstance(name, str) and isinstance(exponent, int)  # checked above
    return code, name.strip(), exponent


_exponents: dict[str, int] = {}


def exponent_of(code: str) -> int:
    """A currency's exponent, cached: it never changes once the currency exists."""
    exponent = _exponents.get(code)
    if exponent is None:
        exponent = _exponents[code] = Currency.get_by_id(code).exponent
    return exponent
