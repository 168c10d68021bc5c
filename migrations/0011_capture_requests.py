"""Captures settle like payments: a capture asked for through the API is
stored on its hold (`capture_requested`, the amount to capture, and
`capture_requested_by`, who asked) and settled by the workers in their
batches, recorded as the change of whoever asked. The workers find the
holds waiting for theirs through a partial index holding only those.
"""

from peewee import SqliteDatabase


def up(migrator, db):
    money = "TEXT" if isinstance(db, SqliteDatabase) else "NUMERIC(40,0)"
    db.execute_sql(f'ALTER TABLE "payment" ADD COLUMN "capture_requested" {money}')
    db.execute_sql('ALTER TABLE "payment" ADD COLUMN "capture_requested_by" TEXT')
    db.execute_sql(
        "CREATE INDEX payment_capture_requested ON payment (created_at)"
        " WHERE status = 'authorized' AND capture_requested IS NOT NULL"
    )
