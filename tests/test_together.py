"""Statements sent together (`models.db.together`), as a settlement batch
sends its updates, entries and events: all of them land, in the order they
were made, or none does."""

from __future__ import annotations

import uuid

import pytest
from peewee import IntegrityError

from models.currency import Currency
from models.db import in_transaction, insert_rows, together, update_rows, utcnow


def currency_row(code: str) -> dict:
    return {
        "code": code,
        "name": "Sent together",
        "exponent": 2,
        "active": False,
        "custom": True,
        "created_at": utcnow(),
    }


def unused_code() -> str:
    return "T" + uuid.uuid4().hex[:8].upper()


def test_statements_made_together_all_land_in_the_order_made(gateway):
    first, second = unused_code(), unused_code()

    def work() -> None:
        with together():
            insert_rows((Currency, [currency_row(first), currency_row(second)]))
            # Sees the rows inserted before it, though both are sent at once.
            update_rows(
                Currency,
                [{"code": first, "name": "Renamed", "exponent": 3}, {"code": second, "name": "Too", "exponent": 4}],
            )

    in_transaction(work)
    stored = {c.code: (c.name, c.exponent) for c in Currency.select().where(Currency.code.in_([first, second]))}
    assert stored == {first: ("Renamed", 3), second: ("Too", 4)}


def test_a_statement_that_fails_takes_those_made_with_it_along(gateway):
    fresh = unused_code()

    def work() -> None:
        with together():
            insert_rows((Currency, [currency_row(fresh)]))
            insert_rows((Currency, [currency_row("PHP")]))  # already there

    with pytest.raises(IntegrityError):
        in_transaction(work)
    assert not Currency.select().where(Currency.code == fresh).exists()
