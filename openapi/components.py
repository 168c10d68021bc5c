"""The reusable parts of the OpenAPI document: schemas of every body the
API reads or writes, parameters, headers, and the error codes it answers with.

Limits, patterns and enumerations come from the modules that enforce them, so
the document cannot drift from the code on those.
"""

from __future__ import annotations

from models.account import (
    ACCOUNT_ID_PATTERN,
    EMAIL_MAX_LENGTH,
    EMAIL_PATTERN,
    OWNER_MAX_LENGTH,
    OWNER_PATTERN,
)
from models.account import REFERENCE_MAX_LENGTH as ACCOUNT_REFERENCE_MAX_LENGTH
from models.currency import CODE_PATTERN, MAX_EXPONENT, NAME_MAX_LENGTH, NAME_PATTERN
from models.event import EVENT_TYPES
from models.idempotency import MAX_KEY_LENGTH
from models.ledger import CAPTURES, DESCRIPTION_MAX_LENGTH, FAILURE_CODES, KINDS, REFERENCE_MAX_LENGTH, STATUSES
from models.metadata import KEY_MAX_LENGTH, KEY_PATTERN, MAX_KEYS, VALUE_MAX_LENGTH
from models.money import MAX_MAJOR_UNITS
from models.pagination import DEFAULT_LIMIT, MAX_LIMIT
from models.terms import HOLD_EXPIRES_IN_DEFAULT, HOLD_EXPIRES_IN_MAX
from web.protocol import MAX_BODY_BYTES, MAX_GROUP_BODY_BYTES, MAX_WAIT_SECONDS, REQUEST_ID_PATTERN

AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

# Every error code a client can meet, with its status and what it means.
ERRORS: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "The body is not valid JSON."),
    "invalid_request": (400, "Unknown field, wrong JSON type or bad query parameter; `fields` names each."),
    "invalid_cursor": (400, "The cursor is not one this API gave out."),
    "invalid_idempotency_key": (400, f"Idempotency-Key is empty, over {MAX_KEY_LENGTH} characters or not printable."),
    "unauthorized": (401, "No bearer token, or an unknown or revoked one."),
    "forbidden": (403, "The token's scope is too small for this operation."),
    "not_found": (404, "The resource named in the path does not exist."),
    "account_exists": (409, "An account with this id already exists."),
    "balance_exists": (409, "The account already holds a balance in this currency."),
    "currency_exists": (409, "A currency with this code already exists."),
    "system_account": (409, "The `@system` account and its balances cannot be changed."),
    "idempotency_conflict": (409, "This Idempotency-Key was already used with a different request."),
    "payment_not_completed": (409, "The payment is not completed: only a completed payment can be reversed."),
    "invalid_state": (
        409,
        "The hold is not `authorized` (captured, voided or expired already, or not a hold); the error's"
        " `status` says what it is now.",
    ),
    "body_too_large": (
        413,
        f"The request body is over {MAX_BODY_BYTES} bytes (a payment group's: over {MAX_GROUP_BODY_BYTES}).",
    ),
    "validation_error": (422, "A field breaks a rule; `fields` says which and why."),
    "unknown_currency": (422, "No such currency, or it is inactive."),
    "currency_required": (422, "`currency` was omitted and the sender does not hold exactly one active balance."),
    "currency_mismatch": (422, "An account holds no balance in this currency."),
    "account_inactive": (422, "An account taking part is inactive."),
    "balance_inactive": (422, "A balance taking part is inactive."),
    "same_balance": (422, "The payment would go from a balance to itself."),
    "rate_unavailable": (422, "`to_currency` differs from `currency` and no rate from one to the other is in force."),
    "not_reversible": (422, "Only transfers and exchanges can be reversed, not deposits, withdrawals or reversals."),
    "amount_exceeds_hold": (422, "The capture's `amount` is more than the hold authorized."),
    "amount_exceeds_remaining": (422, "The reversal's `amount` is more than what is left to reverse of the payment."),
    "limit_exceeded": (422, "The receiving balance would go above its `max_balance`."),
    "rate_limited": (
        429,
        "This token sent more requests than its rate limit allows; `Retry-After` says when to resume.",
    ),
    "service_unavailable": (
        503,
        "The database cannot be reached just now; nothing was done. Try again after `Retry-After`. Without"
        " `Retry-After`, the connection was lost while the change was being committed, and it may or may not"
        " have been: look for it before sending the request again (with an Idempotency-Key, sending it again"
        " is always safe).",
    ),
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    if "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    widened = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        widened["enum"] = [*schema["enum"], None]
    return widened


