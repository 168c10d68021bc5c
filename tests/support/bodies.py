"""Request bodies the refusal tests start from: a transfer or a deposit of 1.00, with any field changed."""

from __future__ import annotations


def transfer(sender: str, receiver: str, **changes) -> dict:
    return {"from_account": sender, "to_account": receiver, "amount": "1.00", **changes}


def cash(account_id: str, /, **changes) -> dict:
    return {"account": account_id, "currency": "PHP", "amount": "1.00", **changes}
