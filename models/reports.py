"""Figures for the operator's overview: what customers hold, how many
payments are in each state, and how much money moved per day.

One query per figure, aggregated in SQL, so the overview costs the same with
ten payments or ten million. Amounts are summed with `exact_sum` (never
compared in SQL) and leave as exact decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from peewee import fn

from .account import SYSTEM_ACCOUNT, Balance
from .connection import utcnow
from .dialect import exact_sum
from .ledger import COMPLETED, STATUSES, Payment
from .rows import tuples
from .serialize import money


def customer_funds() -> list[dict]:
    """Per currency that customers hold: the sum of their balances and how
    many balances there are, by currency code. `@system` is left out: its
    balance is the mirror image (money that came in from outside)."""
    rows = tuples(
        Balance.select(Balance.currency, exact_sum(Balance.amount).alias("total"), fn.COUNT(Balance.id).alias("n"))
        .where(Balance.account != SYSTEM_ACCOUNT)
        .group_by(Balance.currency)
        .order_by(Balance.currency)
    )
    return [{"currency": code, "total": money(int(total), code), "balances": n} for code, total, n in rows]


def currencies_in_use() -> list[str]:
    """The codes of the currencies some customer holds a balance in, by
    code: what it makes sense to filter or pay in."""
    query = Balance.select(Balance.currency).where(Balance.account != SYSTEM_ACCOUNT).distinct()
    return sorted(code for (code,) in tuples(query))


def payments_per_status() -> dict[str, int]:
    """How many payments are pending, completed and failed (every status
    present, zero when there are none)."""
    counts: dict[str, int] = dict(tuples(Payment.select(Payment.status, fn.COUNT(Payment.id)).group_by(Payment.status)))
    return {status: counts.get(status, 0) for status in STATUSES}


def daily_volume(currency: str, days: int = 30, today: date | None = None) -> list[dict]:
    """The money moved by completed payments in `currency` (their source
    amount, whatever the kind) on each of the last `days` days, oldest first,
    in UTC. Every day is listed, with zero when nothing moved."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    day = fn.DATE(Payment.created_at)
    rows = tuples(
        Payment.select(day.alias("day"), exact_sum(Payment.amount).alias("total"), fn.COUNT(Payment.id).alias("n"))
        .where(
            (Payment.status == COMPLETED)
            & (Payment.created_at >= datetime.combine(first, datetime.min.time()))
            & (Payment.currency == currency)
        )
        .group_by(day)
    )
    # SQLite gives the day as text, PostgreSQL as a date.
    found = {date.fromisoformat(str(when)[:10]): (int(total), n) for when, total, n in rows}
    volume = []
    for offset in range(days):
        when = first + timedelta(days=offset)
        total, count = found.get(when, (0, 0))
        volume.append({"day": when.isoformat(), "total": money(total, currency), "minor": total, "payments": count})
    return volume
