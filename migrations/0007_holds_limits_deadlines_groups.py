"""Holds, balance limits, deadlines, partial reversals and payment groups.

Balances gain `held` (the sum of their open holds), `min_balance` (0, or
a negative credit line) and `max_balance` (a cap, or none). Payments gain
how they are captured and what was authorized and captured, when a hold
expires, the deadline a pending payment must settle by, how much of them
reversals have taken back, the group they belong to, and the caller's own
reference. Payment groups get a table of their own.

A payment may now be reversed several times (while its reversals that
have not failed sum to at most its amount), so `reverses` is no longer
unique among reversals that have not failed; it keeps an index, which
lists a payment's reversals. The sweeps of what is overdue (pending past
`settle_by`, holds past `hold_expires_at`) each read a partial index that
holds only the rows they look for.
"""

from peewee import SqliteDatabase


def up(migrator, db):
    sqlite = isinstance(db, SqliteDatabase)
    money = "TEXT" if sqlite else "NUMERIC(40,0)"
    zero = "'0'" if sqlite else "0"
    stamp = "DATETIME" if sqlite else "TIMESTAMP"
    db.execute_sql(
        'CREATE TABLE "payment_group" ("id" VARCHAR(32) NOT NULL PRIMARY KEY, "atomic" BOOLEAN NOT NULL,'
        ' "status" VARCHAR(16) NOT NULL, "size" INTEGER NOT NULL, "unsettled" INTEGER NOT NULL,'
        ' "completed" INTEGER NOT NULL DEFAULT 0, "failed" INTEGER NOT NULL DEFAULT 0,'
        f' "settle_by" {stamp}, "created_at" {stamp} NOT NULL, "settled_at" {stamp})'
    )
    columns = {
        "balance": [
            f'"held" {money} NOT NULL DEFAULT {zero}',
            f'"min_balance" {money} NOT NULL DEFAULT {zero}',
            f'"max_balance" {money}',
        ],
        "payment": [
            "\"capture\" VARCHAR(16) NOT NULL DEFAULT 'automatic'",
            f'"authorized_amount" {money}',
            f'"captured_amount" {money}',
            f'"hold_expires_at" {stamp}',
            f'"settle_by" {stamp}',
            f'"reversed_amount" {money} NOT NULL DEFAULT {zero}',
            '"group_id" VARCHAR(32) REFERENCES "payment_group" ("id")',
            '"in_atomic_group" BOOLEAN NOT NULL DEFAULT FALSE',
            '"reference" VARCHAR(128)',
        ],
    }
    for table, added in columns.items():
        if sqlite:
            # SQLite adds one column a statement.
            for column in added:
                db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN {column}')
        else:
            db.execute_sql(f'ALTER TABLE "{table}" ' + ", ".join(f"ADD COLUMN {column}" for column in added))
    # What completed reversals took back so far, for payments reversed before.
    db.execute_sql(
        "UPDATE payment SET reversed_amount = (SELECT r.amount FROM payment r WHERE r.id = payment.reversed_by)"
        " WHERE reversed_by IS NOT NULL"
    )
    db.execute_sql("DROP INDEX payment_reverses_unless_failed")
    for statement in (
        "CREATE INDEX payment_reverses ON payment (reverses) WHERE reverses IS NOT NULL",
        "CREATE INDEX payment_group_id ON payment (group_id) WHERE group_id IS NOT NULL",
        "CREATE INDEX payment_overdue ON payment (settle_by) WHERE status = 'pending' AND settle_by IS NOT NULL",
        "CREATE INDEX payment_hold_expiry ON payment (hold_expires_at) WHERE status = 'authorized'",
        "CREATE INDEX payment_group_overdue ON payment_group (settle_by)"
        " WHERE status = 'pending' AND atomic AND settle_by IS NOT NULL",
    ):
        db.execute_sql(statement)
