"""Each use of Peewee's private internals (`models.peewee_internals`) does
what the ledger relies on. Should a Peewee upgrade change one, the test
named after it fails, rather than the ledger misbehaving quietly."""

from __future__ import annotations

from pathlib import Path

import peewee
import pytest
from peewee import CharField, IntegerField, IntegrityError, Model, SqliteDatabase, TextField

from models import peewee_internals as internals
from models.dialect import MinorUnitsField


class Thing(Model):
    id = CharField(primary_key=True)
    name = CharField()
    note = TextField(null=True)
    count = IntegerField(default=7)


class Child(Model):
    parent = peewee.ForeignKeyField(Thing)


@pytest.fixture
def db(tmp_path: Path):
    database = SqliteDatabase(str(tmp_path / "internals.db"), field_types={"MINOR_UNITS": "TEXT"})
    database.bind([Thing, Child])
    database.create_tables([Thing, Child])
    yield database
    database.close()


def test_pending_commit_callbacks_lists_what_after_commit_registered_and_rollback_drops_it(db):
    ran: list[str] = []
    with db.atomic():
        db.after_commit(lambda: ran.append("first"))
        assert len(internals.pending_commit_callbacks(db)) == 1
    assert ran == ["first"]
    assert internals.pending_commit_callbacks(db) == []
    with pytest.raises(RuntimeError), db.atomic():
        db.after_commit(lambda: ran.append("second"))
        raise RuntimeError("roll back")
    assert ran == ["first"]
    assert internals.pending_commit_callbacks(db) == []


def test_clear_commit_callbacks_forgets_them_without_running_them(db):
    ran: list[str] = []
    with db.atomic():
        db.after_commit(lambda: ran.append("never"))
        internals.clear_commit_callbacks(db)
    assert ran == []


def test_forget_connection_leaves_the_next_use_to_open_a_new_one(db):
    db.connect(reuse_if_open=True)
    first = db.connection()
    internals.forget_connection(db)
    assert db.is_closed()
    assert db.connection() is not first
    first.close()


def test_is_text_field_knows_peewees_text_fields_and_nothing_else():
    assert internals.is_text_field(CharField()) and internals.is_text_field(TextField())
    assert not internals.is_text_field(IntegerField()) and not internals.is_text_field(MinorUnitsField())


def test_translated_errors_raises_the_drivers_errors_as_peewees(db):
    Thing.create(id="a", name="one")
    cursor = db.cursor()
    with pytest.raises(IntegrityError), internals.translated_errors():
        cursor.execute('INSERT INTO "thing" ("id", "name", "count") VALUES (?, ?, ?)', ("a", "again", 1))


def test_row_values_are_the_field_values_with_foreign_keys_as_ids(db):
    parent = Thing.create(id="p", name="parent", note=None)
    child = Child.create(parent=parent)
    assert internals.row_values(parent) == {"id": "p", "name": "parent", "note": None, "count": 7}
    assert internals.row_values(child)["parent"] == "p"


def test_instance_of_row_holds_exactly_the_values_given_and_saves_them(db):
    thing = internals.instance_of_row(Thing, {"id": "r", "name": "from a row", "note": None, "count": 3})
    assert thing.name == "from a row" and thing.count == 3
    # No defaults filled in field by field: what was not given is not there.
    assert "count" not in internals.row_values(internals.instance_of_row(Thing, {"id": "x", "name": "y"}))
    thing.save(force_insert=True)
    assert Thing.get_by_id("r").count == 3
