"""Holds: payments authorized first and captured, voided or left to expire
later (`capture: manual`).

Settlement authorizes a hold: it checks it as it would any payment and
reserves the amount on the paying balance (`held`), moving nothing. Then
exactly one of three things ends it, whatever races:

- a capture moves all or part of the authorized amount (`payment.completed`
  with `captured_amount`); the rest is released;
- a void releases it all (`payment.voided`);
- at `hold_expires_at` it expires, releasing it all (`payment.expired`,
  `models.overdue`).

Each locks the payment's row first and acts only on an `authorized` hold
whose time has not come, so the first to lock it wins and the others find
it final: 409 `invalid_state`, with the status it is in. A hold past its
`hold_expires_at` has expired, whether or not the sweep has marked it yet:
capturing or voiding it is refused the same way.

A capture posts what it captures as settlement posts a payment, with the
same checks on the receiver (its account and balance active, its cap) and
at the rate the authorization fixed, for an exchange. A capture the
receiver cannot take is refused with that reason, and the hold stays as it
was, to be captured later or voided.
"""

from __future__ import annotations

from .account import Account, Balance
from .connection import utcnow
from .currency import exponent_of
from .dialect import lock_rows
from .errors import ApiError, not_found
from .event import record_events
from .funds import SYSTEM_ACCOUNT, can_take
from .intake import read_amount
from .ledger import AUTHORIZED, COMPLETED, EXPIRED, VOIDED, Entry, Payment
from .money import format_amount
from .posting import balance_ids, exchange_pair, legs, post, system_balance_ids
from .rates import convert
from .serialize import payment_with_balances
from .validation import AMOUNT, check_shape


def capture_hold(payment_id: str, body: object) -> Payment:
    """Capture all of a hold, or `amount` of it (the rest is released), in
    the caller's transaction; returns the completed payment."""
    data = check_shape({} if body is None else body, {"amount": AMOUNT})
    payment = _authorized_hold(payment_id, "captured")
    authorized = int(payment.authorized_amount or 0)
    amount = authorized
    if data.get("amount") is not None:
        amount = read_amount(data["amount"], exponent_of(payment.currency_id))
        if amount > authorized:
            held = format_amount(authorized, exponent_of(payment.currency_id))
            raise ApiError(
                422,
                "amount_exceeds_hold",
                f"payment {payment_id} holds {held} {payment.currency_id}",
                fields={"amount": f"must be at most {held}"},
            )
    system = system_balance_ids([payment])
    balances = Balance.lock_for_update(balance_ids(payment, system))
    source, target = balances[payment.from_balance_id], balances[payment.to_balance_id]
    target_amount = None
    if payment.target_currency_id is not None:
        source_currency, target_currency = exchange_pair(payment)
        target_amount = convert(amount, str(payment.rate), exponent_of(source_currency), exponent_of(target_currency))
    _check_sides(source, target, amount if target_amount is None else target_amount)
    now = utcnow()
    source.held -= authorized
    payment_legs = legs(payment, amount, target_amount, balances, system)
    entries = post(payment, payment_legs, now)
    payment.status, payment.captured_amount, payment.settled_at = COMPLETED, amount, now
    if target_amount is not None:
        payment.target_amount = target_amount
    for balance in balances.values():
        balance.save()
    payment.save()
    record_events(
        [("payment.completed", payment_with_balances(payment, [b for b, _, _ in payment_legs]))],
        (Entry, entries),
        at=now,
    )
    return payment


def void_hold(payment_id: str, body: object = None) -> Payment:
    """Release all of a hold, in the caller's transaction; returns the
    voided payment. (A body, if sent, must be an empty object.)"""
    check_shape({} if body is None else body, {})
    payment = _authorized_hold(payment_id, "voided")
    return release(payment, VOIDED, "payment.voided")


def release(payment: Payment, status: str, event_type: str, balances: dict[str, Balance] | None = None) -> Payment:
    """End a locked, authorized hold without moving money: its amount is no
    longer held on the paying balance. `balances`: its balances, when the
    caller has locked them already."""
    now = utcnow()
    if balances is None:
        balances = Balance.lock_for_update([payment.from_balance_id, payment.to_balance_id])
    source = balances[payment.from_balance_id]
    source.held -= int(payment.authorized_amount or 0)
    source.updated_at = now
    source.save()
    payment.status, payment.settled_at = status, now
    payment.save()
    record_events([(event_type, payment_with_balances(payment, [source, balances[payment.to_balance_id]]))], at=now)
    return payment


def _authorized_hold(payment_id: str, action: str) -> Payment:
    """The payment, locked, if it is a hold that may still be ended now;
    else 404, or 409 `invalid_state` with the status it is in."""
    payment = lock_rows(Payment.select().where(Payment.id == payment_id)).first()
    if payment is None:
        raise not_found(f"payment {payment_id}")
    status = payment.status
    if status == AUTHORIZED and payment.hold_expires_at is not None and payment.hold_expires_at <= utcnow():
        status = EXPIRED
    if status != AUTHORIZED:
        what = "a hold" if payment.capture == "manual" else "not a hold"
        raise ApiError(
            409,
            "invalid_state",
            f"payment {payment_id} is {what} and {status}: it cannot be {action}",
            status_now=status,
        )
    return payment


def _check_sides(source: Balance, target: Balance, amount: int) -> None:
    """Both sides can still send and receive, and the receiving balance can
    take `amount`; else 422 with why."""
    for side in (source, target):
        if side.account_id != SYSTEM_ACCOUNT and not Account.get_by_id(side.account_id).active:
            raise ApiError(422, "account_inactive", f"account {side.account_id} is inactive")
    for side in (source, target):
        if not side.active:
            raise ApiError(422, "balance_inactive", f"{side.account_id}'s {side.currency_id} balance is inactive")
    if not can_take(target, amount):
        raise ApiError(
            422, "limit_exceeded", f"{target.account_id}'s {target.currency_id} balance would pass its max_balance"
        )
