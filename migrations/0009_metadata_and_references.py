"""Metadata and references on accounts and payments.

Accounts and payments keep their `metadata` (a JSON object of strings) in a
column of their own row, which is what reading them shows, and once more as
one row per key in `account_metadata` and `payment_metadata`, which is what
lists filter by (`metadata[key]=value`). Each of those tables is indexed by
(key, value) followed by the list's own order (an account's creation time
and id; a payment's id, which sorts by time), so a filtered page is read in
that order straight from the index, however many rows match.

Accounts gain the caller's own `reference` (payments have one since 0007);
both are indexed by reference then list order, where set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import SqliteDatabase

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    stamp = "DATETIME" if isinstance(db, SqliteDatabase) else "TIMESTAMP"
    for statement in (
        'ALTER TABLE "account" ADD COLUMN "metadata" TEXT',
        'ALTER TABLE "account" ADD COLUMN "reference" VARCHAR(128)',
        'ALTER TABLE "payment" ADD COLUMN "metadata" TEXT',
        'CREATE TABLE "account_metadata" ("account_id" VARCHAR(64) NOT NULL REFERENCES "account" ("id"),'
        ' "key" VARCHAR(40) NOT NULL, "value" VARCHAR(500) NOT NULL,'
        f' "account_created_at" {stamp} NOT NULL, PRIMARY KEY ("account_id", "key"))',
        'CREATE INDEX account_metadata_lookup ON account_metadata ("key", "value", account_created_at, account_id)',
        'CREATE TABLE "payment_metadata" ("payment_id" VARCHAR(32) NOT NULL REFERENCES "payment" ("id"),'
        ' "key" VARCHAR(40) NOT NULL, "value" VARCHAR(500) NOT NULL, PRIMARY KEY ("payment_id", "key"))',
        'CREATE INDEX payment_metadata_lookup ON payment_metadata ("key", "value", payment_id)',
        "CREATE INDEX account_reference ON account (reference, created_at, id) WHERE reference IS NOT NULL",
        "CREATE INDEX payment_reference ON payment (reference, id) WHERE reference IS NOT NULL",
    ):
        db.execute_sql(statement)
