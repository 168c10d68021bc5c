"""Webhook endpoints: where events are sent, and the rules that change them
(create, change, rotate the secret, disable, enable, delete, resend by hand).
How events reach them is the `webhooks` package's work; what it records of
each attempt is read here too (the delivery log).

Checking a URL may ask DNS, which may take seconds: `parse_endpoint` does
that before any transaction is opened, and the writes take its result.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from peewee import (
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from webhooks.signing import new_secret

from .account import ACCOUNT_ID_PATTERN, Account
from .connection import BaseModel, utcnow
from .destinations import MAX_URL_LENGTH, Resolver, check_url, resolve_host
from .dialect import lock_rows
from .errors import ApiError, invalid, not_found
from .event import EVENT_TYPES, Event, record_event
from .ids import new_id
from .pagination import SEQ, TEXT, TIME, decode_cursor, page
from .serialize import webhook_endpoint_json
from .validation import CODES, check_shape

ACTIVE, DISABLED = "active", "disabled"
DISABLED_BY_FAILURES, DISABLED_BY_ADMIN = "disabled_by_failures", "disabled_by_admin"
ALL_TYPES = "*"
DESCRIPTION_MAX_LENGTH = 500
# How long a rotated secret still signs beside the new one.
ROTATION_OVERLAP = timedelta(hours=24)
DELIVERED, FAILED, GIVEN_UP = "delivered", "failed", "given_up"
# What of an answer the log keeps.
LOGGED_ANSWER_BYTES = 1024


class WebhookSender(BaseModel):
    """A live sender process (`webhooks.sharing`)."""

    id = BigAutoField()
    owner = CharField(max_length=200)
    started_at = DateTimeField(default=utcnow)
    heartbeat_at = DateTimeField(default=utcnow)


class WebhookEndpoint(BaseModel):
    id = CharField(max_length=32, primary_key=True)
    url = CharField(max_length=MAX_URL_LENGTH)
    description = CharField(max_length=DESCRIPTION_MAX_LENGTH, default="")
    event_types = TextField()  # a JSON list of types, or ["*"]
    account = CharField(max_length=64, null=True)
    secret = CharField(max_length=100)
    previous_secret = CharField(max_length=100, null=True)
    previous_secret_expires_at = DateTimeField(null=True)
    state = CharField(max_length=16, default=ACTIVE)
    disabled_reason = CharField(max_length=32, null=True)
    disabled_at = DateTimeField(null=True)
    # The last event sent (delivered or given up): the next one's prev_seq.
    delivered_seq = BigIntegerField(default=0)
    # Every event up to here is done with for this endpoint.
    cursor_seq = BigIntegerField(default=0)
    failing_since = DateTimeField(null=True)
    held_by = ForeignKeyField(WebhookSender, null=True, on_delete="SET NULL", column_name="held_by")
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    if TYPE_CHECKING:
        held_by_id: int | None

    class Meta:
        indexes = ((("created_at", "id"), False), (("disabled_reason", "disabled_at"), False))

    @property
    def types(self) -> list[str]:
        return json.loads(self.event_types)

    def secrets_in_force(self, now: datetime) -> list[str]:
        """The secrets deliveries are signed with now: the current one, and
        the one before it for a day after a rotation."""
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


class WebhookAttempt(BaseModel):
    """One attempt to deliver one event to one endpoint: the delivery log."""

    id = BigAutoField()
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
    at = DateTimeField(default=utcnow)

    if TYPE_CHECKING:
        endpoint_id: str

    class Meta:
        indexes = ((("endpoint", "id"), False), (("endpoint", "seq", "id"), False))


class WebhookResend(BaseModel):
    """An event an admin asked to send again (once, out of turn)."""

    id = BigAutoField()
    endpoint = ForeignKeyField(WebhookEndpoint, on_delete="CASCADE", index=False)
    seq = BigIntegerField()
    prev_seq = BigIntegerField()
    requested_at = DateTimeField(default=utcnow)
    done_at = DateTimeField(null=True)

    if TYPE_CHECKING:
        endpoint_id: str

    class Meta:
        indexes = ((("endpoint", "done_at", "id"), False),)


ENDPOINT_FIELDS = {"url": str, "event_types": CODES, "account": str, "description": str, "active": bool}


class EndpointChange(NamedTuple):
    """A request body's fields, checked (URL and DNS included)."""

    fields: dict


