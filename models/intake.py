"""Payment intake (SPEC section 4, step 1): refuse what can be refused now,
else commit the payment as `pending` with its `payment.created` event.

Called inside a transaction by the API, the dashboard and the tests alike;
funds are not checked here but at settlement, under the balances' locks.
"""

from __future__ import annotations

from collections.abc import Callable

from .account import SYSTEM_ACCOUNT, Account, Balance
from .currency import Currency
from .db import database
from .errors import ApiError, invalid
from .event import record_event
from .ids import new_id
from .ledger import Payment
from .money import AmountError, parse_amount
from .serialize import payment_json
from .validation import AMOUNT, check_shape

Enqueue = Callable[[str], None]

TRANSFER_FIELDS = {
    "from_account": str,
    "to_account": str,
    "amount": AMOUNT,
    "currency": str,
    "to_currency": str,
    "description": str,
}
CASH_FIELDS = {"account": str, "currency": str, "amount": AMOUNT, "description": str}


def submit_transfer(body: object, enqueue: Enqueue) -> Payment:
    """Accept a transfer between two customers' balances of one currency."""
    data = check_shape(body, TRANSFER_FIELDS, required=("from_account", "to_account", "amount"))
    _check_description(data)
    sender = _customer(data["from_account"], "from_account")
    receiver = _customer(data["to_account"], "to_account")
    currency = _transfer_currency(sender, data.get("currency"))
    if data.get("to_currency") not in (None, currency.code):
        Currency.known(data["to_currency"])
        raise ApiError(422, "rate_unavailable", f"no exchange rate from {currency.code} to {data['to_currency']}")
    amount = _amount(data["amount"], currency)
    source = _usable_balance(sender, currency)
    target = _usable_balance(receiver, currency)
    if source.id == target.id:
        raise ApiError(422, "same_balance", "a payment cannot go from a balance to itself")
    return _accept("transfer", source, target, amount, data.get("description"), enqueue)


def submit_deposit(body: object, enqueue: Enqueue) -> Payment:
    """Accept money arriving from outside: `@system` pays the customer."""
    account, currency, amount, description = _cash_request(body)
    system = _system_balance(currency)
    return _accept("deposit", system, _usable_balance(account, currency), amount, description, enqueue)


def submit_withdrawal(body: object, enqueue: Enqueue) -> Payment:
    """Accept money leaving to outside: the customer pays `@system`."""
    account, currency, amount, description = _cash_request(body)
    system = _system_balance(currency)
    return _accept("withdrawal", _usable_balance(account, currency), system, amount, description, enqueue)


def _accept(kind: str, source: Balance, target: Balance, amount: int, description, enqueue: Enqueue) -> Payment:
    payment = Payment.create(
        id=new_id("pay"),
        kind=kind,
        from_account=source.account_id,
        to_account=target.account_id,
        from_balance=source.id,
        to_balance=target.id,
        amount=amount,
        currency=source.currency_id,
        description=description,
    )
    record_event("payment.created", payment_json(payment))
    database.after_commit(lambda: enqueue(payment.id))
    return payment


def _cash_request(body: object) -> tuple[Account, Currency, int, str | None]:
    data = check_shape(body, CASH_FIELDS, required=("account", "currency", "amount"))
    _check_description(data)
    account = _customer(data["account"], "account")
    currency = Currency.known(data["currency"])
    return account, currency, _amount(data["amount"], currency), data.get("description")


def _check_description(data: dict) -> None:
    if len(data.get("description") or "") > 500:
        raise invalid({"description": "must be at most 500 characters"})


def _customer(account_id: str, field: str) -> Account:
    account = Account.get_or_none(Account.id == account_id) if account_id != SYSTEM_ACCOUNT else None
    if account is None:
        raise invalid({field: f"no such account: {account_id}"})
    if not account.active:
        raise ApiError(422, "account_inactive", f"account {account_id} is inactive")
    return account


def _transfer_currency(sender: Account, code: str | None) -> Currency:
    if code is not None:
        return Currency.known(code)
    active = list(sender.balances.where(Balance.active == True))  # noqa: E712
    if len(active) != 1:
        raise ApiError(422, "currency_required", f"{sender.id} holds {len(active)} active balances: say which currency")
    return active[0].currency


def _amount(value: object, currency: Currency) -> int:
    try:
        return parse_amount(value, currency.exponent)
    except AmountError as problem:
        raise invalid({"amount": str(problem)}) from None


def _usable_balance(account: Account, currency: Currency) -> Balance:
    balance = Balance.get_or_none((Balance.account == account.id) & (Balance.currency == currency.code))
    if balance is None:
        raise ApiError(422, "currency_mismatch", f"{account.id} has no {currency.code} balance")
    if not balance.active:
        raise ApiError(422, "balance_inactive", f"{account.id}'s {currency.code} balance is inactive")
    return balance


def _system_balance(currency: Currency) -> Balance:
    return Balance.get((Balance.account == SYSTEM_ACCOUNT) & (Balance.currency == currency.code))
