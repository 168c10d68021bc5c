"""Query results read as plain tuples, typed as such, or as model
instances made from whole rows at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, cast

from peewee import BaseQuery, Model, ModelSelect

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
    rather than field by field (a third of the time for a page of payments,
    with their thirty-odd columns)."""
    model = query.model
    return [instance_of_row(model, row) for row in cast("Iterable[dict[str, Any]]", query.dicts())]
