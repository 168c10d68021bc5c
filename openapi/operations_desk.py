"""The document's parts for what operators use every day: search,
balances in time and statements, and the activity log."""

from __future__ import annotations

from models.search import DEFAULT_LIMIT, ID_PREFIX_MIN, MAX_LIMIT, QUERY_MAX_LENGTH

from .builders import operation, success
from .components import closed, query, ref, text


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
    ]


def desk_schemas() -> dict:
    return {
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
                {"type": "string", "minLength": 1, "maxLength": QUERY_MAX_LENGTH, "pattern": r"\S"},
                f"What to look for: 1 to {QUERY_MAX_LENGTH} characters, not only spaces (else 400 `invalid_request`).",
            ),
            "required": True,
        },
        "SearchLimit": query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "At most this many payments, and this many accounts.",
        ),
    }
