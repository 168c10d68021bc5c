"""The document's parameters (headers every operation may take, path ids,
paging and filters) and the headers its answers carry."""

from __future__ import annotations

from models.idempotency import KEY_PATTERN, MAX_KEY_LENGTH
from models.ledger import KINDS, STATUSES
from models.pagination import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT, MAX_SEQ
from web.protocol import MAX_WAIT_SECONDS, REQUEST_ID_PATTERN

from .components import TIME, free_text


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def parameters() -> dict:
    """Headers every operation may take, path ids, paging and filters."""
    return {
        "RequestId": {
            "name": "X-Request-Id",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": (
                f"Your id for the request, echoed in the response's X-Request-Id and written in the logs when it "
                f"matches `{REQUEST_ID_PATTERN}`. An id of any other shape is not refused: the request is answered "
                "under a new id, given in the response's X-Request-Id."
            ),
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
            "description": (
                "Makes the POST safe to retry: a retry with the same key and body returns the resource first "
                "created, in its current state, with status 200 and `Idempotent-Replayed: true`. The same key "
                "with another body is 409 `idempotency_conflict`. Keys are per token and kept at least 24 hours."
            ),
        },
        "PreferWait": {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "examples": ["wait=10"]},
            "description": (
                f"`wait=N` holds the response up to N seconds (at most {MAX_WAIT_SECONDS}) until the payment is "
                "final: 201 when it settled in time, else 202 with status `pending`. "
                "`Preference-Applied` says the wait used. Other preferences are ignored, as RFC 7240 asks."
            ),
        },
        "Limit": query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "Page size.",
        ),
        "Cursor": query(
            "cursor",
            {"type": "string", "minLength": 1, "pattern": CURSOR_PATTERN},
            "`next_cursor` of the previous page; any other is 400 `invalid_cursor`.",
        ),
        "PaymentStatus": query("status", {"type": "string", "enum": list(STATUSES)}, "Only payments in this status."),
        "PaymentKind": query("kind", {"type": "string", "enum": list(KINDS)}, "Only payments of this kind."),
        "PaymentCurrency": query(
            "currency", free_text("Currency code."), "Only payments paying or receiving this currency."
        ),
        "CreatedAfter": query("created_after", TIME, "Created at or after this ISO 8601 time (UTC if no offset)."),
        "CreatedBefore": query("created_before", TIME, "Created before this ISO 8601 time (UTC if no offset)."),
        "PaymentOrder": query(
            "order", {"type": "string", "enum": ["asc", "desc"], "default": "desc"}, "`desc`: newest first."
        ),
        "AccountId": {"name": "account_id", "in": "path", "required": True, "schema": {"type": "string"}},
        "BalanceId": {"name": "balance_id", "in": "path", "required": True, "schema": {"type": "string"}},
        "PaymentId": {"name": "payment_id", "in": "path", "required": True, "schema": {"type": "string"}},
        "GroupId": {"name": "group_id", "in": "path", "required": True, "schema": {"type": "string"}},
        "ActiveFilter": query("active", {"type": "boolean"}, "Only active (`true`) or inactive (`false`) ones."),
        "AccountActiveFilter": query(
            "active",
            {"type": "boolean"},
            "`true`: what can send and receive, active accounts with only their active balances. "
            "`false`: inactive accounts.",
        ),
        "OwnerFilter": query("owner", free_text(), "Owner contains this text."),
        "EmailFilter": query("email", free_text(), "Email is exactly this."),
        "HoldsCurrency": query("currency", free_text("Currency code."), "Holds a balance in this currency."),
        "SearchTerm": query("q", free_text(), "Id, owner or email contains this text."),
        "PaymentAccount": query("account", free_text(), "Only payments from or to this account."),
        "EventsAfter": query(
            "after",
            {"type": "integer", "minimum": 0, "maximum": MAX_SEQ},
            "Only events after this `seq`; ignored when `cursor` is given.",
        ),
        "EventOrder": query(
            "order", {"type": "string", "enum": ["asc", "desc"], "default": "asc"}, "`asc`: oldest first."
        ),
        "StreamAfter": query(
            "after",
            {"type": "integer", "minimum": 0, "maximum": MAX_SEQ},
            "Replay the events after this `seq`, then go live. Without it: live from now.",
        ),
        "StreamAccount": query("account", free_text(), "Only events about this account."),
        "StreamTypes": query(
            "types",
            {"type": "string", "examples": ["payment.completed,payment.failed"]},
            "Only these event types, comma-separated.",
        ),
        "StreamToken": query("token", free_text(), "The bearer token, for clients that cannot set headers (browsers)."),
    }


def headers() -> dict:
    return {
        "X-Request-Id": {
            "description": "The request's id: the client's X-Request-Id when valid, else a new one.",
            "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
        },
        "Idempotent-Replayed": {
            "description": "Present on a replayed POST: this is the resource the first request created.",
            "schema": {"type": "string", "const": "true"},
        },
        "Preference-Applied": {
            "description": "The `wait=N` actually applied, when the request asked to wait.",
            "schema": {"type": "string", "examples": ["wait=10"]},
        },
        "WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}},
        "Retry-After": {
            "description": "Whole seconds to wait before trying again.",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
    }
