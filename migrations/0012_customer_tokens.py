"""Customer tokens: an API token may be bound to one account and may expire.

`api_token` gains `account_id` (the account a customer token is bound to;
null for operators' tokens) and `expires_at`. An account's tokens are listed
newest first by a partial index holding only customer tokens, and each web
process looks for tokens revoked lately, to close their feeds, through a
partial index holding only revoked ones.
"""

from peewee import SqliteDatabase


def up(migrator, db):
    stamp = "DATETIME" if isinstance(db, SqliteDatabase) else "TIMESTAMP"
    added = ['"account_id" VARCHAR(64) REFERENCES "account" ("id")', f'"expires_at" {stamp}']
    if isinstance(db, SqliteDatabase):
        # SQLite adds one column a statement.
        for column in added:
            db.execute_sql(f'ALTER TABLE "api_token" ADD COLUMN {column}')
    else:
        db.execute_sql('ALTER TABLE "api_token" ' + ", ".join(f"ADD COLUMN {column}" for column in added))
    for statement in (
        "CREATE INDEX api_token_account ON api_token (account_id, id) WHERE account_id IS NOT NULL",
        "CREATE INDEX api_token_revoked ON api_token (revoked_at) WHERE revoked_at IS NOT NULL",
    ):
        db.execute_sql(statement)
