"""Event indexes for the queries that run, and no more.

Every event is written twice (inserted without a number, then numbered),
and numbering changes an indexed column, so each index costs an entry per
write. Events are only ever read by number: the (account, seq) indexes served
no query (feeds filter by account as they send), and the unique index on
`seq` need not hold the not-yet-numbered rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    migrator.migrate(
        migrator.drop_index("event", "event_account_a_seq"),
        migrator.drop_index("event", "event_account_b_seq"),
        migrator.drop_index("event", "event_seq"),
    )
    db.execute_sql("CREATE UNIQUE INDEX event_seq ON event (seq) WHERE seq IS NOT NULL")
