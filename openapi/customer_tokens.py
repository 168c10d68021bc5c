"""The OpenAPI operations and schemas of customer tokens: tokens bound to one
account, issued, listed and revoked by an admin."""

from __future__ import annotations

from models.customer_tokens import CUSTOMER_SCOPES, DEFAULT_LIFETIME, MAX_LIFETIME

from .builders import operation, success
from .components import TIME, closed, nullable, page_of, text

TOKENS = "/api/v1/accounts/{account_id}/tokens"

OWN_ACCOUNT = "its own account only."
OWN_BALANCE = "a balance of its own account only."
OWN_PAYMENT = "a payment its own account is part of only."
OWN_PAYER = "with the `read+pay` scope, a payment whose `from_account` is its own account only."
OWN_FEED = "it follows its own account's events (the `account` filter is implied; another account is 403)."


def customer_token_operations() -> list[tuple[str, str, dict]]:
    return [
        operation(
            "post",
            TOKENS,
            "issueCustomerToken",
            "Customer tokens",
            "Issue a token bound to this account",
            "admin",
            {
                "201": success("The token, with its secret: shown this once, stored only hashed.", "IssuedToken"),
                "200": success(
                    "Replay of an earlier request with the same Idempotency-Key (without the secret).",
                    "CustomerToken",
                    "Idempotent-Replayed",
                ),
            },
            description=(
                "For a customer's own app (a wallet): the token reads only this account (the account, its "
                "balances and their statements, the payments it is part of), follows only its feed, and with "
                "`read+pay` sends payments from it. Anywhere else it is refused with 403 `forbidden`. It "
                "expires after `expires_in` seconds; its open feed connections are closed (code 4001) within a "
                "second of its expiry or revocation."
            ),
            parameters=("AccountId",),
            body="NewCustomerToken",
            errors=("validation_error", "not_found"),
        ),
        operation(
            "get",
            TOKENS,
            "listCustomerTokens",
            "Customer tokens",
            "List this account's tokens",
            "admin",
            {"200": success("The account's tokens, revoked and expired ones too, newest first.", "CustomerTokenList")},
            parameters=("AccountId", "Limit", "Cursor"),
            errors=("not_found",),
        ),
        operation(
            "delete",
            f"{TOKENS}/{{token_id}}",
            "revokeCustomerToken",
            "Customer tokens",
            "Revoke a token of this account",
            "admin",
            {"200": success("The token, revoked (revoking it again changes nothing).", "CustomerToken")},
            description="Requests with it are refused from now on (401), and its open feeds are closed.",
            parameters=("AccountId", "TokenId"),
            errors=("not_found",),
        ),
    ]


def customer_token_schemas() -> dict:
    token = {
        "id": {"type": "integer"},
        "account": text("The account it is bound to."),
        "scope": {"type": "string", "enum": list(CUSTOMER_SCOPES)},
        "hint": text("The secret's first characters, to tell tokens apart."),
        "created_at": TIME,
        "expires_at": TIME,
        "revoked_at": nullable(TIME),
    }
    return {
        "CustomerToken": closed(token, description="A token bound to one account."),
        "IssuedToken": closed(
            {**token, "token": text("The secret, to send as `Authorization: Bearer`. Shown only now.")},
            description="A new customer token with its secret.",
        ),
        "CustomerTokenList": page_of("CustomerToken"),
        "NewCustomerToken": closed(
            {
                "scope": {
                    "type": "string",
                    "enum": list(CUSTOMER_SCOPES),
                    "description": "`read`: read the account and follow its feed; `read+pay`: also pay from it.",
                },
                "expires_in": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_LIFETIME,
                    "default": DEFAULT_LIFETIME,
                    "description": "Seconds until it expires: 24 hours unless given, at most 30 days.",
                },
            },
            optional=("expires_in",),
        ),
    }


def customer_token_parameters() -> dict:
    return {
        "TokenId": {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}},
    }