def text(description: str, **constraints: object) -> dict:
    return {"type": "string", "description": description, **constraints}


def closed(properties: dict, optional: tuple[str, ...] = (), description: str | None = None) -> dict:
    """An object with exactly these properties, all required but `optional`."""
    schema = {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }
    return {"description": description, **schema} if description else schema


def page_of(name: str) -> dict:
    return closed(
        {
            "data": {"type": "array", "items": ref(name)},
            "next_cursor": nullable(text("Pass as `cursor` to get the next page; null on the last page.")),
        },
        description=f"One page of {name} objects.",
    )


TIME = {"type": "string", "format": "date-time", "examples": ["2025-01-31T09:30:00.123456Z"]}
TERMS = {
    "capture": {
        "type": "string",
        "enum": list(CAPTURES),
        "default": "automatic",
        "description": "`manual` makes it a hold: authorized at settlement, captured or voided later.",
    },
    "hold_expires_in": {
        "type": "integer",
        "minimum": 1,
        "maximum": HOLD_EXPIRES_IN_MAX,
        "default": HOLD_EXPIRES_IN_DEFAULT,
        "description": "A hold only: seconds from now until it expires unless captured or voided.",
    },
    "settle_by": {
        **TIME,
        "description": "An RFC 3339 time in the future: still pending then, it fails `deadline_exceeded`.",
    },
    "reference": text("Your own id for the payment, shown back as given.", minLength=1, maxLength=REFERENCE_MAX_LENGTH),
}
ACCOUNT_REFERENCE = text(
    "Your own id for the account, shown back as given.", minLength=1, maxLength=ACCOUNT_REFERENCE_MAX_LENGTH
)
METADATA = {
    "$ref": "#/components/schemas/Metadata",
}
OWNER = text("Display name; not only spaces.", minLength=1, maxLength=OWNER_MAX_LENGTH, pattern=OWNER_PATTERN.pattern)
DESCRIPTION = nullable(text("Free text.", maxLength=DESCRIPTION_MAX_LENGTH))


def email(description: str) -> dict:
    # No `format: email`: the pattern is what the API checks, and RFC 5322's
    # grammar (which that format names) both allows and refuses other things.
    return text(description, maxLength=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN.pattern)


AMOUNT = ref("Amount")
CURRENCY_CODE = text("Currency code.", examples=["PHP"])


def metadata_schemas() -> dict:
    keys = {"pattern": KEY_PATTERN.pattern, "maxLength": KEY_MAX_LENGTH}
    return {
        "Metadata": {
            "type": "object",
            "maxProperties": MAX_KEYS,
            "propertyNames": keys,
            "additionalProperties": {"type": "string", "maxLength": VALUE_MAX_LENGTH},
            "description": (
                f"Your own data: at most {MAX_KEYS} keys of 1 to {KEY_MAX_LENGTH} characters of `A-Z a-z 0-9 _ . -`, "
                f"each a string of at most {VALUE_MAX_LENGTH} characters. Lists filter by it: "
                "`metadata[key]=value`. Anything else is 422 `validation_error` naming `metadata` or `metadata.<key>`."
            ),
            "examples": [{"order_id": "A-1042"}],
        },
        "MetadataChange": {
            "type": "object",
            "propertyNames": keys,
            "additionalProperties": {"type": ["string", "null"], "maxLength": VALUE_MAX_LENGTH},
            "description": (
                "Merged into what the object holds: each key given a string is set, each given null removed, the "
                f"others kept; the result holds at most {MAX_KEYS} keys."
            ),
            "examples": [{"order_id": "A-1043", "note": None}],
        },
    }


