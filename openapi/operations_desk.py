"""The document's parts for what operators use every day: search,
balances in time and statements, and the activity log."""

from __future__ import annotations

from models.access import ACCESS_ACTIONS
from models.actors import ACTOR_PATTERN
from models.event import EVENT_TYPES
from models.search import DEFAULT_LIMIT, ID_PREFIX_MIN, MAX_LIMIT, QUERY_MAX_LENGTH, QUERY_PATTERN
from models.statements import STATEMENT_COLUMNS

from .builders import operation, success
from .components import AMOUNT, CURRENCY_CODE, TIME, closed, nullable, page_of, ref, text
from .parameters import query


def with_csv(response: dict, columns: tuple[str, ...], what: str) -> dict:
    """A 200 response that may also be CSV (`format=csv` or `Accept: text/csv`)."""
    csv = {
        "schema": {
            "type": "string",
            "description": f"{what}, streamed; a header line, then one line a row: {', '.join(columns)}.",
        }
    }
    return {**response, "content": {**response["content"], "text/csv": csv}}


def desk_operations() -> list[tuple[str, str, dict]]:
    return [
        operation(
            "get",
            "/api/v1/search",
            "search",
            "Search",
            "Find payments and accounts",
            "read",
            {"200": success("What the text finds, at most `limit` of each.", "SearchResults")},
            description=(
                f"Payments by id or a prefix of it (at least {ID_PREFIX_MIN} characters), by `reference`, or by "
                "the words of their description; accounts by id or a prefix of it, by email (any case), or by the "
                "words of their owner's name. A word matches the words it begins, and every word must match. "
                "Payments come newest first, accounts oldest first. Each way is read through an index."
            ),
            parameters=("SearchText", "SearchLimit"),
            errors=("invalid_request",),
        ),
        operation(
            "get",
            "/api/v1/balances/{balance_id}/statement",
            "getBalanceStatement",
            "Balances",
            "A balance's statement for a period",
            "read",
            {
                "200": with_csv(
                    success("The period's figures and a page of its entries, oldest first.", "Statement"),
                    STATEMENT_COLUMNS,
                    "Every entry of the period (no paging)",
                )
            },
            description=(
                "`opening` is what the balance held at `from` (before its entries at that instant), `closing` at "
                "`to`; `total_in` and `total_out` sum the entries of [from, to), so closing = opening + total_in - "
                "total_out. With `format=csv` or `Accept: text/csv`, every entry of the period streams as CSV, in "
                "bounded memory however many there are. Without `to`, the period ends now: pass `to` for pages "
                "that do not move."
            ),
            parameters=("BalanceId", "StatementFrom", "StatementTo", "ExportFormat", "Limit", "Cursor"),
            errors=("not_found", "invalid_request"),
        ),
        operation(
            "get",
            "/api/v1/activity",
            "listActivity",
            "Activity",
            "Who did what",
            "admin",
            {"200": success("Changes and accesses, newest first.", "ActivityList")},
            description=(
                "Every change (each event, with who made it) and every access (operators' log-ins, refused ones "
                "too, and log-outs; tokens issued and revoked; operators added and changed), newest first, with "
                "the actor, the time, the client's address and the request's id. Append-only: nothing in the API "
                "or the dashboard changes or deletes a line. Changes nobody asked for (settlement, the clock) are "
                "the system's."
            ),
            parameters=("ActivityActor", "ActivityType", "CreatedAfter", "CreatedBefore", "Limit", "Cursor"),
            errors=("invalid_request", "invalid_cursor"),
        ),
    ]


ACTOR = {
    "oneOf": [
        closed({"type": {"const": "token"}, "id": {"type": "integer"}, "name": {"type": "string"}}),
        closed({"type": {"const": "operator"}, "id": {"type": "integer"}, "email": {"type": "string"}}),
        closed({"type": {"const": "system"}}),
        closed({"type": {"const": "anonymous"}}),
    ],
    "description": "Who: an API token, a dashboard operator, the system itself, or someone not logged in.",
}


