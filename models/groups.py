"""Payment groups: payments sent in one request, such as a payment and its
fee, a split, or a bulk payout.

`atomic: true` (at most 50 payments): they settle together or not at all,
in one transaction (`models.settlement`). `atomic: false` (up to 1,000):
each settles on its own, as if sent alone. Either way the whole request is
judged first, by the rules each payment would meet alone: if any payment
is refused, none is stored and the refusal names it (`payments[3].amount`).

A group is `pending` until each of its payments is final; then `completed`
(for an atomic group, all completed; for another, each completed or failed
on its own) or, for an atomic group that could not settle, `failed`, with
the event `payment_group.completed` or `payment_group.failed`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from .connection import database, utcnow
from .dialect import lock_rows
from .errors import ApiError, invalid, not_found
from .event import Encoded, record_event, record_events
from .ids import new_id
from .intake import (
    TRANSFER_FIELDS,
    Accepted,
    Lookups,
    RequestSettlement,
    check_description,
    check_payment_metadata,
    judge_transfer,
)
from .ledger import COMPLETED, FAILED, PENDING, Payment, PaymentGroup, PaymentMetadata
from .metadata import payment_metadata_rows
from .peewee_internals import row_values
from .serialize import group_json
from .terms import parse_moment
from .validation import check_shape

MAX_PAYMENTS = 1000
MAX_ATOMIC_PAYMENTS = 50
# A payment of a group is a transfer (or an exchange) with a reference;
# holds and deadlines are the group's, not its payments'.
GROUP_PAYMENT_FIELDS = {
    name: kind for name, kind in TRANSFER_FIELDS.items() if name not in ("capture", "hold_expires_in", "settle_by")
}


def submit_group(body: object, request_settlement: RequestSettlement) -> tuple[PaymentGroup, list[Accepted]]:
    """Accept a group of transfers, in the caller's transaction: every one of
    them, or none (422 naming each refused payment's fields)."""
    data = check_shape(body, {"atomic": bool, "payments": list, "settle_by": str}, required=("atomic", "payments"))
    payments, atomic = data["payments"], data["atomic"]
    limit = MAX_ATOMIC_PAYMENTS if atomic else MAX_PAYMENTS
    if not 1 <= len(payments) <= limit:
        kind = "an atomic group" if atomic else "a group"
        raise invalid({"payments": f"{kind} holds 1 to {limit} payments"})
    now = utcnow()
    settle_by = None
    if data.get("settle_by") is not None:
        settle_by = parse_moment(data["settle_by"])
        if settle_by is None or settle_by <= now:
            raise invalid({"settle_by": "must be an RFC 3339 time with its offset, in the future"})
    shaped = [_shape(index, item) for index, item in enumerate(payments)]
    lookups = Lookups(shaped)
    group = PaymentGroup(
        id=new_id("grp"),
        atomic=atomic,
        status=PENDING,
        size=len(shaped),
        unsettled=len(shaped),
        settle_by=settle_by,
        created_at=now,
    )
    # Ids in the order the payments were sent, so that order by id is theirs.
    ids = sorted(new_id("pay") for _ in shaped)
    accepted, problems = [], {}
    for index, item in enumerate(shaped):
        terms = {**item, "settle_by": data.get("settle_by")}
        try:
            payment = judge_transfer(terms, lookups, now)
        except ApiError as refusal:
            for field, problem in (refusal.fields or {"": f"{refusal.code}: {refusal.message}"}).items():
                problems[f"payments[{index}]" + (f".{field}" if field else "")] = problem
            continue
        row_values(payment).update(id=ids[index], group=group.id, in_atomic_group=atomic)
        accepted.append(Accepted.of(payment))
    if problems:
        raise invalid(problems)
    group.save(force_insert=True)
    events: list[tuple[str, dict | Encoded]] = [("payment.created", made.created) for made in accepted]
    values = [row_values(made.payment) for made in accepted]
    record_events(events, (Payment, values), (PaymentMetadata, payment_metadata_rows(values)), at=now)
    database.after_commit(request_settlement)
    return group, accepted


def _shape(index: int, item: object) -> dict:
    try:
        data = check_shape(item, GROUP_PAYMENT_FIELDS, required=("from_account", "to_account", "amount"))
        check_description(data)
        check_payment_metadata(data)
    except ApiError as refusal:
        fields = {f"payments[{index}].{name}": problem for name, problem in (refusal.fields or {}).items()}
        raise ApiError(refusal.status, refusal.code, refusal.message, fields=fields) from None
    return data


def group_detail(group_id: str) -> dict:
    """A group with its payments, in the order they were sent."""
    group = PaymentGroup.get_or_none(PaymentGroup.id == group_id)
    if group is None:
        raise not_found(f"payment group {group_id}")
    payments = Payment.select().where(Payment.group == group.id).order_by(Payment.id)
    return group_json(group, payments)


def count_outcomes(payments: Iterable[Payment], now: datetime) -> None:
    """Count payments that have just become final into their groups; a
    group whose payments are all final is over, with its event. Call in the
    transaction that made them final. Groups are locked in id order, after
    the balances settlement locks, so no two transactions wait in a cycle."""
    outcomes: dict[str, Counter[str]] = {}
    for payment in payments:
        if payment.group_id is not None and payment.status in (COMPLETED, FAILED):
            outcomes.setdefault(payment.group_id, Counter())[payment.status] += 1
    if not outcomes:
        return
    query = PaymentGroup.select().where(PaymentGroup.id.in_(sorted(outcomes))).order_by(PaymentGroup.id)
    for group in lock_rows(query):
        counted = outcomes[group.id]
        group.completed += counted[COMPLETED]
        group.failed += counted[FAILED]
        group.unsettled -= counted[COMPLETED] + counted[FAILED]
        if group.unsettled == 0:
            group.status = FAILED if group.atomic and group.failed else COMPLETED
            group.settled_at = now
            record_event(f"payment_group.{group.status}", group_json(group))
        group.save()
