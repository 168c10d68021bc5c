"""Query results read as plain tuples, typed as such, or as model
instances made from whole rows at once."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

import peewee
from peewee import BaseQuery, Field, Model, ModelSelect

from .connection import database
from .peewee_internals import instance_of_row

M = TypeVar("M", bound=Model)


def tuples(query: BaseQuery) -> Iterable[tuple[Any, ...]]:
    """`query.tuples()`: the same query, whose rows are tuples of the
    selected columns. (Peewee's stubs type `.tuples()` as returning the query
    unchanged, so a model's select would still seem to give instances.)"""
    return cast("Iterable[tuple[Any, ...]]", query.tuples())


def instances(query: ModelSelect[M]) -> list[M]:
    """`list(query)` for a query of one model's rows: the same instances,
    with the values Peewee would give them, each made from its row at once
    rather than field by field. The query selects the whole row as
    `"t1".*`: Peewee would write out each of the thirty-odd columns of a
    payment, and make a dict of each row before the instance, for every
    page of payments."""
    model = query.model
    cursor = database.execute(query.select(_WholeRow(model)))
    plan = _reading(model, tuple(column[0] for column in cursor.description))
    return [
        instance_of_row(
            model,
            {
                name: value if read is None or value is None else read(value)
                for (name, read), value in zip(plan, row, strict=True)
            },
        )
        for row in cursor.fetchall()
    ]


class _WholeRow(peewee.Node):
    """Every column of a model's table, as `<its alias>.*`."""

    def __init__(self, model: type[Model]) -> None:
        self._table = model._meta.table

    def __sql__(self, ctx: Any) -> Any:
        with ctx.scope_column():
            return ctx.sql(self._table).literal(".*")


@functools.lru_cache(maxsize=64)
def _reading(model: type[Model], columns: tuple[str, ...]) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """For each column of a model's rows, the field name its value goes
    under and how Peewee reads it (None: as it comes)."""
    fields = {field.column_name: field for field in model._meta.sorted_fields}
    return tuple((fields[column].name, _reader(fields[column])) for column in columns)


def _reader(field: Field) -> Callable[[Any], Any] | None:
    plain = type(field).python_value is Field.python_value and type(field).adapt is Field.adapt
    return None if plain else field.python_value
