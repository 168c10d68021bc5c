"""Summaries for the overview, audit checkpoints, and indexes for growth.

The overview's figures are read from small tallies instead of being
counted and summed over the ledger's tables on every request:

- `payment_status_tally`: how many payments are in each status;
- `payment_volume_tally`: per currency and UTC day of creation, how many
  completed payments and their amount;
- `balance_tally`: how many customer balances are in each currency.

A tally is a list of changes (+1 pending, -1 pending +1 completed, ...),
written with the events of the changes they count (`models.summaries`), so
a tally is exact at every commit and writers never wait on each other for
it; the rows of one key are folded into one from time to time. The tallies
start from what the ledger holds.

`audit_checkpoint` records each audit that found the ledger sound: up to
which `seq` of the event log it looked. The next audit starts there.

`payment_open_holds` holds only the authorized payments, by paying
balance: what an audit compares with each balance's `held`.
`account_created_id` serves the account list in its order (created_at, id),
and replaces the index of `created_at` alone; `account_inactive` the list
of inactive accounts, few among many. An account's payments are read in
order from `payment_from_account_id` and `payment_to_account_id`, which
replace the indexes of `from_account` and `to_account` alone (so a payment
costs no more index entries than before).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import SqliteDatabase

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    sqlite = isinstance(db, SqliteDatabase)
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if sqlite else "BIGSERIAL PRIMARY KEY"
    stamp = "DATETIME" if sqlite else "TIMESTAMP"
    minor = "TEXT" if sqlite else "NUMERIC(40,0)"
    day = "date(created_at)" if sqlite else "created_at::date"
    total = "BIGSUM(amount)" if sqlite else "sum(amount)"
    for statement in (
        f'CREATE TABLE "payment_status_tally" ("id" {serial}, "status" VARCHAR(16) NOT NULL,'
        ' "payments" BIGINT NOT NULL)',
        'CREATE INDEX payment_status_tally_status ON payment_status_tally ("status", "id")',
        f'CREATE TABLE "payment_volume_tally" ("id" {serial}, "currency_id" VARCHAR(10) NOT NULL,'
        f' "day" DATE NOT NULL, "payments" BIGINT NOT NULL, "amount" {minor} NOT NULL)',
        'CREATE INDEX payment_volume_tally_day ON payment_volume_tally ("currency_id", "day", "id")',
        f'CREATE TABLE "balance_tally" ("id" {serial}, "currency_id" VARCHAR(10) NOT NULL, "balances" BIGINT NOT NULL)',
        'CREATE INDEX balance_tally_currency ON balance_tally ("currency_id", "id")',
        f'CREATE TABLE "audit_checkpoint" ("id" {serial}, "seq" BIGINT NOT NULL, "checked_at" {stamp} NOT NULL,'
        ' "whole" BOOLEAN NOT NULL)',
        "CREATE INDEX payment_open_holds ON payment (from_balance, id) WHERE status = 'authorized'",
        "CREATE INDEX account_created_id ON account (created_at, id)",
        "DROP INDEX account_created_at",
        "CREATE INDEX account_inactive ON account (created_at, id) WHERE NOT active",
        "CREATE INDEX payment_from_account_id ON payment (from_account, id)",
        "CREATE INDEX payment_to_account_id ON payment (to_account, id)",
        "DROP INDEX payment_from_account",
        "DROP INDEX payment_to_account",
        "INSERT INTO payment_status_tally (status, payments) SELECT status, count(*) FROM payment GROUP BY status",
        f"INSERT INTO payment_volume_tally (currency_id, day, payments, amount) SELECT currency, {day},"
        f" count(*), {total} FROM payment WHERE status = 'completed' GROUP BY currency, {day}",
        "INSERT INTO balance_tally (currency_id, balances) SELECT currency_id, count(*) FROM balance"
        " WHERE account_id <> '@system' GROUP BY currency_id",
    ):
        db.execute_sql(statement)
