"""How every object looks in JSON: the API's bodies and the events' data.

Amounts leave as decimal strings with exactly the currency's exponent of
decimals; timestamps as ISO 8601 in UTC with a `Z`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from .actors import actor_json
from .currency import exponent_of
from .metadata import metadata_of
from .money import format_amount
from .peewee_internals import row_values

if TYPE_CHECKING:  # the models import this module
    from .account import Account, Balance
    from .auth import ApiToken
    from .currency import Currency
    from .ledger import Entry, Payment, PaymentGroup
    from .rates import ExchangeRate, RateChange
    from .webhooks import WebhookAttempt, WebhookEndpoint

# Made once: json.dumps with any option but the defaults builds an encoder
# per call, and every answer and every event is encoded with these.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: object) -> str:
    """JSON text without spaces: the API's bodies, the events' data."""
    return _COMPACT.encode(value)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="microseconds") + "Z"


def money(minor: int | None, currency_code: str | None) -> str | None:
    if minor is None or currency_code is None:
        return None
    return format_amount(minor, exponent_of(currency_code))


def currency_json(currency: Currency) -> dict:
    return {
        "code": currency.code,
        "name": currency.name,
        "exponent": currency.exponent,
        "active": currency.active,
        "custom": currency.custom,
    }


def balance_json(balance: Balance) -> dict:
    return _balance_body(balance, _lasting(balance))


class BalancesShown:
    """`balance_json` for a settlement batch, whose events show the same
    balances again and again as they change: what the batch cannot change
    (id, account, currency, limits, active, created_at) is made once per
    balance."""

    def __init__(self) -> None:
        self._lasting: dict[str, tuple] = {}

    def __call__(self, balance: Balance) -> dict:
        lasting = self._lasting.get(balance.id)
        if lasting is None:
            lasting = self._lasting[balance.id] = _lasting(balance)
        return _balance_body(balance, lasting)


def _lasting(balance: Balance) -> tuple:
    code = balance.currency_id
    return (
        balance.id,
        balance.account_id,
        code,
        exponent_of(code),
        money(balance.min_balance, code),
        money(balance.max_balance, code),
        balance.active,
        iso(balance.created_at),
    )


def _balance_body(balance: Balance, lasting: tuple) -> dict:
    balance_id, account, code, exponent, min_balance, max_balance, active, created_at = lasting
    amount, held = balance.amount, balance.held
    return {
        "id": balance_id,
        "account": account,
        "currency": code,
        "amount": format_amount(amount, exponent),
        "held": format_amount(held, exponent),
        "available": format_amount(amount - held, exponent),
        "min_balance": min_balance,
        "max_balance": max_balance,
        "active": active,
        "created_at": created_at,
        "updated_at": iso(balance.updated_at),
    }


def account_json(account: Account, balances: Iterable[Balance] | None = None, with_balances: bool = False) -> dict:
    """`balances`: the account's balances when the caller already has them
    (lists prefetch them in one query); else they are read here if asked for."""
    body: dict[str, object] = {
        "id": account.id,
        "owner": account.owner,
        "email": account.email,
        "active": account.active,
        "reference": account.reference,
        "metadata": metadata_of(account.metadata),
        "created_at": iso(account.created_at),
    }
    if balances is None and with_balances:
        balances = sorted(account.balances, key=lambda b: b.currency_id)
    if balances is not None:
        body["balances"] = [balance_json(b) for b in balances]
    return body


def payment_json(
    payment: Payment, entries: Iterable[Entry] | None = None, reversals: Iterable[str] | None = None
) -> dict:
    """A payment as the API and the events show it; its `entries` and the
    ids of its `reversals` when the caller has read them."""
    # Read from the row's values (foreign keys as their ids) rather than
    # through a descriptor per field: lists serialize pages of payments, and
    # intake every payment it accepts.
    row = row_values(payment)
    currency, target_currency = row["currency"], row.get("target_currency")
    body = {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "failure_code": row.get("failure_code"),
        "from_account": row["from_account"],
        "to_account": row["to_account"],
        "from_balance": row["from_balance"],
        "to_balance": row["to_balance"],
        "amount": money(row["amount"], currency),
        "currency": currency,
        "target_amount": money(row.get("target_amount"), target_currency),
        "target_currency": target_currency,
        "rate": row.get("rate"),
        "description": row.get("description"),
        "reference": row.get("reference"),
        "metadata": metadata_of(row.get("metadata")),
        "created_by": actor_json(row.get("created_by")),
        "capture": row.get("capture") or "automatic",
        "authorized_amount": money(row.get("authorized_amount"), currency),
        "captured_amount": money(row.get("captured_amount"), currency),
        "capture_requested": money(row.get("capture_requested"), currency),
        "hold_expires_at": iso(row.get("hold_expires_at")),
        "settle_by": iso(row.get("settle_by")),
        "group": row.get("group"),
        "reverses": row.get("reverses"),
        "reversed_by": row.get("reversed_by"),
        "reversed_amount": money(row.get("reversed_amount") or 0, target_currency or currency),
        "created_at": iso(row["created_at"]),
        "settled_at": iso(row.get("settled_at")),
    }
    if reversals is not None:
        body["reversals"] = list(reversals)
    if entries is not None:
        body["entries"] = [entry_json(e) for e in entries]
    return body


def payment_with_balances(
    payment: Payment, balances: Iterable[Balance], shown: Callable[[Balance], dict] = balance_json
) -> dict:
    """A payment event's data: the payment, and the balances it touched as
    they are now (amount, held, available), each as `shown` shows it."""
    data = payment_json(payment)
    data["balances"] = [shown(balance) for balance in balances]
    return data


def group_json(group: PaymentGroup, payments: Iterable[Payment] | None = None) -> dict:
    """A payment group, with its payments in the order they were sent when
    the caller has them."""
    body: dict[str, object] = {
        "id": group.id,
        "atomic": group.atomic,
        "status": group.status,
        "size": group.size,
        "completed": group.completed,
        "failed": group.failed,
        "settle_by": iso(group.settle_by),
        "created_at": iso(group.created_at),
        "settled_at": iso(group.settled_at),
    }
    if payments is not None:
        body["payments"] = [payment_json(p) for p in payments]
    return body


def entry_json(entry: Entry) -> dict:
    currency = entry.balance.currency_id
    return {
        "id": entry.id,
        "payment_id": entry.payment_id,
        "balance": entry.balance_id,
        "account": entry.balance.account_id,
        "currency": currency,
        "direction": entry.direction,
        "amount": money(entry.amount, currency),
        "balance_after": money(entry.balance_after, currency),
        "created_at": iso(entry.created_at),
    }


def account_payment_json(payment: Payment, account_id: str) -> dict:
    """One account's side of a payment (its history line)."""
    outgoing = payment.from_account_id == account_id
    body = {
        "payment_id": payment.id,
        "kind": payment.kind,
        "direction": "outgoing" if outgoing else "incoming",
        "amount": money(payment.amount, payment.currency_id),
        "currency": payment.currency_id,
        "status": payment.status,
        "failure_code": payment.failure_code,
        "description": payment.description,
        "created_at": iso(payment.created_at),
        "settled_at": iso(payment.settled_at),
    }
    if outgoing:
        body["to_account"] = payment.to_account_id
    else:
        body["from_account"] = payment.from_account_id
        if payment.target_currency_id:
            body["amount"] = money(payment.target_amount, payment.target_currency_id)
            body["currency"] = payment.target_currency_id
    return body


