"""Tie each payment's accounts and currency to its balances.

A payment names its sender's balance and account, its receiver's balance and
account, and its currency. Five single-column foreign keys checked that each
of them exists, and none that they agree: that `from_account` owns
`from_balance`, or that `currency` is that balance's currency. Two composite
keys check both: (from_balance, from_account, currency) is a balance's (id,
account_id, currency_id), and (to_balance, to_account) a balance's (id,
account_id); an exchange's `target_currency` keeps its own key, as the
receiver's balance is in that currency only for exchanges. Every payment the
ledger has made agrees already.

Storing a payment now looks up two balances where it looked up two
balances, two accounts and a currency: PostgreSQL's CPU time per accepted
payment went from 92-98 to 80-84 us (bench/README.md).

PostgreSQL changes the keys in place, adding them NOT VALID and validating
them after, so that checking the payments already there keeps no writer
out. SQLite cannot change a table's keys: the table is made anew and its
rows copied, the way SQLite documents (lang_altertable.html, "Making Other
Kinds Of Table Schema Changes"), with foreign key checks off, which it can
only switch outside a transaction; hence no transaction around the whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import SqliteDatabase

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator

atomic = False

_BALANCE_KEYS = (
    "CREATE UNIQUE INDEX balance_id_account_id_currency_id ON balance (id, account_id, currency_id)",
    "CREATE UNIQUE INDEX balance_id_account_id ON balance (id, account_id)",
)
_FROM = (
    'FOREIGN KEY ("from_balance", "from_account", "currency") REFERENCES "balance" ("id", "account_id", "currency_id")'
)
_TO = 'FOREIGN KEY ("to_balance", "to_account") REFERENCES "balance" ("id", "account_id")'


def up(migrator: SchemaMigrator, db: Database) -> None:
    if isinstance(db, SqliteDatabase):
        _sqlite(db)
    else:
        _postgresql(db)


def _postgresql(db: Database) -> None:
    with db.atomic():
        for statement in _BALANCE_KEYS:
            db.execute_sql(statement)
        db.execute_sql(
            "ALTER TABLE payment"
            " DROP CONSTRAINT payment_from_account_fkey, DROP CONSTRAINT payment_to_account_fkey,"
            " DROP CONSTRAINT payment_from_balance_fkey, DROP CONSTRAINT payment_to_balance_fkey,"
            " DROP CONSTRAINT payment_currency_fkey,"
            f" ADD CONSTRAINT payment_from_fkey {_FROM} NOT VALID,"
            f" ADD CONSTRAINT payment_to_fkey {_TO} NOT VALID"
        )
    with db.atomic():
        db.execute_sql("ALTER TABLE payment VALIDATE CONSTRAINT payment_from_fkey")
        db.execute_sql("ALTER TABLE payment VALIDATE CONSTRAINT payment_to_fkey")


def _sqlite(db: SqliteDatabase) -> None:
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        with db.atomic():
            indexes = [
                sql
                for (sql,) in db.execute_sql(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'payment' AND sql IS NOT NULL"
                ).fetchall()
            ]
            for statement in _BALANCE_KEYS:
                db.execute_sql(statement)
            db.execute_sql(
                'CREATE TABLE "payment_new" ("id" VARCHAR(32) NOT NULL PRIMARY KEY, "kind" VARCHAR(16) NOT NULL,'
                ' "status" VARCHAR(16) NOT NULL, "failure_code" VARCHAR(32), "from_account" VARCHAR(64) NOT NULL,'
                ' "to_account" VARCHAR(64) NOT NULL, "from_balance" VARCHAR(32) NOT NULL,'
                ' "to_balance" VARCHAR(32) NOT NULL, "amount" TEXT NOT NULL, "currency" VARCHAR(10) NOT NULL,'
                ' "target_amount" TEXT, "target_currency" VARCHAR(10), "rate" VARCHAR(64),'
                ' "description" VARCHAR(500), "reverses" VARCHAR(32), "reversed_by" VARCHAR(32),'
                ' "created_at" DATETIME NOT NULL, "settled_at" DATETIME,'
                f" {_FROM}, {_TO},"
                ' FOREIGN KEY ("target_currency") REFERENCES "currency" ("code"),'
                ' FOREIGN KEY ("reverses") REFERENCES "payment" ("id"))'
            )
            db.execute_sql("INSERT INTO payment_new SELECT * FROM payment")
            db.execute_sql("DROP TABLE payment")
            db.execute_sql("ALTER TABLE payment_new RENAME TO payment")
            for statement in indexes:
                db.execute_sql(statement)
            broken = db.execute_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"rows whose keys do not hold: {broken[:10]}")
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")
