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

A capture settles like a payment: asking for one (`capture_hold`) stores
the amount to capture on the hold (`capture_requested`) and asks for
settlement; the workers then post it in their batches (`models.settlement`)
at the rate the authorization fixed, for an exchange. Once a capture is
asked for, it has won: the hold can no longer be voided, captured again or
expire. What can be judged when it is asked for is refused at once (a
receiver that is inactive or would pass its cap: 422, the hold stays as it
was). Settlement judges the receiver again under its locks; should it have
changed in between, the capture fails with that reason and the hold is
released (`payment.failed`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from .account import Balance, inactive_accounts
from .actors import Acting, acting_text, current
from .bulk import statement_batch
from .connection import database, utcnow
from .currency import exponent_of
from .dialect import among, lock_rows
from .errors import ApiError, not_found
from .event import record_events
from .funds import can_take
from .intake import RequestSettlement, read_amount
from .ledger import AUTHORIZED, EXPIRED, VOIDED, Payment
from .money import format_amount
from .posting import exchange_pair
from .rates import convert
from .serialize import payment_with_balances
from .validation import AMOUNT, check_shape


def capture_hold(payment_id: str, body: object, request_settlement: RequestSettlement) -> Payment:
    """Ask for the capture of all of a hold, or `amount` of it (the rest is
    released), in the caller's transaction; settlement is asked for after
    its commit. Returns the hold, its capture requested."""
    (outcome,) = capture_holds([(payment_id, body)], request_settlement)
    if isinstance(outcome, ApiError):
        raise outcome
    return outcome


def capture_holds(
    requests: Sequence[tuple[str, object]],
    request_settlement: RequestSettlement,
    actings: Sequence[Acting] | None = None,
) -> list[Payment | ApiError]:
    """`capture_hold` for many requests (`(payment_id, body)`) that arrive
    together, in the caller's transaction: their holds locked in one
    statement, their balances and accounts read in one each, the captures
    stored in one. Each is judged, in order, by exactly the rules it would
    meet alone (a second capture of one hold is refused as if it came
    after). Returns each request's hold or the ApiError refusing it.
    `actings`: who sent each request, when they differ; else whoever is
    acting now. Settlement records each capture as theirs."""
    ids = sorted({payment_id for payment_id, _ in requests})
    holds = {p.id: p for p in lock_rows(Payment.select().where(among(Payment.id, ids)).order_by(Payment.id))}
    sides = {side for hold in holds.values() for side in (hold.from_balance_id, hold.to_balance_id)}
    balances = {balance.id: balance for balance in Balance.select().where(among(Balance.id, sorted(sides)))}
    inactive = inactive_accounts(balances.values())
    outcomes: list[Payment | ApiError] = []
    for (payment_id, body), acting in zip(requests, actings or [current()] * len(requests), strict=True):
        try:
            hold = _ask_capture(payment_id, holds.get(payment_id), body, balances, inactive)
            hold.capture_requested_by = acting_text(acting)
            outcomes.append(hold)
        except ApiError as refusal:
            outcomes.append(refusal)
    asked = [outcome for outcome in outcomes if isinstance(outcome, Payment)]
    if asked:
        with statement_batch() as batch:
            batch.update_rows(
                Payment,
                [
                    {
                        "id": p.id,
                        "capture_requested": p.capture_requested,
                        "capture_requested_by": p.capture_requested_by,
                    }
                    for p in asked
                ],
            )
        database.after_commit(request_settlement)
    return outcomes


def _ask_capture(
    payment_id: str, payment: Payment | None, body: object, balances: Mapping[str, Balance], inactive: Collection[str]
) -> Payment:
    data = check_shape({} if body is None else body, {"amount": AMOUNT})
    payment = _endable(payment_id, payment, "captured")
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
    refusal = capture_refusal(payment, amount, balances, inactive)
    if refusal is not None:
        raise refusal
    payment.capture_requested = amount
    return payment


def capture_refusal(
    payment: Payment, amount: int, balances: Mapping[str, Balance], inactive: Collection[str]
) -> ApiError | None:
    """Why capturing `amount` of the hold cannot settle with its balances as
    they are, or None: both sides must still send and receive (`inactive`:
    the inactive accounts among the balances'), and the receiver take what
    it gets."""
    source, target = balances[payment.from_balance_id], balances[payment.to_balance_id]
    for side in (source, target):
        if side.account_id in inactive:
            return ApiError(422, "account_inactive", f"account {side.account_id} is inactive")
    for side in (source, target):
        if not side.active:
            return ApiError(422, "balance_inactive", f"{side.account_id}'s {side.currency_id} balance is inactive")
    if not can_take(target, captured_target_amount(payment, amount) or amount):
        return ApiError(
            422, "limit_exceeded", f"{target.account_id}'s {target.currency_id} balance would pass its max_balance"
        )
    return None


def captured_target_amount(payment: Payment, amount: int) -> int | None:
    """For an exchange hold, what capturing `amount` of it delivers, at the
    rate its authorization fixed; None for a payment in one currency."""
    if payment.target_currency_id is None:
        return None
    source_currency, target_currency = exchange_pair(payment)
    return convert(amount, str(payment.rate), exponent_of(source_currency), exponent_of(target_currency))


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
    return _endable(payment_id, lock_rows(Payment.select().where(Payment.id == payment_id)).first(), action)


def _endable(payment_id: str, payment: Payment | None, action: str) -> Payment:
    """The locked payment if it is a hold that may still be ended now; else
    404, or 409 `invalid_state` with the status it is in."""
    if payment is None:
        raise not_found(f"payment {payment_id}")
    status = payment.status
    if status == AUTHORIZED and payment.hold_expires_at is not None and payment.hold_expires_at <= utcnow():
        status = EXPIRED
    if status == AUTHORIZED and payment.capture_requested is not None:
        raise ApiError(
            409,
            "invalid_state",
            f"payment {payment_id} is being captured: it cannot be {action}",
            status_now=status,
        )
    if status != AUTHORIZED:
        what = "a hold" if payment.capture == "manual" else "not a hold"
        raise ApiError(
            409,
            "invalid_state",
            f"payment {payment_id} is {what} and {status}: it cannot be {action}",
            status_now=status,
        )
    return payment
