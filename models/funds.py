"""What a balance can pay and what it can take, the rules every money
movement checks: settlement, the authorization and capture of holds, and
the audit.

A balance's `amount` is what its entries sum to; `held` is what its open
holds reserve; `available` is `amount - held`, and it is what a payment may
spend. A customer's `available` may never go below its `min_balance` (0, or
a negative credit line), nor may a payment take its `amount` above its
`max_balance` when it has one. A cap set below what a balance holds only
stops further income: nothing is taken away. `@system` has no limits.
"""

from __future__ import annotations

from typing import Protocol

SYSTEM_ACCOUNT = "@system"


class Funds(Protocol):
    account_id: str
    amount: int
    held: int
    min_balance: int
    max_balance: int | None


def available(balance: Funds) -> int:
    """What the balance may spend now (before its credit line)."""
    return balance.amount - balance.held


def can_pay(balance: Funds, amount: int) -> bool:
    """Whether the balance may pay out, or reserve, `amount` more."""
    return balance.account_id == SYSTEM_ACCOUNT or available(balance) - amount >= balance.min_balance


def can_take(balance: Funds, amount: int) -> bool:
    """Whether the balance may receive `amount` more."""
    if balance.account_id == SYSTEM_ACCOUNT or balance.max_balance is None:
        return True
    return balance.amount + amount <= balance.max_balance


def within_limits(balance: Funds) -> bool:
    """The invariant: a customer's `available` is not below its `min_balance`."""
    return balance.account_id == SYSTEM_ACCOUNT or available(balance) >= balance.min_balance