def desk_schemas() -> dict:
    return {
        "Actor": ACTOR,
        "ActivityLine": closed(
            {
                "id": text("`event:<n>` or `access:<n>`."),
                "source": {"type": "string", "enum": ["change", "access"]},
                "type": {"type": "string", "enum": [*EVENT_TYPES, *ACCESS_ACTIONS]},
                "subject": nullable(text("What it was about: an id, an email, a token's name.")),
                "seq": nullable({"type": "integer", "description": "A change's event `seq`, once numbered."}),
                "actor": ref("Actor"),
                "created_at": TIME,
                "client_ip": nullable(text("The client's address.")),
                "request_id": nullable(text("The request's X-Request-Id.")),
            },
            description="One line of the activity log.",
        ),
        "ActivityList": page_of("ActivityLine"),
        "BalanceNowOrThen": {"oneOf": [ref("Balance"), ref("BalanceAt")]},
        "BalanceAt": closed(
            {
                "id": text("Balance id."),
                "account": text("Owning account id."),
                "currency": CURRENCY_CODE,
                "as_of": TIME,
                "amount": {**AMOUNT, "description": "What the balance held then: after every entry up to `as_of`."},
            },
            description="A balance at a moment (`?as_of=`).",
        ),
        "Statement": closed(
            {
                "balance": text("Balance id."),
                "account": text("Owning account id."),
                "currency": CURRENCY_CODE,
                "from": nullable({**TIME, "description": "Start of the period; null: from the first entry."}),
                "to": {**TIME, "description": "End of the period (not included)."},
                "opening": AMOUNT,
                "closing": AMOUNT,
                "total_in": {**AMOUNT, "description": "The sum of the period's incoming entries."},
                "total_out": {**AMOUNT, "description": "The sum of the period's outgoing entries."},
                "data": {"type": "array", "items": ref("Entry"), "description": "A page of the period's entries."},
                "next_cursor": nullable(text("Pass as `cursor` for the next page; null on the last.")),
            },
            description="A balance's statement for [from, to).",
        ),
        "SearchResults": closed(
            {
                "query": text("The text searched for, trimmed."),
                "accounts": {"type": "array", "items": ref("Account")},
                "payments": {"type": "array", "items": ref("Payment")},
            }
        ),
    }


def desk_parameters() -> dict:
    return {
        "SearchText": {
            **query(
                "q",
                {"type": "string", "minLength": 1, "maxLength": QUERY_MAX_LENGTH, "pattern": QUERY_PATTERN},
                f"What to look for: 1 to {QUERY_MAX_LENGTH} characters, not only spaces (else 400 `invalid_request`).",
            ),
            "required": True,
        },
        "ActivityActor": query(
            "actor",
            {"type": "string", "pattern": ACTOR_PATTERN.pattern, "examples": ["operator:3", "token:12"]},
            "Only this actor's lines: `token:<id>`, `operator:<id>`, `system` or `anonymous`.",
        ),
        "ActivityType": query(
            "type",
            {"type": "string", "enum": [*EVENT_TYPES, *ACCESS_ACTIONS]},
            "Only lines of this event type or access action.",
        ),
        "AsOf": query(
            "as_of",
            TIME,
            "The balance's amount at this ISO 8601 time (UTC if no offset) instead of now; else 400.",
        ),
        "StatementFrom": query("from", TIME, "Start of the period, included (ISO 8601); default: the first entry."),
        "StatementTo": query("to", TIME, "End of the period, not included (ISO 8601); default: now."),
        "ExportFormat": query(
            "format",
            {"type": "string", "enum": ["json", "csv"], "default": "json"},
            "`csv`: the whole of it as streamed CSV (so does `Accept: text/csv` without `format`).",
        ),
        "SearchLimit": query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "At most this many payments, and this many accounts.",
        ),
    }
