"""Reversals: money sent back from the receiver to the sender of a
completed transfer or exchange, all of it at once or in parts.

A payment may be reversed several times while its reversals that have not
failed sum to at most what it moved: its amount (what was captured, for a
hold), or for an exchange its target amount, which the receiver gives back
in the target currency. Each reversal is a payment of its own, linked both
ways: `reverses` on it; on the original `reversed_amount` (the sum of its
reversals that have not failed, in those units), `reversed_by` (the newest
of them) and `reversals`. A reversal that fails at settlement (the receiver
had spent the money) gives its share back to be reversed again.

An exchange is returned at its own rate: a reversal of `x` of its target
amount gives the sender `x * amount / target_amount`, rounded down, so that
rounding never creates money; the reversal that takes back the last of it
gives the sender exactly the rest of what the exchange took.
"""

from __future__ import annotations

from collections.abc import Iterable

from .account import Balance
from .currency import exponent_of
from .dialect import among, exact_sum, lock_rows
from .errors import ApiError, not_found
from .intake import Accepted, RequestSettlement, accept_one, check_description, check_usable, read_amount
from .ledger import COMPLETED, FAILED, REVERSIBLE_KINDS, Payment
from .money import format_amount
from .rows import tuples
from .validation import AMOUNT, check_shape

REVERSAL_FIELDS = {"amount": AMOUNT, "description": str, "reference": str}


def reversible(payment: Payment) -> int:
    """What reversals of `payment` may take back in all, in the units they
    count in (an exchange's target currency)."""
    if payment.target_currency_id is not None:
        return int(payment.target_amount or 0)
    return payment.captured_amount if payment.captured_amount is not None else payment.amount


def submit_reversal(payment_id: str, body: object, request_settlement: RequestSettlement) -> Accepted:
    """Accept a reversal of `amount` (all that is left when not given) of a
    completed transfer or exchange, in the caller's transaction. The
    original is locked first, so two requests to reverse one payment are
    taken one at a time and can never take back more than it moved: the
    second finds what the first took. Funds are checked at settlement, like
    any payment's."""
    data = check_shape({} if body is None else body, REVERSAL_FIELDS)
    check_description(data)
    original = lock_rows(Payment.select().where(Payment.id == payment_id)).first()
    if original is None:
        raise not_found(f"payment {payment_id}")
    if original.kind not in REVERSIBLE_KINDS:
        raise ApiError(422, "not_reversible", f"a {original.kind} cannot be reversed; only transfers and exchanges")
    if original.status != COMPLETED:
        raise ApiError(409, "payment_not_completed", f"payment {payment_id} is {original.status}, not completed")
    exchange = original.target_currency_id is not None
    unit = original.target_currency_id if exchange else original.currency_id
    assert unit is not None
    total, taken = reversible(original), original.reversed_amount
    remaining = total - taken
    if data.get("amount") is None:
        amount = remaining
    else:
        amount = read_amount(data["amount"], exponent_of(unit))
    if remaining <= 0:
        raise ApiError(422, "amount_exceeds_remaining", f"payment {payment_id} is reversed in full already")
    if amount > remaining:
        left = format_amount(remaining, exponent_of(unit))
        raise ApiError(
            422,
            "amount_exceeds_remaining",
            f"payment {payment_id} has {left} {unit} left to reverse",
            fields={"amount": f"must be at most {left}"},
        )
    source, target = Balance.get_by_id(original.to_balance_id), Balance.get_by_id(original.from_balance_id)
    for balance in (source, target):
        check_usable(balance)
    extra: dict[str, object] = {"reverses": original.id}
    if exchange:
        extra.update(target_amount=_returned(original, amount, taken), target_currency=original.currency_id)
    reversal = accept_one("reversal", source, target, amount, data, request_settlement, **extra)
    Payment.update(reversed_amount=taken + amount, reversed_by=reversal.id).where(Payment.id == original.id).execute()
    return reversal


def _returned(exchange: Payment, amount: int, taken: int) -> int:
    """What the sender of `exchange` gets back when `amount` more of its
    target amount is reversed, `taken` having been reversed before."""
    paid = exchange.captured_amount if exchange.captured_amount is not None else exchange.amount
    target_amount = reversible(exchange)
    if taken + amount == target_amount:
        returned_before = (
            Payment.select(exact_sum(Payment.target_amount))
            .where((Payment.reverses == exchange.id) & (Payment.status != FAILED))
            .scalar()
        )
        return paid - int(returned_before or 0)
    return amount * paid // target_amount


def recount_reversed(original_ids: Iterable[str | None]) -> None:
    """After reversals failed: each original's `reversed_amount` and
    `reversed_by` from its reversals that have not failed (call once their
    failures are written, in the same transaction)."""
    for original_id in sorted(i for i in original_ids if i):
        reversals = list(
            Payment.select(Payment.id, Payment.amount)
            .where((Payment.reverses == original_id) & (Payment.status != FAILED))
            .order_by(Payment.id)
        )
        Payment.update(
            reversed_amount=sum(r.amount for r in reversals), reversed_by=reversals[-1].id if reversals else None
        ).where(Payment.id == original_id).execute()


def reversal_ids(payment_ids: list[str]) -> dict[str, list[str]]:
    """The reversals of each payment, oldest first (one query)."""
    found: dict[str, list[str]] = {payment_id: [] for payment_id in payment_ids}
    if payment_ids:
        query = (
            Payment.select(Payment.id, Payment.reverses)
            .where(among(Payment.reverses, payment_ids))
            .order_by(Payment.id)
        )
        for reversal_id, original_id in tuples(query):
            found[original_id].append(reversal_id)
    return found
