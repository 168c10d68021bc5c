"""The reusable parts of the OpenAPI document: the schemas of what the API
answers, the pieces request bodies are made of, and the error codes.

Limits, patterns and enumerations come from the modules that enforce them, so
the document cannot drift from the code on those.
"""

from __future__ import annotations

from models.account import ACCOUNT_ID_PATTERN, EMAIL_MAX_LENGTH, EMAIL_PATTERN, OWNER_MAX_LENGTH, OWNER_PATTERN
from models.account import REFERENCE_MAX_LENGTH as ACCOUNT_REFERENCE_MAX_LENGTH
from models.currency import CODE_PATTERN, MAX_EXPONENT, NAME_PATTERN
from models.event import EVENT_TYPES
from models.idempotency import MAX_KEY_LENGTH
from models.ledger import CAPTURES, DESCRIPTION_MAX_LENGTH, FAILURE_CODES, KINDS, REFERENCE_MAX_LENGTH, STATUSES
from models.metadata import KEY_MAX_LENGTH, KEY_PATTERN, MAX_KEYS, VALUE_MAX_LENGTH
from models.money import MAX_MAJOR_UNITS
from models.terms import HOLD_EXPIRES_IN_DEFAULT, HOLD_EXPIRES_IN_MAX
from models.validation import NUL_FREE_PATTERN
from web.protocol import MAX_BODY_BYTES, MAX_GROUP_BODY_BYTES

AMOUNT_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

# Every error code a client can meet, with its status and what it means.
ERRORS: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "The body is not valid JSON."),
    "invalid_request": (400, "Unknown field, wrong JSON type or bad query parameter; `fields` names each."),
    "invalid_cursor": (400, "The cursor is not one this API gave out."),
    "invalid_idempotency_key": (400, f"Idempotency-Key is empty, over {MAX_KEY_LENGTH} characters or not printable."),
    "unauthorized": (401, "No bearer token, or an unknown, revoked or expired one."),
    "forbidden": (
        403,
        "The token's scope is too small for this operation, or it is a customer token and this is not its account's.",
    ),
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
    "endpoint_disabled": (409, "The webhook endpoint is disabled: enable it before sending a delivery again."),
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


def request(properties: dict, optional: tuple[str, ...] = (), description: str | None = None) -> dict:
    """A request body: `closed`, where an optional field may also be null,
    which the API reads as leaving it out (`models.validation.check_shape`)."""
    widened = {name: nullable_once(schema) if name in optional else schema for name, schema in properties.items()}
    return closed(widened, optional, description)


def nullable_once(schema: dict) -> dict:
    """`nullable`, for a schema that may be nullable already."""
    types = schema.get("type")
    if (isinstance(types, list) and "null" in types) or {"type": "null"} in schema.get("anyOf", []):
        return schema
    return nullable(schema)


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
    "reference": text(
        "Your own id for the payment, shown back as given.",
        minLength=1,
        maxLength=REFERENCE_MAX_LENGTH,
        pattern=NUL_FREE_PATTERN,
    ),
}
# OWNER_PATTERN and NAME_PATTERN find something that is not a space (`\S`);
# with check_shape's refusal of NUL, a name is this.
assert OWNER_PATTERN.pattern == NAME_PATTERN.pattern == r"\S"
NOT_BLANK_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
OWNER = text("Display name; not only spaces.", minLength=1, maxLength=OWNER_MAX_LENGTH, pattern=NOT_BLANK_PATTERN)
DESCRIPTION = nullable(text("Free text.", maxLength=DESCRIPTION_MAX_LENGTH, pattern=NUL_FREE_PATTERN))
ACCOUNT_REFERENCE = text(
    "Your own id for the account, shown back as given.",
    minLength=1,
    maxLength=ACCOUNT_REFERENCE_MAX_LENGTH,
    pattern=NUL_FREE_PATTERN,
)
METADATA = ref("Metadata")


def email(description: str) -> dict:
    # No `format: email`: the pattern is what the API checks, and RFC 5322's
    # grammar (which that format names) both allows and refuses other things.
    return text(description, maxLength=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN.pattern)


AMOUNT = ref("Amount")
CURRENCY_CODE = text("Currency code.", examples=["PHP"])
# What a request may name: a code or an account id of the right shape.
CODE = text("Currency code: 3 to 10 upper-case letters or digits.", pattern=CODE_PATTERN.pattern, examples=["PHP"])


def account_ref(description: str, example: str = "bob123") -> dict:
    return text(description, pattern=ACCOUNT_ID_PATTERN.pattern, examples=[example])


def free_text(description: str | None = None) -> dict:
    """Any string without a NUL."""
    schema = {"type": "string", "pattern": NUL_FREE_PATTERN}
    return {**schema, "description": description} if description else schema


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
                "capture_requested": nullable(
                    {**AMOUNT, "description": "A hold whose capture is accepted and settling: what it captures."}
                ),
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
                "from_seq": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The checkpoint the audit started from: it covered the events after this `seq`.",
                },
                "to_seq": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The last event covered; when `ok`, the next audit starts here.",
                },
                "checkpoint_at": nullable(
                    {**TIME, "description": "When the checkpoint at `from_seq` was made; null: from the log's start."}
                ),
                "problems_found": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "How many problems were found; at most the first 1,000 are listed.",
                },
                "currencies": {
                    "type": "array",
                    "items": closed(
                        {
                            "currency": CURRENCY_CODE,
                            "balances": {"type": "integer", "description": "Customer balances in this currency."},
                            "total": {
                                **AMOUNT,
                                "description": "What the balances moved by the payments covered sum to (the whole"
                                " ledger: all balances, `@system` included); must be 0.",
                            },
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
            description="The ledger's invariants checked over what changed since the last checkpoint.",
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
    }