def parse_endpoint(
    body: object, allow_private: bool, creating: bool, resolve: Resolver | None = resolve_host
) -> EndpointChange:
    """Check a create or change body outside any transaction (the URL's host
    is resolved here). 400 for the wrong shape, 422 naming the field for a
    broken rule."""
    fields = dict(check_shape(body, ENDPOINT_FIELDS, required=("url",) if creating else ()))
    problems: dict[str, str] = {}
    if "url" in fields:
        if fields["url"] is None:
            problems["url"] = "is required"
        else:
            try:
                check_url(fields["url"], allow_private, resolve)
            except ApiError as refused:
                problems.update(refused.fields or {})
    types = fields.get("event_types")
    if types is not None:
        if not types:
            problems["event_types"] = 'must name at least one event type, or be ["*"]'
        elif ALL_TYPES in types and len(types) > 1:
            problems["event_types"] = '"*" stands alone: it means every type'
        else:
            unknown = [t for t in types if t != ALL_TYPES and t not in EVENT_TYPES]
            if unknown:
                problems["event_types"] = f"unknown event type {unknown[0]!r}"
            elif len(types) != len(set(types)):
                problems["event_types"] = "names a type twice"
    if fields.get("description") is not None and len(fields["description"]) > DESCRIPTION_MAX_LENGTH:
        problems["description"] = f"must be at most {DESCRIPTION_MAX_LENGTH} characters"
    if fields.get("account") is not None and not ACCOUNT_ID_PATTERN.fullmatch(fields["account"]):
        problems["account"] = "must be an account id"
    if problems:
        raise invalid(problems)
    return EndpointChange(fields)


def _check_account(account: str | None) -> None:
    if account is not None and not Account.select().where(Account.id == account).exists():
        raise invalid({"account": f"no account {account}"})


