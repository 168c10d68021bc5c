"""Webhooks: the endpoints events are sent to, every attempt to send one,
resends asked for by hand, and the sender processes that share the endpoints.

An endpoint remembers how far it got in the event log: `delivered_seq` (the
last event it was sent, delivered or given up: the next one's `prev_seq`)
and `cursor_seq` (every event up to it is done with for this endpoint, sent
or not wanted). `held_by` names the live sender that delivers its events,
so that only one process at a time sends to an endpoint and its order holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import (
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class WebhookSender(Base):
        id = BigAutoField()
        owner = CharField(max_length=200)
        started_at = DateTimeField()
        heartbeat_at = DateTimeField()

    class WebhookEndpoint(Base):
        id = CharField(max_length=32, primary_key=True)
        url = CharField(max_length=2048)
        description = CharField(max_length=500, default="")
        event_types = TextField()
        account = CharField(max_length=64, null=True)
        secret = CharField(max_length=100)
        previous_secret = CharField(max_length=100, null=True)
        previous_secret_expires_at = DateTimeField(null=True)
        state = CharField(max_length=16)
        disabled_reason = CharField(max_length=32, null=True)
        disabled_at = DateTimeField(null=True)
        delivered_seq = BigIntegerField(default=0)
        cursor_seq = BigIntegerField(default=0)
        failing_since = DateTimeField(null=True)
        held_by = ForeignKeyField(WebhookSender, null=True, on_delete="SET NULL", column_name="held_by")
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            # The list, oldest first; the dashboard's notice of endpoints disabled for failing.
            indexes = ((("created_at", "id"), False), (("disabled_reason", "disabled_at"), False))

    class WebhookAttempt(Base):
        id = BigAutoField()
        # Not indexed alone: it leads both indexes below.
        endpoint = ForeignKeyField(WebhookEndpoint, on_delete="CASCADE", index=False)
        seq = BigIntegerField()
        prev_seq = BigIntegerField()
        webhook_id = CharField(max_length=64)
        attempt = IntegerField()
        manual = BooleanField(default=False)
        outcome = CharField(max_length=16)
        status_code = IntegerField(null=True)
        error = CharField(max_length=300, null=True)
        response = TextField(null=True)
        latency_ms = IntegerField()
        at = DateTimeField()

        class Meta:
            # The log, newest first; an event's attempts, for a sender taking over.
            indexes = ((("endpoint", "id"), False), (("endpoint", "seq", "id"), False))

    class WebhookResend(Base):
        id = BigAutoField()
        endpoint = ForeignKeyField(WebhookEndpoint, on_delete="CASCADE", index=False)
        seq = BigIntegerField()
        prev_seq = BigIntegerField()
        requested_at = DateTimeField()
        done_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("endpoint", "done_at", "id"), False),)

    db.create_tables([WebhookSender, WebhookEndpoint, WebhookAttempt, WebhookResend])
