"""What both audits (`models.audit`, since the last checkpoint, and
`models.audit_full`, the whole ledger) judge the same way: a balance
against its entries, its floor and its open holds, the problems found, and
the answer."""

from __future__ import annotations

from dataclasses import dataclass

from .connection import utcnow
from .currency import exponent_of
from .funds import available, within_limits
from .money import format_amount
from .serialize import iso

# Problems listed in one answer; a ledger that broken needs people, not a longer list.
MAX_LISTED = 1000


@dataclass(slots=True)
class BalanceRow:
    """The columns of a balance the audit looks at (what `funds` reads)."""

    id: str
    account_id: str
    currency_id: str
    amount: int
    held: int
    min_balance: int
    max_balance: int | None = None


class Problems:
    """The problems an audit finds, the first MAX_LISTED of them kept, all
    of them counted."""

    def __init__(self) -> None:
        self.listed: list[dict] = []
        self.found = 0

    def add(self, code: str, message: str, **where: object) -> None:
        self.found += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append({"code": code, "message": message, **where})


def check_balance(balance: BalanceRow, entries_make: int, reserved: int | None, problems: Problems) -> None:
    """The balance is what its entries make, its available amount is not
    below its floor (customers only), and its `held` is what its open holds
    reserve (unless `reserved` is None: not looked at)."""
    if balance.amount != entries_make:
        problems.add(
            "balance_mismatch",
            f"balance {balance.id} is {balance.amount} minor units but its entries make {entries_make}",
            balance=balance.id,
        )
    if not within_limits(balance):
        exponent = exponent_of(balance.currency_id)
        problems.add(
            "below_min_balance",
            f"{balance.account_id} {balance.currency_id} balance has"
            f" {format_amount(available(balance), exponent)} available,"
            f" below its min_balance of {format_amount(balance.min_balance, exponent)}",
            balance=balance.id,
        )
    if reserved is not None and balance.held != reserved:
        problems.add(
            "held_mismatch",
            f"balance {balance.id} holds {balance.held} minor units but its open holds reserve {reserved}",
            balance=balance.id,
        )


def report(currencies: dict[str, tuple[int, int]], problems: Problems) -> dict:
    """The audit's answer: per currency (code: (customer balances, what the
    balances checked sum to)), whether it is zero; the problems."""
    rows = [
        {
            "currency": code,
            "balances": balances,
            "total": format_amount(total, exponent_of(code)),
            "ok": total == 0,
        }
        for code, (balances, total) in currencies.items()
    ]
    for row in rows:
        if not row["ok"]:
            problems.add(
                "currency_not_zero",
                f"{row['currency']} balances sum to {row['total']}, not zero",
                currency=row["currency"],
            )
    return {
        "ok": problems.found == 0,
        "checked_at": iso(utcnow()),
        "currencies": rows,
        "problems": problems.listed,
        "problems_found": problems.found,
    }