def create_endpoint(change: EndpointChange) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (shown this once). It is sent the
    events numbered from now on; its first delivery has `prev_seq` 0.
    Call inside a transaction."""
    fields = change.fields
    _check_account(fields.get("account"))
    secret = new_secret()
    now = utcnow()
    active = fields.get("active") is not False
    endpoint = WebhookEndpoint.create(
        id=new_id("we"),
        url=fields["url"],
        description=fields.get("description") or "",
        event_types=json.dumps(fields.get("event_types") or [ALL_TYPES]),
        account=fields.get("account"),
        secret=secret,
        state=ACTIVE if active else DISABLED,
        disabled_reason=None if active else DISABLED_BY_ADMIN,
        disabled_at=None if active else now,
        cursor_seq=Event.head(),
        created_at=now,
        updated_at=now,
    )
    return endpoint, secret


def endpoint(endpoint_id: str, lock: bool = False) -> WebhookEndpoint:
    """The endpoint, or 404 `not_found`."""
    query = WebhookEndpoint.select().where(WebhookEndpoint.id == endpoint_id)
    if lock:
        query = lock_rows(query)
    found = query.first()
    if found is None:
        raise not_found(f"webhook endpoint {endpoint_id}")
    return found


def update_endpoint(endpoint_id: str, change: EndpointChange) -> WebhookEndpoint:
    """Change an endpoint's URL, types, account filter, description, or
    whether it is active. Enabling one starts it at the newest event: the
    events it missed while disabled are not sent, and its next delivery's
    `prev_seq` shows the gap (fetch it from /api/v1/events). Call inside a
    transaction."""
    found = endpoint(endpoint_id, lock=True)
    fields = change.fields
    now = utcnow()
    if "url" in fields:
        found.url = fields["url"]
    if fields.get("event_types") is not None:
        found.event_types = json.dumps(fields["event_types"])
    if "account" in fields:
        _check_account(fields["account"])
        found.account = fields["account"]
    if fields.get("description") is not None:
        found.description = fields["description"]
    if fields.get("active") is True and found.state != ACTIVE:
        found.state, found.disabled_reason, found.disabled_at = ACTIVE, None, None
        found.failing_since = None
        found.cursor_seq = max(found.cursor_seq, Event.head())
    elif fields.get("active") is False and found.state == ACTIVE:
        found.state, found.disabled_reason, found.disabled_at = DISABLED, DISABLED_BY_ADMIN, now
    found.updated_at = now
    found.save()
    return found


def delete_endpoint(endpoint_id: str) -> None:
    """Remove an endpoint with its delivery log. Call inside a transaction."""
    endpoint(endpoint_id, lock=True).delete_instance()


def rotate_secret(endpoint_id: str) -> tuple[WebhookEndpoint, str]:
    """A new secret, returned once; for 24 hours the old one signs too, so
    receivers can switch without losing a delivery. Call inside a transaction."""
    found = endpoint(endpoint_id, lock=True)
    secret = new_secret()
    now = utcnow()
    found.previous_secret, found.previous_secret_expires_at = found.secret, now + ROTATION_OVERLAP
    found.secret, found.updated_at = secret, now
    found.save()
    return found, secret


def disable_for_failures(endpoint_id: str, sender_id: int) -> bool:
    """Disable an endpoint that has failed for too long, with its
    `webhook_endpoint.disabled` event; only by the sender holding it, and
    only once. Call inside a transaction."""
    now = utcnow()
    changed = (
        WebhookEndpoint.update(state=DISABLED, disabled_reason=DISABLED_BY_FAILURES, disabled_at=now, updated_at=now)
        .where(
            (WebhookEndpoint.id == endpoint_id)
            & (WebhookEndpoint.state == ACTIVE)
            & (WebhookEndpoint.held_by == sender_id)
        )
        .execute()
    )
    if changed:
        record_event("webhook_endpoint.disabled", webhook_endpoint_json(endpoint(endpoint_id)))
    return bool(changed)


def list_endpoints(limit: int, cursor: str | None) -> tuple[list[WebhookEndpoint], str | None]:
    """Endpoints, oldest first, by (created_at, id)."""
    query = WebhookEndpoint.select()
    key = decode_cursor(cursor, TIME, TEXT)
    if key:
        created, last_id = key
        query = query.where(
            (WebhookEndpoint.created_at > created)
            | ((WebhookEndpoint.created_at == created) & (WebhookEndpoint.id > last_id))
        )
    rows = list(query.order_by(WebhookEndpoint.created_at, WebhookEndpoint.id).limit(limit + 1))
    return page(rows, limit, lambda e: [e.created_at.isoformat(), e.id])


def disabled_for_failures(limit: int = 10) -> list[WebhookEndpoint]:
    """The endpoints disabled for failing, most recently first: what the
    dashboard warns about."""
    query = WebhookEndpoint.select().where(WebhookEndpoint.disabled_reason == DISABLED_BY_FAILURES)
    return list(query.order_by(WebhookEndpoint.disabled_at.desc()).limit(limit))


def endpoint_deliveries(endpoint_id: str, limit: int, cursor: str | None) -> tuple[list[WebhookAttempt], str | None]:
    """An endpoint's attempts, newest first, through its (endpoint, id) index."""
    endpoint(endpoint_id)
    query = WebhookAttempt.select().where(WebhookAttempt.endpoint == endpoint_id)
    key = decode_cursor(cursor, SEQ)
    if key:
        query = query.where(WebhookAttempt.id < key[0])
    rows = list(query.order_by(WebhookAttempt.id.desc()).limit(limit + 1))
    return page(rows, limit, lambda a: [a.id])


def resend_delivery(endpoint_id: str, attempt_id: str) -> WebhookResend:
    """Ask for an attempt's event to be sent again to its endpoint, once,
    as it was sent (same `webhook-id`, same `prev_seq`), before the
    endpoint's next event. Call inside a transaction."""
    found = endpoint(endpoint_id)
    attempt = None
    if attempt_id.isdigit() and len(attempt_id) <= 18:
        attempt = WebhookAttempt.get_or_none(
            (WebhookAttempt.id == int(attempt_id)) & (WebhookAttempt.endpoint == endpoint_id)
        )
    if attempt is None:
        raise not_found(f"delivery {attempt_id} of webhook endpoint {endpoint_id}")
    if found.state != ACTIVE:
        raise ApiError(409, "endpoint_disabled", "the endpoint is disabled: enable it first")
    return WebhookResend.create(endpoint=endpoint_id, seq=attempt.seq, prev_seq=attempt.prev_seq)