def token_json(token: ApiToken) -> dict:
    return {
        "id": token.id,
        "name": token.name,
        "scope": token.scope,
        "hint": token.hint,
        "created_at": iso(token.created_at),
        "revoked_at": iso(token.revoked_at),
        "last_used_at": iso(token.last_used_at),
    }


def customer_token_json(token: ApiToken) -> dict:
    """A customer token without its secret (shown once, when it is issued)."""
    return {
        "id": token.id,
        "account": token.account_id,
        "scope": token.scope,
        "hint": token.hint,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
    }


def rate_json(rate: ExchangeRate | RateChange) -> dict:
    """An exchange rate in force, or one line of a pair's history (`rate`
    null: the rate was removed)."""
    return {
        "base": rate.base_id,
        "quote": rate.quote_id,
        "rate": rate.rate,
        "set_by": rate.set_by,
        "set_at": iso(rate.set_at),
    }


def webhook_endpoint_json(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    """A webhook endpoint; its `secret` only in the answer that made it (a
    creation or a rotation), never afterwards."""
    body: dict[str, object] = {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": json.loads(endpoint.event_types),
        "account": endpoint.account,
        "active": endpoint.state == "active",
        "state": endpoint.state,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": iso(endpoint.disabled_at),
        "failing_since": iso(endpoint.failing_since),
        "last_sent_seq": endpoint.delivered_seq,
        "previous_secret_expires_at": iso(endpoint.previous_secret_expires_at),
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def webhook_attempt_json(attempt: WebhookAttempt) -> dict:
    """One line of an endpoint's delivery log."""
    return {
        "id": str(attempt.id),
        "endpoint": attempt.endpoint_id,
        "seq": attempt.seq,
        "prev_seq": attempt.prev_seq,
        "webhook_id": attempt.webhook_id,
        "attempt": attempt.attempt,
        "manual": attempt.manual,
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "response": attempt.response,
        "latency_ms": attempt.latency_ms,
        "at": iso(attempt.at),
    }
