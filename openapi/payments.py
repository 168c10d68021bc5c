"""The document's parts for what follows a payment's intake: holds (capture
and void), reversals whole or in part, and payment groups."""

from __future__ import annotations

from models.groups import MAX_ATOMIC_PAYMENTS, MAX_PAYMENTS
from web.protocol import MAX_GROUP_BODY_BYTES

from .builders import operation, payment_accepted, success
from .components import CODE, DESCRIPTION, TERMS, TIME, account_ref, closed, nullable, ref, request, text

HOLD_ERRORS = ("not_found", "validation_error", "invalid_state")


def payment_operations() -> list[tuple[str, str, dict]]:
    return [
        operation(
            "post",
            "/api/v1/payments/{payment_id}/capture",
            "capturePayment",
            "Holds",
            "Capture a hold, all or part",
            "write",
            {
                "202": success(
                    "Capture accepted: the hold, still `authorized`, with `capture_requested`; the workers settle it.",
                    "PaymentWithEntries",
                    "Preference-Applied",
                ),
                "200": success(
                    "Settled within `Prefer: wait` (`completed` with `captured_amount` and its entries, or `failed`), "
                    "or a replay of an earlier request with the same Idempotency-Key, in its current state.",
                    "PaymentWithEntries",
                    "Preference-Applied",
                    "Idempotent-Replayed",
                ),
            },
            description=(
                "Asks for the capture of all of an `authorized` hold's amount, or `amount` of it; the workers "
                "settle it as a payment: entries, the `payment.completed` event with `captured_amount`, the rest "
                "released. Until then the hold shows `capture_requested`. Exactly one capture, void or expiry ends "
                "a hold, however they race: once a capture is accepted, it has won, and the others get 409 "
                "`invalid_state` with the status it is in. A hold past `hold_expires_at` has expired. The "
                "receiver is checked at once: an inactive account or balance is 422 `account_inactive` or "
                "`balance_inactive`, a capture that would take it above its `max_balance` 422 `limit_exceeded`, "
                "and the hold stays authorized; should that change before the capture settles, it fails with "
                "that code and the hold is released. An exchange is captured at the rate its authorization "
                "fixed. With `Prefer: wait` the answer comes once the capture settled (200)."
            ),
            parameters=("PaymentId", "PreferWait"),
            body="HoldCapture",
            body_required=False,
            errors=(*HOLD_ERRORS, "amount_exceeds_hold", "account_inactive", "balance_inactive", "limit_exceeded"),
        ),
        operation(
            "post",
            "/api/v1/payments/{payment_id}/void",
            "voidPayment",
            "Holds",
            "Void a hold",
            "write",
            _ended("The voided payment: `voided`; nothing moved, and the hold is released."),
            description=(
                "Releases all of an `authorized` hold (`payment.voided`). Exactly one capture, void or expiry ends "
                "a hold: the others get 409 `invalid_state` with the status it is in."
            ),
            parameters=("PaymentId", "PreferWait"),
            body="HoldVoid",
            body_required=False,
            errors=HOLD_ERRORS,
        ),
        operation(
            "post",
            "/api/v1/payments/{payment_id}/reverse",
            "reversePayment",
            "Payments",
            "Reverse a completed transfer or exchange, all or part",
            "admin",
            payment_accepted(),
            description=(
                "Creates a `reversal` payment that sends money back: the receiver pays the sender. Without "
                "`amount`, all that is left to reverse; with it, that much. A payment may be reversed several "
                "times while its reversals that have not failed sum to at most its amount (for an exchange, its "
                "target amount): more is 422 `amount_exceeds_remaining`, also when two requests race. An exchange "
                "goes back at its own rate: the receiver gives back part of `target_amount` and the sender gets "
                "back that share of `amount`, rounded down, the last reversal returning exactly the rest. The "
                "payment shows `reversed_amount`, `reversed_by` and `reversals`. Funds are checked at "
                "settlement: when the receiver has spent the money the reversal fails with `insufficient_funds`, "
                "and its share may be reversed again. Only transfers and exchanges are reversible (422 "
                "`not_reversible`), only once completed (409 `payment_not_completed`). The body is optional."
            ),
            parameters=("PaymentId",),
            body="NewReversal",
            body_required=False,
            creates_payment=True,
            errors=(
                "not_found",
                "validation_error",
                "not_reversible",
                "payment_not_completed",
                "amount_exceeds_remaining",
                "account_inactive",
                "balance_inactive",
            ),
        ),
        operation(
            "post",
            "/api/v1/payment-groups",
            "createPaymentGroup",
            "Payment groups",
            "Send payments together",
            "write",
            {
                "202": success(
                    "Accepted: the group and its payments, `pending`.", "PaymentGroup", "Preference-Applied"
                ),
                "201": success(
                    "Over within `Prefer: wait`: `completed` or `failed`.", "PaymentGroup", "Preference-Applied"
                ),
                "200": success(
                    "Replay of an earlier request with the same Idempotency-Key, in its current state.",
                    "PaymentGroup",
                    "Idempotent-Replayed",
                    "Preference-Applied",
                ),
            },
            description=(
                f"Transfers (or exchanges) sent in one request. `atomic: true` (1 to {MAX_ATOMIC_PAYMENTS}): they "
                "settle together or not at all; if any cannot, each fails with its own code or `group_failed`, and "
                f"no entry is written. `atomic: false` (1 to {MAX_PAYMENTS}): each settles on its own. The whole "
                "request is judged first by the rules each payment would meet alone: if any is refused, nothing "
                "is stored and `fields` names it (`payments[3].amount`). The group is `pending` until every "
                "payment is final, then `completed` (for an atomic group: all completed), or `failed` (an atomic "
                "group that could not settle): events `payment_group.completed` and `payment_group.failed`. Its "
                f"body may be up to {MAX_GROUP_BODY_BYTES} bytes."
            ),
            body="NewPaymentGroup",
            creates_payment=True,
            errors=(
                "validation_error",
                "unknown_currency",
                "currency_mismatch",
                "account_inactive",
                "balance_inactive",
            ),
        ),
        operation(
            "get",
            "/api/v1/payment-groups/{group_id}",
            "getPaymentGroup",
            "Payment groups",
            "Get a payment group",
            "read",
            {"200": success("The group with its payments, in the order they were sent.", "PaymentGroup")},
            parameters=("GroupId",),
            errors=("not_found",),
        ),
    ]


