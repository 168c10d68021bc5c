"""Bulk statements: many rows inserted, or each given their own values, by
one statement; and a batch of such statements sent in one round trip.

`IMMEDIATE` sends each statement as it is made. Inside `statement_batch()`
they are gathered and sent together when the block ends, in the order they
were made (on PostgreSQL, inside a transaction: a statement that fails
fails them all, and the transaction with them). Under load every round trip
waits its turn for a core and for the GIL, whatever its statement; SQLite
has none to save and runs each at once.

Inside `statement_stream()` each `send()` hands what was gathered so far to
a thread that sends it on the caller's connection, in order, while the
caller goes on making the next statements: the database writes one part
while Python prepares the next, on two cores rather than one after the
other. The block ends once everything has been sent; a statement that
failed is raised then.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import threading
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import peewee
from peewee import Field, Model

from .connection import atomic, database, is_sqlite
from .peewee_internals import is_text_field, translated_errors

Rows = tuple[type[Model], list[dict]]


class JsonTextField(peewee.TextField):
    """Text holding JSON, given as the text or as the dict it encodes
    (compact, as `models.serialize.compact_json` writes it)."""

    json_as_is = (str, dict)

    def db_value(self, value: Any) -> Any:
        return value if value is None or isinstance(value, str) else _ROWS_JSON.encode(value)


class Statements:
    """Bulk statements, each sent as soon as it is made."""

    def insert_rows(self, *tables: Rows) -> None:
        """Insert many rows into one or more tables, `(model, rows)` each
        (rows are dicts keyed by field name), in one statement: all of them
        or, should any row be refused, none, even outside a transaction.

        On PostgreSQL one INSERT per table, chained as a WITH query, each
        reading its rows from one JSON parameter (`json_populate_recordset`
        casts each value to its column's type): a multi-row INSERT is SQL
        text the server parses value by value, Peewee's own builds a query
        node per value, and COPY takes a statement (a round trip) per table
        and formats each value in Python, where json.dumps does it in C.
        """
        tables = tuple((model, rows) for model, rows in tables if rows)
        if not tables:
            return
        if is_sqlite():
            with atomic() if not database.in_transaction() else database.atomic():
                for model, rows in tables:
                    model.insert_many(rows).as_rowcount().execute()
            return
        statements, params = [], []
        for model, rows in tables:
            names = list(dict.fromkeys(itertools.chain.from_iterable(rows)))
            plan = [(name, *_json_column(model._meta.fields[name])) for name in names]
            columns = ", ".join(f'"{column}"' for _, column, _, _ in plan)
            table = f'"{model._meta.table_name}"'
            statements.append(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::{table}, %s)"
            )
            params.append(_ROWS_JSON.encode([_json_row(row, plan) for row in rows]))
        *first, last = statements
        if first:
            last = "WITH " + ", ".join(f"_{n} AS ({statement})" for n, statement in enumerate(first)) + " " + last
        self._send(last, params)

    def update_rows(self, model: type[Model], rows: list[dict], same: dict | None = None) -> None:
        """Give many rows each their own values in one statement: `rows` are
        dicts keyed by field name, each with the primary key and the same
        other fields; `same` (field name: value) is set on all of them.

        On PostgreSQL an UPDATE ... FROM (VALUES ...), each value cast to its
        column's type; Peewee's CASE per column builds a query node per
        value, a third of a settlement batch's time.
        """
        if not rows:
            return
        key = model._meta.primary_key
        assert key is not False  # rows are matched by their primary key, which every model here has
        fields = [model._meta.fields[name] for name in rows[0] if name != key.name]
        constant = {model._meta.fields[name]: value for name, value in (same or {}).items()}
        if is_sqlite():
            ids = [row[key.name] for row in rows]
            columns = {f: peewee.Case(key, [(row[key.name], f.db_value(row[f.name])) for row in rows]) for f in fields}
            model.update({**columns, **constant}).where(key.in_(ids)).execute()
            return
        plan = [(f.name, *_json_column(f)) for f in (key, *fields)]
        sets = [f'"{f.column_name}" = v."{f.column_name}"' for f in fields]
        sets += [f'"{field.column_name}" = %s' for field in constant]
        table = f'"{model._meta.table_name}"'
        sql = (
            f"UPDATE {table} AS t SET {', '.join(sets)} FROM json_populate_recordset(NULL::{table}, %s) AS v"
            f' WHERE t."{key.column_name}" = v."{key.column_name}"'
        )
        rows_json = _ROWS_JSON.encode([_json_row(row, plan) for row in rows])
        self._send(sql, (*(field.db_value(value) for field, value in constant.items()), rows_json))

    def _send(self, sql: str, params: Any) -> None:
        database.execute_sql(sql, params)

    def send(self) -> None:
        """Send what was gathered; here nothing is: each statement was sent as it was made."""


class StatementBatch(Statements):
    """Bulk statements gathered, to be sent together by `send` (PostgreSQL)."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, Any]] = []

    def _send(self, sql: str, params: Any) -> None:
        self._pending.append((sql, params))

    def send(self) -> None:
        """Send every statement gathered so far, in one round trip."""
        pending, self._pending = self._pending, []
        if pending:
            _execute_together(database.cursor(), pending)


def _execute_together(cursor: Any, statements: list[tuple[str, Any]]) -> None:
    with translated_errors():
        cursor.execute(b";\n".join(cursor.mogrify(sql, params) for sql, params in statements))


class StatementStream(StatementBatch):
    """Bulk statements sent by a thread of their own on the caller's
    connection, each `send()`'s in one round trip, in order, while the
    caller goes on (PostgreSQL). The caller runs no other statement on the
    connection until `close`."""

    def __init__(self) -> None:
        super().__init__()
        self._connection = database.connection()
        self._parts: queue.SimpleQueue[list[tuple[str, Any]] | None] = queue.SimpleQueue()
        self._failure: BaseException | None = None
        self._sender = threading.Thread(target=self._run, name="statement-stream", daemon=True)
        self._sender.start()

    def send(self) -> None:
        """Hand every statement gathered so far to the sender, and go on."""
        pending, self._pending = self._pending, []
        if pending:
            self._parts.put(pending)

    def close(self, send_the_rest: bool) -> None:
        """Wait until the sender is done (after sending what is gathered, if
        `send_the_rest`); raise what failed, if anything did."""
        if send_the_rest:
            self.send()
        self._parts.put(None)
        self._sender.join()
        if send_the_rest and self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        cursor = self._connection.cursor()
        while (part := self._parts.get()) is not None:
            # After a failure the transaction is lost: what follows is dropped.
            if self._failure is None:
                try:
                    _execute_together(cursor, part)
                except BaseException as failure:  # raised in the caller's thread by `close`
                    self._failure = failure


IMMEDIATE = Statements()


@contextlib.contextmanager
def statement_batch() -> Iterator[Statements]:
    """Statements made on what this yields are sent in one round trip when
    the block ends (see the module doc); on SQLite each is run at once."""
    if is_sqlite():
        yield IMMEDIATE
        return
    batch = StatementBatch()
    yield batch
    batch.send()


@contextlib.contextmanager
def statement_stream() -> Iterator[Statements]:
    """Statements made on what this yields are sent as each `send()` asks,
    by another thread, while the caller goes on; all of them by the end of
    the block (see the module doc). On SQLite each is run at once, and
    `send()` has nothing to do."""
    if is_sqlite():
        yield IMMEDIATE
        return
    stream = StatementStream()
    try:
        yield stream
    except BaseException:
        stream.close(send_the_rest=False)
        raise
    stream.close(send_the_rest=True)


def insert_rows(*tables: Rows) -> None:
    """`Statements.insert_rows`, sent at once."""
    IMMEDIATE.insert_rows(*tables)


def update_rows(model: type[Model], rows: list[dict], same: dict | None = None) -> None:
    """`Statements.update_rows`, sent at once."""
    IMMEDIATE.update_rows(model, rows, same)


def _json_column(field: Field) -> tuple[str, tuple[type, ...], Callable]:
    """How `insert_rows` puts a field's values into JSON: its column, the
    types of value that go in as they are, and the `db_value` that the rest
    go through. Text columns, and keys to them, take a str as it is (their
    `db_value` would return it unchanged); a field holding JSON text
    (`JsonTextField`) takes its dict too, written once into the rows' JSON,
    whose text PostgreSQL keeps as the column's. A batch's rows hold
    thousands of values; most are ids and other text."""
    target = field.rel_field if isinstance(field, peewee.ForeignKeyField) else field
    as_is: tuple[type, ...] = getattr(target, "json_as_is", ())
    if not as_is and is_text_field(target) and type(target).db_value is Field.db_value:
        as_is = (str,)
    return field.column_name, as_is, field.db_value


def _json_row(row: dict, plan: list[tuple[str, str, tuple[type, ...], Callable]]) -> dict:
    return {
        column: value if value is None or type(value) in as_is else db_value(value)
        for name, column, as_is, db_value in plan
        for value in (row.get(name),)
    }


def _json_value(value: object) -> str:
    """A value JSON has no type for, as the text its column's type reads."""
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return str(value)


_ROWS_JSON = json.JSONEncoder(default=_json_value, separators=(",", ":"))
