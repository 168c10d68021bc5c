"""Every use this project makes of Peewee's private internals, in one place.

Peewee offers no public way to do these few things, each of which the speed
or the correctness of the ledger depends on. Should an upgrade of Peewee
change one, `tests/test_peewee_internals.py` fails and names it, rather
than the ledger misbehaving quietly.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, cast

import peewee
from peewee import Database, Field, Model

M = TypeVar("M", bound=Model)


class _DatabaseInternals(Protocol):
    """The private parts of a Peewee `Database` used here, which Peewee's
    stubs (its public API only) do not describe."""

    _state: peewee._ConnectionState

    def _clear_commit_callbacks(self) -> None: ...


def _internals(db: Database) -> _DatabaseInternals:
    # The same object, seen with its private attributes (see the Protocol).
    return cast(_DatabaseInternals, db)


def pending_commit_callbacks(db: Database) -> list[Callable[[], None]]:
    """The `after_commit` callbacks this thread's open transaction has
    registered so far (dropped by Peewee on rollback)."""
    return _internals(db)._state.commit_callbacks


def clear_commit_callbacks(db: Database) -> None:
    """Forget this thread's `after_commit` callbacks without running them."""
    _internals(db)._clear_commit_callbacks()


def forget_connection(db: Database) -> None:
    """Drop this thread's connection state without closing it: for a
    connection so broken that closing it fails too."""
    _internals(db)._state.reset()


def is_text_field(field: Field) -> bool:
    """Whether `field` is one of Peewee's text fields (CharField, TextField
    and their kind), whose values go to the database as they are."""
    return isinstance(field, peewee._StringField)


def translated_errors() -> AbstractContextManager[Any]:
    """Around a statement run on a raw cursor: the driver's errors raised as
    Peewee's (IntegrityError, OperationalError, ...), as if Peewee ran it."""
    return peewee.__exception_wrapper__  # type: ignore[attr-defined]  # private, and absent from Peewee's stubs


def row_values(instance: Model) -> dict[str, Any]:
    """A model instance's values by field name, foreign keys as their ids,
    without a descriptor call per field."""
    return instance.__data__


def instance_of_row(model: type[M], values: dict[str, Any]) -> M:
    """An instance of `model` holding `values` (by field name, foreign keys
    as ids) as they are, without Peewee filling in defaults field by field."""
    instance = model(__no_default__=True)
    instance.__data__ = values
    return instance
