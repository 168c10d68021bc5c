"""Statements sent in one batch (`models.bulk.statement_batch`), as a settlement batch
sends its updates, entries and events: all of them land, in the order they
were made, or none does."""

from __future__ import annotations

import uuid

import pytest
from peewee import IntegrityError

from models.bulk import statement_batch, statement_stream
from models.connection import utcnow
from models.currency import Currency
from models.retry import retried_transaction


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
        with statement_batch() as batch:
            batch.insert_rows((Currency, [currency_row(first), currency_row(second)]))
            # Sees the rows inserted before it, though both are sent at once.
            batch.update_rows(
                Currency,
                [{"code": first, "name": "Renamed", "exponent": 3}, {"code": second, "name": "Too", "exponent": 4}],
            )

    retried_transaction(work)
    stored = {c.code: (c.name, c.exponent) for c in Currency.select().where(Currency.code.in_([first, second]))}
    assert stored == {first: ("Renamed", 3), second: ("Too", 4)}


def test_a_statement_that_fails_takes_those_made_with_it_along(gateway):
    fresh = unused_code()

    def work() -> None:
        with statement_batch() as batch:
            batch.insert_rows((Currency, [currency_row(fresh)]))
            batch.insert_rows((Currency, [currency_row("PHP")]))  # already there

    with pytest.raises(IntegrityError):
        retried_transaction(work)
    assert not Currency.select().where(Currency.code == fresh).exists()


def test_statements_streamed_chunk_by_chunk_land_in_order_in_the_callers_transaction(gateway):
    first, second = unused_code(), unused_code()

    def work() -> None:
        with statement_stream() as stream:
            stream.insert_rows((Currency, [currency_row(first)]))
            stream.send()
            stream.update_rows(Currency, [{"code": first, "name": "Renamed", "exponent": 3}])
            stream.send()
            # Made while the sends may still be under way; sent when the block ends.
            stream.insert_rows((Currency, [currency_row(second)]))
            stream.update_rows(Currency, [{"code": first, "exponent": 4}], same={"active": True})
        # Everything has landed once the block is left, in this transaction.
        assert Currency.select().where(Currency.code.in_([first, second])).count() == 2

    retried_transaction(work)
    stored = {
        c.code: (c.name, c.exponent, c.active) for c in Currency.select().where(Currency.code.in_([first, second]))
    }
    assert stored == {first: ("Renamed", 4, True), second: ("Sent together", 2, False)}


def test_a_streamed_statement_that_fails_fails_the_block_and_the_transaction(gateway):
    fresh, later = unused_code(), unused_code()

    def work() -> None:
        with statement_stream() as stream:
            stream.insert_rows((Currency, [currency_row(fresh)]))
            stream.send()
            stream.insert_rows((Currency, [currency_row("PHP")]))  # already there
            stream.send()
            stream.insert_rows((Currency, [currency_row(later)]))

    with pytest.raises(IntegrityError):
        retried_transaction(work)
    assert not Currency.select().where(Currency.code.in_([fresh, later])).exists()


def test_a_block_left_by_an_error_sends_nothing_more(gateway):
    fresh = unused_code()

    def work() -> None:
        with statement_stream() as stream:
            stream.insert_rows((Currency, [currency_row(fresh)]))
            raise LookupError("the caller gave up")

    with pytest.raises(LookupError):
        retried_transaction(work)
    assert not Currency.select().where(Currency.code == fresh).exists()


def test_an_events_data_is_stored_as_its_compact_json_text_by_every_way_of_recording(gateway):
    from models.event import Event, record_event, record_events
    from models.serialize import compact_json

    data = {
        "id": "acc_" + uuid.uuid4().hex,
        "note": 'é "quoted" \\ \u2028',
        "amounts": [1, "2.50", None],
        "deep": {"x": True},
    }

    def work() -> None:
        record_event("account.updated", data)
        record_events([("account.updated", data)])
        with statement_batch() as batch:
            record_events([("account.updated", data)], into=batch)

    retried_transaction(work)
    stored = [e.data for e in Event.select().where(Event.data.contains(data["id"])).order_by(Event.id)]
    assert stored == [compact_json(data)] * 3
