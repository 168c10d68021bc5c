"""Customer tokens: API tokens bound to one account, for a customer's own
app (a wallet) to read that account, follow its feed and, with `read+pay`,
send payments from it, without holding an operator's key (SPEC section 18).

What a customer token may reach is decided here, once: the routes open to
customers name one of the `own_*` rules below, and everything else refuses
such a token with 403 `forbidden`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .account import Account, Balance
from .auth import SCOPES, ApiToken, scope_allows
from .connection import utcnow
from .errors import ApiError, invalid, not_found
from .ledger import Payment
from .pagination import SEQ, decode_cursor, page
from .validation import check_shape

CUSTOMER_SCOPES = ("read", "read+pay")
DEFAULT_LIFETIME = 24 * 3600
MAX_LIFETIME = 30 * 24 * 3600
# What each customer scope may do, in operators' scopes: `read+pay` may send
# payments (which need `write`), on the routes open to customers only.
_AS_OPERATOR_SCOPE = {"read": "read", "read+pay": "write"}


def issue_customer_token(account_id: str, body: Any) -> tuple[ApiToken, str]:
    """A new token bound to `account_id`, with the scope and lifetime asked
    for (24 hours unless `expires_in` says otherwise, at most 30 days); its
    secret is returned once and stored only hashed."""
    body = check_shape(body, {"scope": str, "expires_in": int}, required=("scope",))
    scope, lifetime = body["scope"], body.get("expires_in")
    if lifetime is None:
        lifetime = DEFAULT_LIFETIME
    problems = {}
    if scope not in CUSTOMER_SCOPES:
        problems["scope"] = "must be read or read+pay"
    if not 1 <= lifetime <= MAX_LIFETIME:
        problems["expires_in"] = f"must be from 1 to {MAX_LIFETIME} seconds (30 days)"
    if problems:
        raise invalid(problems)
    account = Account.get_or_none(Account.id == account_id)
    if account is None or account.id == "@system":
        raise not_found(f"account {account_id}")
    return ApiToken.mint(
        name=f"customer {account.id}",
        scope=scope,
        account_id=account.id,
        expires_at=utcnow() + timedelta(seconds=lifetime),
    )


def tokens_of_account(account_id: str, limit: int, cursor: str | None) -> tuple[list[ApiToken], str | None]:
    """`customer_tokens` of an account that must exist (404 otherwise)."""
    if Account.get_or_none(Account.id == account_id) is None:
        raise not_found(f"account {account_id}")
    return customer_tokens(account_id, limit, cursor)


def customer_tokens(account_id: str, limit: int, cursor: str | None) -> tuple[list[ApiToken], str | None]:
    """A page of the account's customer tokens, revoked and expired ones
    included, newest first (by the `api_token_account` index)."""
    query = ApiToken.select().where(ApiToken.account_id == account_id)
    key = decode_cursor(cursor, SEQ)
    if key:
        query = query.where(ApiToken.id < key[0])
    return page(list(query.order_by(ApiToken.id.desc()).limit(limit + 1)), limit, lambda t: [t.id])


def customer_token(account_id: str, token_id: str) -> ApiToken:
    token = None
    if token_id.isdigit() and len(token_id) <= 18:
        token = ApiToken.get_or_none((ApiToken.id == int(token_id)) & (ApiToken.account_id == account_id))
    if token is None:
        raise not_found(f"token {token_id} of account {account_id}")
    return token


def revoke_customer_token(account_id: str, token_id: str) -> ApiToken:
    """Revoke one of the account's tokens (again: no change). Call inside a transaction."""
    token = customer_token(account_id, token_id)
    token.revoke()
    return token


def customer_may(token: ApiToken, needed: str, open_to_customers: bool) -> bool:
    """Whether `token` covers a route needing the operator scope `needed`:
    an operator's token by its scope; a customer token only on a route open
    to customers, reading, or paying with `read+pay`."""
    if token.account_id is None:
        return token.scope in SCOPES and scope_allows(token.scope, needed)
    return open_to_customers and scope_allows(_AS_OPERATOR_SCOPE[token.scope], needed)


def _refuse(account_id: str) -> ApiError:
    return ApiError(403, "forbidden", f"this token may reach account {account_id} only")


def own_account(account_id: str, named: str) -> None:
    """A customer token reads its own account only."""
    if named != account_id:
        raise _refuse(account_id)


def own_balance(account_id: str, balance_id: str) -> None:
    """... and the balances of its account (one unknown is refused alike, so
    a token learns nothing of other accounts)."""
    if not Balance.select().where((Balance.id == balance_id) & (Balance.account == account_id)).exists():
        raise _refuse(account_id)


def own_payment(account_id: str, payment_id: str) -> None:
    """... and the payments its account is part of."""
    mine = (Payment.from_account == account_id) | (Payment.to_account == account_id)
    if not Payment.select().where((Payment.id == payment_id) & mine).exists():
        raise _refuse(account_id)


def own_payer(account_id: str, body: Any) -> None:
    """With `read+pay` it sends payments from its own account only."""
    if not isinstance(body, dict) or body.get("from_account") != account_id:
        raise ApiError(403, "forbidden", f"this token may send payments from account {account_id} only")
