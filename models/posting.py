"""Posting a payment to the ledger, the one place money moves: the entries
it writes and what they do to its balances, for settlement and for the
capture of a hold alike.

A transfer, deposit or withdrawal writes two entries. An exchange writes
four, passing through the `@system` balance of each currency: the
customer's source balance pays `@system` in the source currency, and
`@system` pays the customer's target balance in the target currency. So
each currency's balances still sum to zero, and what rounding down keeps
stays with `@system`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from .account import Balance
from .funds import SYSTEM_ACCOUNT
from .ledger import Payment
from .rows import tuples

Leg = tuple[Balance, str, int]


def exchange_pair(exchange: Payment) -> tuple[str, str]:
    """An exchange's source and target currencies. Intake gives every
    exchange its target currency (the column is null for other kinds)."""
    return exchange.currency_id, cast(str, exchange.target_currency_id)


def system_balance_ids(payments: Iterable[Payment]) -> dict[str, str]:
    """The `@system` balance of each currency the payments' exchanges pass
    through."""
    currencies = {code for p in payments if p.target_currency_id for code in exchange_pair(p)}
    if not currencies:
        return {}
    return dict(
        tuples(
            Balance.select(Balance.currency, Balance.id).where(
                (Balance.account == SYSTEM_ACCOUNT) & Balance.currency.in_(sorted(currencies))
            )
        )
    )


def balance_ids(payment: Payment, system: dict[str, str]) -> set[str]:
    """Every balance posting the payment touches."""
    ids = {payment.from_balance_id, payment.to_balance_id}
    if payment.target_currency_id is not None:
        ids.update(system[code] for code in exchange_pair(payment))
    return ids


def legs(
    payment: Payment, amount: int, target_amount: int | None, balances: dict[str, Balance], system: dict[str, str]
) -> list[Leg]:
    """(balance, direction, amount) of each entry posting `amount` of the
    payment writes (`target_amount` arriving, for an exchange)."""
    source, target = balances[payment.from_balance_id], balances[payment.to_balance_id]
    if payment.target_currency_id is None:
        return [(source, "outgoing", amount), (target, "incoming", amount)]
    source_currency, target_currency = exchange_pair(payment)
    arriving = cast(int, target_amount)
    return [
        (source, "outgoing", amount),
        (balances[system[source_currency]], "incoming", amount),
        (balances[system[target_currency]], "outgoing", arriving),
        (target, "incoming", arriving),
    ]


def post(payment: Payment, payment_legs: list[Leg], now: datetime) -> list[dict]:
    """Move the money: each leg's balance changes, and the entry rows that
    record it (to be inserted by the caller)."""
    entries = []
    for balance, direction, amount in payment_legs:
        balance.amount += amount if direction == "incoming" else -amount
        balance.updated_at = now
        entries.append(
            {
                "payment": payment.id,
                "balance": balance.id,
                "direction": direction,
                "amount": amount,
                "balance_after": balance.amount,
                "created_at": now,
            }
        )
    return entries


def incoming(payment: Payment) -> int:
    """What the receiver's balance gets: the amount, or an exchange's
    target amount once priced."""
    return payment.amount if payment.target_currency_id is None else cast(int, payment.target_amount)