def schemas() -> dict:
    return {
        **metadata_schemas(),
        "Amount": text(
            "Exact decimal with exactly the currency's `exponent` decimals. Only `@system` balances go negative.",
            pattern=AMOUNT_PATTERN,
            examples=["100.50"],
        ),
        "AmountInput": {
            "type": ["string", "number"],
            "pattern": AMOUNT_PATTERN,
            "description": (
                "A decimal string or a JSON number, read exactly (never through a float). Must be greater than 0, "
                f"have at most the currency's `exponent` decimals and be at most {MAX_MAJOR_UNITS:,} major units."
            ),
            "examples": ["30.50", 12],
        },
        "SignedAmountInput": {
            "type": ["string", "number"],
            "pattern": AMOUNT_PATTERN,
            "description": (
                "A decimal string or a JSON number, read exactly: 0 or negative too, at most "
                f"{MAX_MAJOR_UNITS:,} major units either way, with at most the currency's `exponent` decimals."
            ),
            "examples": ["-50.00", "0"],
        },
        "Error": closed(
            {
                "error": closed(
                    {
                        "code": text("Stable snake_case code to branch on.", examples=["validation_error"]),
                        "message": text("Human-readable explanation."),
                        "fields": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "description": "Field name to problem; only on validation errors.",
                            "examples": [{"amount": "must be greater than 0"}],
                        },
                        "status": {
                            "type": "string",
                            "enum": list(STATUSES),
                            "description": "With `invalid_state`: the payment's status now.",
                        },
                    },
                    optional=("fields", "status"),
                )
            },
            description="Every error response has this shape.",
        ),
        "Currency": closed(
            {
                "code": text("3 to 10 upper-case letters or digits.", pattern=CODE_PATTERN.pattern, examples=["PHP"]),
                "name": text("Display name.", examples=["Philippine peso"]),
                "exponent": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_EXPONENT,
                    "description": "Minor-unit digits.",
                },
                "active": {"type": "boolean"},
                "custom": {"type": "boolean", "description": "Added by an operator rather than from ISO 4217."},
            }
        ),
        "Balance": closed(
            {
                "id": text("Balance id.", examples=["bal_01JD3ZK6Q8W6V2X3Y4Z5A6B7C8"]),
                "account": text("Owning account id."),
                "currency": CURRENCY_CODE,
                "amount": {**AMOUNT, "description": "Posted: the sum of the balance's entries."},
                "held": {**AMOUNT, "description": "Reserved by its open holds."},
                "available": {**AMOUNT, "description": "`amount - held`: what payments may spend."},
                "min_balance": {
                    **AMOUNT,
                    "description": "The floor of `available`: 0, or negative for a credit line of that size.",
                },
                "max_balance": nullable(
                    {**AMOUNT, "description": "A cap on `amount` that payments into it may not pass; null: none."}
                ),
                "active": {"type": "boolean"},
                "created_at": TIME,
                "updated_at": TIME,
            },
            description="An account's money in one currency.",
        ),
        "Account": closed(
            {
                "id": text("Account id.", pattern=ACCOUNT_ID_PATTERN.pattern, examples=["bob123"]),
                "owner": text("Display name of the owner."),
                "email": nullable(text("Contact email.", pattern=EMAIL_PATTERN.pattern)),
                "active": {"type": "boolean"},
                "reference": nullable(text("Your own id for the account.")),
                "metadata": METADATA,
                "created_at": TIME,
                "balances": {"type": "array", "items": ref("Balance"), "description": "Ordered by currency code."},
            }
        ),
        "Entry": closed(
            {
                "id": {"type": "integer", "description": "Increases with every entry written."},
                "payment_id": text("The payment that wrote this entry."),
                "balance": text("Balance id."),
                "account": text("Account id."),
                "currency": CURRENCY_CODE,
                "direction": {"type": "string", "enum": ["outgoing", "incoming"]},
                "amount": AMOUNT,
                "balance_after": AMOUNT,
                "created_at": TIME,
            },
            description="A ledger line written by a settled payment; never changed.",
        ),
        "Payment": closed(
            {
                "id": text("Payment id; ids sort by creation time.", examples=["pay_01JD3ZK6Q8W6V2X3Y4Z5A6B7C8"]),
                "kind": {"type": "string", "enum": list(KINDS)},
                "status": {"type": "string", "enum": list(STATUSES), "description": "`pending` until settled."},
                "failure_code": nullable(
                    {"type": "string", "enum": list(FAILURE_CODES), "description": "Why it failed."}
                ),
                "from_account": text("Paying account (`@system` for deposits)."),
                "to_account": text("Receiving account (`@system` for withdrawals)."),
                "from_balance": text("Paying balance id."),
                "to_balance": text("Receiving balance id."),
                "amount": AMOUNT,
                "currency": CURRENCY_CODE,
                "target_amount": nullable(
                    {
                        **AMOUNT,
                        "description": (
                            "Exchanges (and their reversals): what the receiver gets in `target_currency`. For a "
                            "pending exchange, the quote at intake; once completed, what was paid."
                        ),
                    }
                ),
                "target_currency": nullable(text("Currency received, for exchanges and their reversals.")),
                "rate": nullable(
                    text(
                        "Exchanges: `target_currency` per unit of `currency`, exact decimal text; the quote at "
                        "intake while pending, the rate applied once completed. Null on a reversal, whose amounts "
                        "are those of the exchange it undoes."
                    )
                ),
                "description": nullable(text("Free text given at intake.")),
                "reference": nullable(text("The caller's own id for the payment, as given.")),
                "metadata": METADATA,
                "created_by": ref("Actor"),
                "capture": {
                    "type": "string",
                    "enum": list(CAPTURES),
                    "description": "`manual`: a hold, authorized at settlement and captured, voided or expired later.",
                },
                "authorized_amount": nullable({**AMOUNT, "description": "A hold: what its authorization reserved."}),
                "captured_amount": nullable({**AMOUNT, "description": "A captured hold: what was captured."}),
                "hold_expires_at": nullable(
                    {**TIME, "description": "A hold: when it expires unless captured or voided."}
                ),
                "settle_by": nullable({**TIME, "description": "Still pending then, it fails `deadline_exceeded`."}),
                "group": nullable(text("The payment group it was sent in.")),
                "reverses": nullable(text("The payment this reversal undoes.")),
                "reversed_by": nullable(text("Its newest reversal that has not failed.")),
                "reversed_amount": {
                    **AMOUNT,
                    "description": (
                        "What its reversals that have not failed take back, in `currency` (for an exchange, in "
                        "`target_currency`)."
                    ),
                },
                "reversals": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Its reversals' ids, oldest first; on single payments and in lists, not in events.",
                },
                "created_at": TIME,
                "settled_at": nullable(
                    {**TIME, "description": "When settlement (or a capture, void or expiry) ended it."}
                ),
                "entries": {
                    "type": "array",
                    "items": ref("Entry"),
                    "description": "Present on a single payment, not in lists; empty unless `completed`.",
                },
            },
            optional=("entries", "reversals"),
        ),
        "PaymentWithEntries": {
            "description": "A single payment, as returned by its own URL and by the POSTs that create it.",
            "allOf": [ref("Payment"), {"required": ["entries"]}],
        },
        "AccountPayment": {
            **closed(
                {
                    "payment_id": text("The payment."),
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "direction": {"type": "string", "enum": ["outgoing", "incoming"]},
                    "amount": {**AMOUNT, "description": "What this account paid or received."},
                    "currency": CURRENCY_CODE,
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "failure_code": nullable({"type": "string", "enum": list(FAILURE_CODES)}),
                    "description": nullable({"type": "string"}),
                    "created_at": TIME,
                    "settled_at": nullable(TIME),
                    "to_account": text("Receiving account; on `outgoing` lines."),
                    "from_account": text("Paying account; on `incoming` lines."),
                },
                optional=("to_account", "from_account"),
                description="One account's side of a payment: a line of its payment history.",
            ),
            "oneOf": [
                {"properties": {"direction": {"const": "outgoing"}}, "required": ["to_account"]},
                {"properties": {"direction": {"const": "incoming"}}, "required": ["from_account"]},
            ],
        },
        "Event": closed(
            {
                "seq": {"type": "integer", "description": "Unique and increasing."},
                "type": {"type": "string", "enum": list(EVENT_TYPES)},
                "created_at": TIME,
                "actor": ref("Actor"),
                "data": {"type": "object", "description": "The changed resource as it was after the change."},
            },
            description="An append-only record of a committed change.",
        ),
        "AuditReport": closed(
            {
                "ok": {"type": "boolean", "description": "True when no problem was found."},
                "checked_at": TIME,
                "currencies": {
                    "type": "array",
                    "items": closed(
                        {
                            "currency": CURRENCY_CODE,
                            "balances": {"type": "integer", "description": "Customer balances in this currency."},
                            "total": {**AMOUNT, "description": "Sum of all balances, `@system` included; must be 0."},
                            "ok": {"type": "boolean"},
                        }
                    ),
                },
                "problems": {
                    "type": "array",
                    "items": closed(
                        {
                            "code": {
                                "type": "string",
                                "enum": [
                                    "below_min_balance",
                                    "held_mismatch",
                                    "balance_mismatch",
                                    "entry_count",
                                    "currency_not_zero",
                                ],
                            },
                            "message": {"type": "string"},
                            "balance": text("The balance concerned."),
                            "payment": text("The payment concerned."),
                            "currency": text("The currency concerned."),
                        },
                        optional=("balance", "payment", "currency"),
                    ),
                },
            },
            description="The ledger's invariants checked now.",
        ),
        "Index": closed(
            {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "links": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        ),
        "Health": closed({"status": {"type": "string", "const": "ok"}}),
        "Readiness": closed(
            {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "checks": closed(
                    {
                        "database": text("`ok` or `error: <kind>`."),
                        "queue": text("`ok` or `error: <kind>`."),
                    }
                ),
            }
        ),
        "OpenApiDocument": {"type": "object", "description": "This document."},
        "AccountList": page_of("Account"),
        "AccountPaymentList": page_of("AccountPayment"),
        "PaymentList": page_of("Payment"),
        "EntryList": page_of("Entry"),
        "EventList": page_of("Event"),
        "CurrencyList": page_of("Currency"),
        **_request_schemas(),
    }


