"""The access log: what is not a change of the ledger but is someone's
doing: operators' log-ins (refused ones too) and log-outs, tokens issued
and revoked, operators added and changed. Append-only: nothing here
updates or deletes a record, and the database refuses to (migration 0010)."""

from __future__ import annotations

from peewee import BigAutoField, CharField, DateTimeField, TextField

from .actors import Acting, current
from .connection import BaseModel, utcnow

ACCESS_ACTIONS = (
    "operator.logged_in",
    "operator.login_refused",
    "operator.logged_out",
    "operator.created",
    "operator.changed",
    "token.created",
    "token.revoked",
)


class AccessRecord(BaseModel):
    id = BigAutoField()
    created_at = DateTimeField(default=utcnow)
    action = CharField(max_length=40)
    actor = TextField(null=True)
    actor_key = CharField(max_length=80, null=True)
    # What it was about: an operator's email, a token's name and id.
    subject = CharField(max_length=254, null=True)
    client_ip = CharField(max_length=64, null=True)
    request_id = CharField(max_length=64, null=True)

    class Meta:
        table_name = "access_log"


def record_access(action: str, subject: str | None, acting: Acting | None = None) -> None:
    """Append a record of `action` by `acting` (whoever is acting now, if
    not given), in the caller's transaction."""
    assert action in ACCESS_ACTIONS, action
    who = acting or current()
    AccessRecord.create(
        action=action,
        actor=who.actor.text(),
        actor_key=who.actor.key,
        subject=(subject or "")[:254] or None,
        client_ip=who.client_ip,
        request_id=who.request_id,
    )
