"""What may change on a payment once it is made: its `description` and its
`metadata`, never what it moves."""

from __future__ import annotations

from .dialect import lock_rows
from .errors import invalid, not_found
from .event import record_event
from .intake import check_description
from .ledger import Payment, PaymentMetadata
from .metadata import check_metadata, metadata_of, metadata_text, payment_metadata_rows
from .peewee_internals import row_values
from .serialize import payment_json
from .validation import check_shape

PAYMENT_CHANGES: dict[str, object] = {"description": str, "metadata": dict}


def update_payment(payment_id: str, body: object) -> Payment:
    """Change a payment's description or metadata (merged: a key given null
    is removed), with a `payment.updated` event when anything changed. In
    the caller's transaction; the payment is locked first, so the event
    shows it as settlement left it."""
    data = check_shape(body, PAYMENT_CHANGES)
    if not data:
        raise invalid({"body": "give description or metadata"}, "invalid_request", 400)
    check_description(data)
    payment = next(iter(lock_rows(Payment.select().where(Payment.id == payment_id))), None)
    if payment is None:
        raise not_found(f"payment {payment_id}")
    changed = {}
    if "description" in data and data["description"] != payment.description:
        changed["description"] = data["description"]
    if data.get("metadata") is not None:
        metadata = metadata_text(check_metadata(data["metadata"], merged_into=metadata_of(payment.metadata)))
        if metadata != payment.metadata:
            changed["metadata"] = metadata
    if changed:
        Payment.update(changed).where(Payment.id == payment.id).execute()
        for name, value in changed.items():
            setattr(payment, name, value)
        if "metadata" in changed:
            PaymentMetadata.delete().where(PaymentMetadata.payment == payment.id).execute()
            rows = payment_metadata_rows([row_values(payment)])
            if rows:
                PaymentMetadata.insert_many(rows).execute()
        record_event("payment.updated", payment_json(payment))
    return payment
