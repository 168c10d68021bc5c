"""Drop payment indexes that every payment write kept up and no query read.

A payment row is written twice (intake, then settlement changes its
status), and a change to an indexed column puts a new entry in every index,
so each index costs two entries per payment. `status` alone is covered by
(status, created_at); payments are never looked up by balance (entries are),
and balances are never deleted, so the foreign keys need no index either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    migrator.migrate(
        migrator.drop_index("payment", "payment_status"),
        migrator.drop_index("payment", "payment_from_balance"),
        migrator.drop_index("payment", "payment_to_balance"),
    )
