"""The invariant check (SPEC section 2), run on demand and after every
concurrency test.

Sums are exact (`exact_sum`) and compared in Python integers, so the audit
itself can never be wrong by rounding.
"""

from __future__ import annotations

from collections import defaultdict

from peewee import JOIN, fn
from prometheus_client import Gauge

from .account import SYSTEM_ACCOUNT, Balance
from .connection import utcnow
from .currency import exponent_of
from .dialect import exact_sum
from .funds import available, within_limits
from .ledger import AUTHORIZED, COMPLETED, Entry, Payment
from .money import format_amount
from .rows import tuples
from .serialize import iso

# For /metrics and the alert on a failing audit: what the last audit this
# process ran found (the workers run one every AUDIT_SECONDS).
AUDIT_PROBLEMS = Gauge("gateway_audit_problems", "Problems the last audit run by this process found (0: all good)")
AUDITED_AT = Gauge("gateway_audit_last_run_timestamp_seconds", "When this process last ran the audit (Unix time)")


def run_audit() -> dict:
    """Invariants 1-3 (and 4's entry count): per-currency totals are zero,
    each balance equals its entries, no customer balance's available amount
    is below its floor and each balance's `held` is what its open holds
    reserve, each completed payment has its entries and no other payment
    has any."""
    problems: list[dict] = []
    totals: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, int] = {}
    helds: dict[str, int] = {}
    for balance in Balance.select(
        Balance.id, Balance.account, Balance.currency, Balance.amount, Balance.held, Balance.min_balance
    ):
        amounts[balance.id], helds[balance.id] = balance.amount, balance.held
        currency = balance.currency_id
        totals[currency] += balance.amount
        counts[currency] += balance.account_id != SYSTEM_ACCOUNT
        if not within_limits(balance):
            exponent = exponent_of(currency)
            problems.append(
                _problem(
                    "below_min_balance",
                    f"{balance.account_id} {currency} balance has {format_amount(available(balance), exponent)}"
                    f" available, below its min_balance of {format_amount(balance.min_balance, exponent)}",
                    balance=balance.id,
                )
            )
    holds: dict[str, int] = defaultdict(int)
    for balance_id, total in tuples(
        Payment.select(Payment.from_balance, exact_sum(Payment.authorized_amount))
        .where(Payment.status == AUTHORIZED)
        .group_by(Payment.from_balance)
    ):
        holds[balance_id] = int(total)
    for balance_id, held in helds.items():
        if holds.get(balance_id, 0) != held:
            problems.append(
                _problem(
                    "held_mismatch",
                    f"balance {balance_id} holds {held} minor units but its open holds reserve {holds.get(balance_id, 0)}",
                    balance=balance_id,
                )
            )

    entry_sums: dict[str, int] = defaultdict(int)
    for balance_id, direction, total in tuples(
        Entry.select(Entry.balance, Entry.direction, exact_sum(Entry.amount)).group_by(Entry.balance, Entry.direction)
    ):
        entry_sums[balance_id] += int(total) if direction == "incoming" else -int(total)
    for balance_id, amount in amounts.items():
        if entry_sums.get(balance_id, 0) != amount:
            problems.append(
                _problem(
                    "balance_mismatch",
                    f"balance {balance_id} is {amount} minor units but its entries sum to {entry_sums.get(balance_id, 0)}",
                    balance=balance_id,
                )
            )

    entry_counts = Entry.select(Entry.payment, fn.COUNT(Entry.id).alias("n")).group_by(Entry.payment)
    for payment_id, target_currency, status, n in tuples(
        Payment.select(Payment.id, Payment.target_currency, Payment.status, entry_counts.c.n).join(
            entry_counts, on=(entry_counts.c.payment_id == Payment.id)
        )
    ):
        # Exchanges (and their reversals) pass through two @system balances.
        want = (4 if target_currency else 2) if status == COMPLETED else 0
        if n != want:
            problems.append(
                _problem(
                    "entry_count", f"{status} payment {payment_id} has {n} entries, expected {want}", payment=payment_id
                )
            )
    missing = tuples(
        Payment.select(Payment.id)
        .join(Entry, on=(Entry.payment == Payment.id), join_type=JOIN.LEFT_OUTER)
        .where((Payment.status == COMPLETED) & Entry.id.is_null())
    )
    for (payment_id,) in missing:
        problems.append(_problem("entry_count", f"completed payment {payment_id} has no entries", payment=payment_id))

    currencies = [
        {
            "currency": code,
            "balances": counts[code],
            "total": format_amount(totals[code], exponent_of(code)),
            "ok": totals[code] == 0,
        }
        for code in sorted(totals)
        if counts[code] or totals[code]
    ]
    for row in currencies:
        if not row["ok"]:
            problems.append(
                _problem(
                    "currency_not_zero",
                    f"{row['currency']} balances sum to {row['total']}, not zero",
                    currency=row["currency"],
                )
            )
    AUDIT_PROBLEMS.set(len(problems))
    AUDITED_AT.set_to_current_time()
    return {"ok": not problems, "checked_at": iso(utcnow()), "currencies": currencies, "problems": problems}


def _problem(code: str, message: str, **where: object) -> dict:
    return {"code": code, "message": message, **where}