def _ended(description: str) -> dict:
    return {
        "200": success(description, "PaymentWithEntries", "Preference-Applied", "Idempotent-Replayed"),
    }


def payment_schemas() -> dict:
    group_payment = {
        "from_account": account_ref("Paying account id."),
        "to_account": account_ref("Receiving account id.", "alice456"),
        "amount": ref("AmountInput"),
        "currency": {**CODE, "description": "Omit when the sender holds exactly one active balance."},
        "to_currency": {**CODE, "description": "The receiver's currency, for an exchange."},
        "description": DESCRIPTION,
        "reference": TERMS["reference"],
    }
    return {
        "HoldCapture": request(
            {"amount": {**ref("AmountInput"), "description": "How much to capture; all of the hold when omitted."}},
            optional=("amount",),
        ),
        "HoldVoid": closed({}, description="An empty object, or no body."),
        "NewReversal": request(
            {
                "amount": {
                    **ref("AmountInput"),
                    "description": "How much to send back (for an exchange, of its target amount); all that is left when omitted.",
                },
                "description": DESCRIPTION,
                "reference": TERMS["reference"],
            },
            optional=("amount", "description", "reference"),
        ),
        "NewPaymentGroup": request(
            {
                "atomic": {
                    "type": "boolean",
                    "description": "All or nothing (at most 50 payments), or each on its own.",
                },
                "payments": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_PAYMENTS,
                    "items": request(group_payment, optional=("currency", "to_currency", "description", "reference")),
                },
                "settle_by": {**TIME, "description": "Payments still pending then fail `deadline_exceeded`."},
            },
            optional=("settle_by",),
        ),
        "PaymentGroup": closed(
            {
                "id": text("Group id.", examples=["grp_01JD3ZK6Q8W6V2X3Y4Z5A6B7C8"]),
                "atomic": {"type": "boolean"},
                "status": {"type": "string", "enum": ["pending", "completed", "failed"]},
                "size": {"type": "integer", "description": "How many payments it holds."},
                "completed": {"type": "integer", "description": "How many completed so far."},
                "failed": {"type": "integer", "description": "How many failed so far."},
                "settle_by": nullable(TIME),
                "created_at": TIME,
                "settled_at": nullable(TIME),
                "payments": {"type": "array", "items": ref("Payment"), "description": "In the order they were sent."},
            },
            optional=("payments",),
        ),
    }