def _request_schemas() -> dict:
    description = DESCRIPTION
    return {
        "NewAccount": closed(
            {
                "id": nullable(text("Chosen id; generated when omitted.", pattern=ACCOUNT_ID_PATTERN.pattern)),
                "owner": OWNER,
                "email": nullable(email("Contact email.")),
                "currencies": nullable(
                    {
                        "type": "array",
                        "items": CURRENCY_CODE,
                        "uniqueItems": True,
                        "description": "Open a zero balance in each of these active currencies.",
                    }
                ),
                "reference": nullable(ACCOUNT_REFERENCE),
                "metadata": nullable(METADATA),
            },
            optional=("id", "email", "currencies", "reference", "metadata"),
        ),
        "AccountChange": closed(
            {
                "owner": OWNER,
                "email": nullable(email("Contact email; null clears it.")),
                "reference": nullable({**ACCOUNT_REFERENCE, "description": "Your own id; null clears it."}),
                "metadata": nullable(ref("MetadataChange")),
                "active": nullable(
                    {"type": "boolean", "description": "Inactive accounts can neither pay nor be paid."}
                ),
            },
            optional=("owner", "email", "reference", "metadata", "active"),
        ),
        "NewBalance": closed({"currency": CURRENCY_CODE}),
        "BalanceChange": closed(
            {
                "active": {"type": "boolean"},
                "min_balance": {
                    **ref("SignedAmountInput"),
                    "description": (
                        "The floor of `available`: 0, or negative for a credit line. Refused above what the balance "
                        "has available now."
                    ),
                },
                "max_balance": nullable(
                    {
                        **ref("SignedAmountInput"),
                        "description": (
                            "A cap on `amount`, at least 0 and `min_balance`; null removes it. A cap below today's "
                            "amount only stops further income."
                        ),
                    }
                ),
            },
            optional=("active", "min_balance", "max_balance"),
            description="At least one of the three.",
        ),
        "NewTransfer": closed(
            {
                "from_account": text("Paying account id."),
                "to_account": text("Receiving account id."),
                "amount": ref("AmountInput"),
                "currency": nullable(text("Omit when the sender holds exactly one active balance.", examples=["PHP"])),
                "to_currency": nullable(
                    text(
                        "The receiver's currency; when it differs from `currency` the payment is an exchange at "
                        "the rate in force at settlement.",
                        examples=["USD"],
                    )
                ),
                "description": description,
                "metadata": nullable(METADATA),
                **TERMS,
            },
            optional=("currency", "to_currency", "description", "metadata", *TERMS),
        ),
        "NewCashPayment": closed(
            {
                "account": text("The customer account."),
                "currency": CURRENCY_CODE,
                "amount": ref("AmountInput"),
                "description": description,
                "metadata": nullable(METADATA),
                **TERMS,
            },
            optional=("description", "metadata", *TERMS),
        ),
        "PaymentChange": closed(
            {
                "description": description,
                "metadata": nullable(ref("MetadataChange")),
            },
            optional=("description", "metadata"),
            description="Only a payment's description and metadata may change; at least one of them.",
        ),
        "NewCurrency": closed(
            {
                "code": text("3 to 10 upper-case letters or digits.", pattern=CODE_PATTERN.pattern, examples=["BTC"]),
                "name": text(
                    "Display name; not only spaces.",
                    minLength=1,
                    maxLength=NAME_MAX_LENGTH,
                    pattern=NAME_PATTERN.pattern,
                    examples=["Bitcoin"],
                ),
                "exponent": {"type": "integer", "minimum": 0, "maximum": MAX_EXPONENT, "examples": [8]},
            }
        ),
    }


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def parameters() -> dict:
    """Headers every operation may take, path ids, paging and filters."""
    return {
        "RequestId": {
            "name": "X-Request-Id",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
            "description": "Echoed in the response's X-Request-Id when it matches the pattern; else one is made.",
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
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
            "schema": {"type": "string", "pattern": r"(^|[;,\s])wait=[0-9]+", "examples": ["wait=10"]},
            "description": (
                f"`wait=N` holds the response up to N seconds (at most {MAX_WAIT_SECONDS}) until the payment is "
                "final: 201 when it settled in time, else 202 with status `pending`. "
                "`Preference-Applied` says the wait used."
            ),
        },
        "Limit": query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "Page size.",
        ),
        "Cursor": query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
        "PaymentStatus": query("status", {"type": "string", "enum": list(STATUSES)}, "Only payments in this status."),
        "PaymentKind": query("kind", {"type": "string", "enum": list(KINDS)}, "Only payments of this kind."),
        "PaymentCurrency": query("currency", CURRENCY_CODE, "Only payments paying or receiving this currency."),
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
        "OwnerFilter": query("owner", {"type": "string"}, "Owner contains this text."),
        "EmailFilter": query("email", {"type": "string"}, "Email is exactly this."),
        "HoldsCurrency": query("currency", CURRENCY_CODE, "Holds a balance in this currency."),
        "SearchTerm": query("q", {"type": "string"}, "Id, owner or email contains this text."),
        "CurrencySearch": query("q", {"type": "string"}, "Code or name contains this text (any case)."),
        "AccountReference": query("reference", {"type": "string"}, "Only the accounts with this `reference`."),
        "PaymentReference": query("reference", {"type": "string"}, "Only the payments with this `reference`."),
        "MetadataFilter": {
            "name": "metadata",
            "in": "query",
            "required": False,
            "style": "deepObject",
            "explode": True,
            "schema": {
                "type": "object",
                "propertyNames": {"pattern": KEY_PATTERN.pattern},
                "additionalProperties": {"type": "string"},
            },
            "description": (
                "`metadata[key]=value`: only those whose metadata has this value under this key; several are all "
                "required. A key outside `[A-Za-z0-9_.-]{1,40}` is 400 `invalid_request`."
            ),
        },
        "PaymentAccount": query("account", {"type": "string"}, "Only payments from or to this account."),
        "EventsAfter": query(
            "after",
            {"type": "integer", "minimum": 0},
            "Only events after this `seq`; ignored when `cursor` is given.",
        ),
        "EventOrder": query(
            "order", {"type": "string", "enum": ["asc", "desc"], "default": "asc"}, "`asc`: oldest first."
        ),
        "StreamAfter": query(
            "after",
            {"type": "integer", "minimum": 0},
            "Replay the events after this `seq`, then go live. Without it: live from now.",
        ),
        "StreamAccount": query("account", {"type": "string"}, "Only events about this account."),
        "StreamTypes": query(
            "types",
            {"type": "string", "examples": ["payment.completed,payment.failed"]},
            "Only these event types, comma-separated.",
        ),
        "StreamToken": query(
            "token", {"type": "string"}, "The bearer token, for clients that cannot set headers (browsers)."
        ),
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
