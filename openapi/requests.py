"""The document's request bodies: what each POST, PUT and PATCH takes, with
the patterns and limits of the code that checks it."""

from __future__ import annotations

from models.account import ACCOUNT_ID_PATTERN
from models.currency import CODE_PATTERN, MAX_EXPONENT, NAME_MAX_LENGTH

from .components import (
    ACCOUNT_REFERENCE,
    CODE,
    DESCRIPTION,
    METADATA,
    NOT_BLANK_PATTERN,
    OWNER,
    TERMS,
    account_ref,
    email,
    ref,
    request,
    text,
)


def request_schemas() -> dict:
    description = DESCRIPTION
    return {
        "NewAccount": request(
            {
                "id": text("Chosen id; generated when omitted.", pattern=ACCOUNT_ID_PATTERN.pattern),
                "owner": OWNER,
                "email": email("Contact email."),
                "currencies": {
                    "type": "array",
                    "items": CODE,
                    "uniqueItems": True,
                    "description": "Open a zero balance in each of these active currencies.",
                },
                "reference": ACCOUNT_REFERENCE,
                "metadata": METADATA,
            },
            optional=("id", "email", "currencies", "reference", "metadata"),
        ),
        "AccountChange": request(
            {
                "owner": OWNER,
                "email": email("Contact email; null clears it."),
                "reference": {**ACCOUNT_REFERENCE, "description": "Your own id; null clears it."},
                "metadata": ref("MetadataChange"),
                "active": {"type": "boolean", "description": "Inactive accounts can neither pay nor be paid."},
            },
            optional=("owner", "email", "reference", "metadata", "active"),
        ),
        "NewBalance": request({"currency": CODE}),
        "BalanceChange": {
            **request(
                {
                    "active": {"type": "boolean"},
                    "min_balance": {
                        **ref("SignedAmountInput"),
                        "description": (
                            "The floor of `available`: 0, or negative for a credit line. Refused above what the "
                            "balance has available now."
                        ),
                    },
                    "max_balance": {
                        **ref("SignedAmountInput"),
                        "description": (
                            "A cap on `amount`, at least 0 and `min_balance`; null removes it. A cap below today's "
                            "amount only stops further income."
                        ),
                    },
                },
                optional=("active", "min_balance", "max_balance"),
                description="At least one change: `active` or `min_balance` not null, or `max_balance` (null removes the cap).",
            ),
            "anyOf": [
                {"required": ["active"], "properties": {"active": {"type": "boolean"}}},
                {"required": ["min_balance"], "properties": {"min_balance": {"not": {"type": "null"}}}},
                {"required": ["max_balance"]},
            ],
        },
        "NewTransfer": request(
            {
                "from_account": account_ref("Paying account id."),
                "to_account": account_ref("Receiving account id.", "alice456"),
                "amount": ref("AmountInput"),
                "currency": {**CODE, "description": "Omit when the sender holds exactly one active balance."},
                "to_currency": {
                    **CODE,
                    "description": (
                        "The receiver's currency; when it differs from `currency` the payment is an exchange at "
                        "the rate in force at settlement."
                    ),
                    "examples": ["PHP"],
                },
                "description": description,
                "metadata": METADATA,
                **TERMS,
            },
            optional=("currency", "to_currency", "description", "metadata", *TERMS),
        ),
        "NewCashPayment": request(
            {
                "account": account_ref("The customer account."),
                "currency": CODE,
                "amount": ref("AmountInput"),
                "description": description,
                "metadata": METADATA,
                **TERMS,
            },
            optional=("description", "metadata", *TERMS),
            description="A deposit cannot be a hold: `capture: manual` is for withdrawals only.",
        ),
        "PaymentChange": {
            **request(
                {"description": description, "metadata": ref("MetadataChange")},
                optional=("description", "metadata"),
                description="Only a payment's description and metadata may change; at least one of them.",
            ),
            "minProperties": 1,
        },
        "NewCurrency": request(
            {
                "code": text("3 to 10 upper-case letters or digits.", pattern=CODE_PATTERN.pattern, examples=["BTC"]),
                "name": text(
                    "Display name; not only spaces.",
                    minLength=1,
                    maxLength=NAME_MAX_LENGTH,
                    pattern=NOT_BLANK_PATTERN,
                    examples=["Bitcoin"],
                ),
                "exponent": {"type": "integer", "minimum": 0, "maximum": MAX_EXPONENT, "examples": [8]},
            }
        ),
    }
