"""Figures for the operator's overview: what customers hold, how many
payments are in each state, and how much money moved per day.

Each is read from the summary tables (`models.summaries`), kept exact in the
transactions that change the ledger, and from the `@system` balances, so
the overview costs the same with ten payments or a hundred million.
Amounts leave as exact decimal strings.
"""

from __future__ import annotations

from datetime import date, timedelta

from .account import SYSTEM_ACCOUNT, Balance
from .connection import utcnow
from .dialect import among
from .ledger import STATUSES
from .rows import tuples
from .serialize import money
from .summaries import balances_by_currency, completed_by_day, payments_by_status


def customer_funds() -> list[dict]:
    """Per currency that customers hold: the sum of their balances and how
    many balances there are, by currency code. What customers hold is the
    mirror image of the currency's `@system` balance (every currency's
    balances sum to zero, SPEC invariant 1, which the audit checks), so it
    is read from that one row, not summed over every balance."""
    counts = balances_by_currency()
    if not counts:
        return []
    system = dict(
        tuples(
            Balance.select(Balance.currency, Balance.amount).where(
                (Balance.account == SYSTEM_ACCOUNT) & among(Balance.currency, sorted(counts))
            )
        )
    )
    return [
        {"currency": code, "total": money(-int(system.get(code) or 0), code), "balances": counts[code]}
        for code in sorted(counts)
    ]


def currencies_in_use() -> list[str]:
    """The codes of the currencies some customer holds a balance in, by
    code: what it makes sense to filter or pay in."""
    return sorted(balances_by_currency())


def payments_per_status() -> dict[str, int]:
    """How many payments are in each status (every status present, zero
    when there are none)."""
    counts = payments_by_status()
    return {status: counts.get(status, 0) for status in STATUSES}


def daily_volume(currency: str, days: int = 30, today: date | None = None) -> list[dict]:
    """The money moved by completed payments in `currency` (their source
    amount, whatever the kind) on each of the last `days` days, oldest first,
    in UTC, by the day each payment was made. Every day is listed, with zero
    when nothing moved."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    found = completed_by_day(currency, first)
    volume = []
    for offset in range(days):
        when = first + timedelta(days=offset)
        total, count = found.get(when, (0, 0))
        volume.append({"day": when.isoformat(), "total": money(total, currency), "minor": total, "payments": count})
    return volume
