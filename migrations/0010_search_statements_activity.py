"""Search, statements in time, and who did what.

Search: payments are found by the words of their description and accounts
by the words of their owner's name (PostgreSQL: GIN indexes of their
`simple` text-search vectors; SQLite: FTS5 tables kept by triggers, keyed
by the row's id), accounts by their email (lower-cased), and payments and
accounts by a prefix of their id (PostgreSQL: `text_pattern_ops` indexes,
which prefix matching needs whatever the database's collation; SQLite
matches a prefix as a range of its primary key).

Statements: a balance's entries by time, (balance_id, created_at, id), for
its amount at a moment and the entries between two.

Who did what: each event records its actor (the token or operator whose
request made the change; none for the system), the client's address and
the request's id, found newest first by actor or by time. Payments keep
who created them. `access_log` holds what is not a change of the ledger:
operators' log-ins (refused ones too) and log-outs, tokens issued and
revoked, operators added and changed; triggers refuse to update or delete
its rows. Operators gain whether they may log in and when they last did;
tokens when they were last used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import SqliteDatabase

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator

_SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE payment_words USING fts5(id UNINDEXED, description)",
    "INSERT INTO payment_words (id, description) SELECT id, description FROM payment WHERE description IS NOT NULL",
    "CREATE TRIGGER payment_words_insert AFTER INSERT ON payment WHEN new.description IS NOT NULL"
    " BEGIN INSERT INTO payment_words (id, description) VALUES (new.id, new.description); END",
    "CREATE TRIGGER payment_words_update AFTER UPDATE OF description ON payment BEGIN"
    " DELETE FROM payment_words WHERE id = old.id;"
    " INSERT INTO payment_words (id, description) SELECT new.id, new.description WHERE new.description IS NOT NULL;"
    " END",
    "CREATE VIRTUAL TABLE account_words USING fts5(id UNINDEXED, owner)",
    "INSERT INTO account_words (id, owner) SELECT id, owner FROM account",
    "CREATE TRIGGER account_words_insert AFTER INSERT ON account"
    " BEGIN INSERT INTO account_words (id, owner) VALUES (new.id, new.owner); END",
    "CREATE TRIGGER account_words_update AFTER UPDATE OF owner ON account BEGIN"
    " DELETE FROM account_words WHERE id = old.id;"
    " INSERT INTO account_words (id, owner) VALUES (new.id, new.owner); END",
    "CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log"
    " BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
    "CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log"
    " BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
)

_POSTGRESQL_SEARCH = (
    "CREATE INDEX payment_description_words ON payment USING gin (to_tsvector('simple', description))"
    " WHERE description IS NOT NULL",
    "CREATE INDEX account_owner_words ON account USING gin (to_tsvector('simple', owner))",
    "CREATE INDEX payment_id_prefix ON payment (id text_pattern_ops)",
    "CREATE INDEX account_id_prefix ON account (id text_pattern_ops)",
    "CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION '%% is append-only', TG_TABLE_NAME; END $$",
    "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log"
    " FOR EACH ROW EXECUTE FUNCTION refuse_change()",
)


def up(migrator: SchemaMigrator, db: Database) -> None:
    sqlite = isinstance(db, SqliteDatabase)
    stamp = "DATETIME" if sqlite else "TIMESTAMP"
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT" if sqlite else "BIGSERIAL PRIMARY KEY"
    for statement in (
        "CREATE INDEX account_email_lower ON account (lower(email)) WHERE email IS NOT NULL",
        "CREATE INDEX entry_balance_time ON entry (balance_id, created_at, id)",
        'ALTER TABLE "event" ADD COLUMN "actor" TEXT',
        'ALTER TABLE "event" ADD COLUMN "actor_key" VARCHAR(80)',
        'ALTER TABLE "event" ADD COLUMN "client_ip" VARCHAR(64)',
        'ALTER TABLE "event" ADD COLUMN "request_id" VARCHAR(64)',
        "CREATE INDEX event_time ON event (created_at, id)",
        "CREATE INDEX event_actor ON event (actor_key, created_at, id) WHERE actor_key IS NOT NULL",
        'ALTER TABLE "payment" ADD COLUMN "created_by" TEXT',
        f'CREATE TABLE "access_log" ("id" {serial}, "created_at" {stamp} NOT NULL, "action" VARCHAR(40) NOT NULL,'
        ' "actor" TEXT, "actor_key" VARCHAR(80), "subject" VARCHAR(254), "client_ip" VARCHAR(64),'
        ' "request_id" VARCHAR(64))',
        "CREATE INDEX access_log_time ON access_log (created_at, id)",
        "CREATE INDEX access_log_actor ON access_log (actor_key, created_at, id) WHERE actor_key IS NOT NULL",
        'ALTER TABLE "operator" ADD COLUMN "active" BOOLEAN NOT NULL DEFAULT TRUE',
        f'ALTER TABLE "operator" ADD COLUMN "last_login_at" {stamp}',
        f'ALTER TABLE "api_token" ADD COLUMN "last_used_at" {stamp}',
        *(_SQLITE_SEARCH if sqlite else _POSTGRESQL_SEARCH),
    ):
        db.execute_sql(statement)
