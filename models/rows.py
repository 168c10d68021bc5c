"""Query results read as plain tuples, typed as such."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from peewee import BaseQuery


def tuples(query: BaseQuery) -> Iterable[tuple[Any, ...]]:
    """`query.tuples()`: the same query, whose rows are tuples of the
    selected columns. (Peewee's stubs type `.tuples()` as returning the query
    unchanged, so a model's select would still seem to give instances.)"""
    return cast("Iterable[tuple[Any, ...]]", query.tuples())
