"""Payment intake (SPEC section 4, step 1): refuse what can be refused now,
else commit the payment as `pending` with its `payment.created` event.

Transfers, exchanges (a transfer into another currency), deposits,
withdrawals and reversals all enter here.

Called inside a transaction by the API, the dashboard and the tests alike;
funds are not checked here but at settlement, under the balances' locks.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce

from peewee import IntegrityError

from .account import SYSTEM_ACCOUNT, Account, Balance
from .currency import Currency
from .db import database, lock_rows
from .errors import ApiError, invalid, not_found
from .event import record_event
from .ids import new_id
from .ledger import COMPLETED, REVERSIBLE_KINDS, Payment
from .money import AmountError, parse_amount
from .rates import quote_exchange
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
    """Accept a transfer between two customers' balances of one currency, or
    an exchange when `to_currency` differs from `currency`: the receiver's
    `to_currency` balance gets the amount converted at the rate in force at
    settlement. The sender and the receiver may be one account exchanging
    between its own two balances."""
    data = check_shape(body, TRANSFER_FIELDS, required=("from_account", "to_account", "amount"))
    _check_description(data)
    sender, receiver = _customers(("from_account", data["from_account"]), ("to_account", data["to_account"]))
    currency = _transfer_currency(sender, data.get("currency"))
    to_currency = currency
    if data.get("to_currency") not in (None, currency.code):
        to_currency = Currency.known(data["to_currency"])
    amount = _amount(data["amount"], currency)
    source, target = _usable_balances((sender, currency), (receiver, to_currency))
    if source.id == target.id:
        raise ApiError(422, "same_balance", "a payment cannot go from a balance to itself")
    if to_currency.code == currency.code:
        return _accept("transfer", source, target, amount, data.get("description"), enqueue)
    # Quoted now so that an exchange that cannot happen is refused now; the
    # amounts are set again at settlement, at the rate in force then.
    target_amount, rate = quote_exchange(currency, to_currency, amount)
    exchange = dict(target_amount=target_amount, target_currency=to_currency.code, rate=rate)
    return _accept("exchange", source, target, amount, data.get("description"), enqueue, **exchange)


def submit_deposit(body: object, enqueue: Enqueue) -> Payment:
    """Accept money arriving from outside: `@system` pays the customer."""
    account, currency, amount, description = _cash_request(body)
    customer, system = _usable_balances((account, currency), (None, currency))
    return _accept("deposit", system, customer, amount, description, enqueue)


def submit_withdrawal(body: object, enqueue: Enqueue) -> Payment:
    """Accept money leaving to outside: the customer pays `@system`."""
    account, currency, amount, description = _cash_request(body)
    customer, system = _usable_balances((account, currency), (None, currency))
    return _accept("withdrawal", customer, system, amount, description, enqueue)


def submit_reversal(payment_id: str, body: object, enqueue: Enqueue) -> Payment:
    """Accept the reversal of a completed transfer or exchange: the money goes
    back from the receiver to the sender, as a new `reversal` payment linked
    both ways (`reverses` on it, `reversed_by` on the original). An exchange
    goes back at its original rate: the receiver gives back `target_amount`
    and the sender gets back the original `amount`.

    Once per payment: a second request is 409 `already_reversed`, unless the
    first reversal failed at settlement (the receiver had spent the money),
    which frees the payment to be reversed again. Funds are checked at
    settlement, like any payment."""
    data = check_shape({} if body is None else body, {"description": str})
    _check_description(data)
    # Locked so that two requests to reverse one payment are taken one at a time.
    original = lock_rows(Payment.select().where(Payment.id == payment_id)).first()
    if original is None:
        raise not_found(f"payment {payment_id}")
    if original.kind not in REVERSIBLE_KINDS:
        raise ApiError(422, "not_reversible", f"a {original.kind} cannot be reversed; only transfers and exchanges")
    if original.status != COMPLETED:
        raise ApiError(409, "payment_not_completed", f"payment {payment_id} is {original.status}, not completed")
    if original.reversed_by is not None:
        raise ApiError(409, "already_reversed", f"payment {payment_id} is already reversed by {original.reversed_by}")
    source, target = Balance.get_by_id(original.to_balance_id), Balance.get_by_id(original.from_balance_id)
    for balance in (source, target):
        _check_usable(balance)
    exchange = {}
    amount = original.amount
    if original.target_currency_id is not None:
        amount = original.target_amount
        exchange = dict(target_amount=original.amount, target_currency=original.currency_id)
    try:
        with database.atomic():
            reversal = _accept(
                "reversal", source, target, amount, data.get("description"), enqueue, reverses=original.id, **exchange
            )
    except IntegrityError:
        # The partial unique index on `reverses` is the last guard.
        raise ApiError(409, "already_reversed", f"payment {payment_id} is already being reversed") from None
    Payment.update(reversed_by=reversal.id).where(Payment.id == original.id).execute()
    return reversal


def _accept(
    kind: str, source: Balance, target: Balance, amount: int, description, enqueue: Enqueue, **extra
) -> Payment:
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
        **extra,
    )
    record_event("payment.created", payment_json(payment))
    database.after_commit(lambda: enqueue(payment.id))
    return payment


def _cash_request(body: object) -> tuple[Account, Currency, int, str | None]:
    data = check_shape(body, CASH_FIELDS, required=("account", "currency", "amount"))
    _check_description(data)
    (account,) = _customers(("account", data["account"]))
    currency = Currency.known(data["currency"])
    return account, currency, _amount(data["amount"], currency), data.get("description")


def _check_description(data: dict) -> None:
    if len(data.get("description") or "") > 500:
        raise invalid({"description": "must be at most 500 characters"})


def _customers(*named: tuple[str, str]) -> list[Account]:
    """The accounts named in the request's fields, each existing and active,
    read in one query; refused in the order the fields are named."""
    ids = [account_id for _, account_id in named if account_id != SYSTEM_ACCOUNT]
    found = {a.id: a for a in Account.select().where(Account.id.in_(ids))} if ids else {}
    for field, account_id in named:
        account = found.get(account_id)
        if account is None:
            raise invalid({field: f"no such account: {account_id}"})
        if not account.active:
            raise ApiError(422, "account_inactive", f"account {account_id} is inactive")
    return [found[account_id] for _, account_id in named]


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


def _usable_balances(*wanted: tuple[Account | None, Currency]) -> list[Balance]:
    """The balance of each (account, currency), read in one query; None for
    the account means `@system`'s. A customer's must exist and be active."""
    keys = [(account.id if account else SYSTEM_ACCOUNT, currency.code) for account, currency in wanted]
    condition = reduce(operator.or_, ((Balance.account == a) & (Balance.currency == c) for a, c in keys))
    found = {(b.account_id, b.currency_id): b for b in Balance.select().where(condition)}
    for account_id, code in keys:
        balance = found.get((account_id, code))
        if balance is None:
            raise ApiError(422, "currency_mismatch", f"{account_id} has no {code} balance")
        if not balance.active:
            raise ApiError(422, "balance_inactive", f"{account_id}'s {code} balance is inactive")
    return [found[key] for key in keys]


def _check_usable(balance: Balance) -> None:
    """The balance and its account can send and receive now."""
    if not Account.get_by_id(balance.account_id).active:
        raise ApiError(422, "account_inactive", f"account {balance.account_id} is inactive")
    if not balance.active:
        raise ApiError(422, "balance_inactive", f"{balance.account_id}'s {balance.currency_id} balance is inactive")
