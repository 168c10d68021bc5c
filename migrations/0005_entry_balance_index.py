"""Drop `entry_balance_id`: the (balance_id, id) index, which a balance's
statement is read by, serves every lookup by balance too, and each entry
paid for both."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    migrator.migrate(migrator.drop_index("entry", "entry_balance_id"))
