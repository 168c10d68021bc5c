"""Summary tables: how many payments are in each status, how much completed
per currency and day, and how many customer balances each currency has,
kept exact in the transactions that change them, so the overview reads a
few rows however large the ledger.

Every change of a payment's status, and every balance opened, has its
event, written with the change (`models.event`); the same statement (or
transaction) adds the tallies' rows that the events say (`tally_rows`).
Each tally is a list of changes to a figure (a key and an amount to add);
a figure is the sum of its key's rows. Writers only ever add rows, so they
never wait on each other for a tally; `fold_tallies` now and then replaces
each key's rows by one row holding their sum, so a read sums a handful.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from functools import partial
from typing import Any

from peewee import BigAutoField, BigIntegerField, CharField, DateField, fn

from .account import SYSTEM_ACCOUNT
from .connection import BaseModel, database
from .dialect import MinorUnitsField, exact_sum
from .ledger import AUTHORIZED, COMPLETED, EXPIRED, FAILED, PENDING, VOIDED
from .retry import retried_transaction
from .rows import tuples


class PaymentStatusTally(BaseModel):
    """Changes to how many payments are in `status`."""

    id = BigAutoField()
    status = CharField(max_length=16)
    payments = BigIntegerField()


class PaymentVolumeTally(BaseModel):
    """Changes to how many payments created on `day` (UTC) in `currency`
    are completed, and their amount."""

    id = BigAutoField()
    currency = CharField(max_length=10, column_name="currency_id")
    day = DateField()
    payments = BigIntegerField()
    amount = MinorUnitsField()


class BalanceTally(BaseModel):
    """Changes to how many customer balances are in `currency`."""

    id = BigAutoField()
    currency = CharField(max_length=10, column_name="currency_id")
    balances = BigIntegerField()


# The status a payment leaves when its event says it reached another:
# captures (a hold's completion or failure) leave `authorized`, the rest
# `pending`; a payment is made `pending`.
_LEAVES = {"payment.authorized": PENDING, "payment.voided": AUTHORIZED, "payment.expired": AUTHORIZED}
_REACHES = {
    "payment.created": PENDING,
    "payment.authorized": AUTHORIZED,
    "payment.completed": COMPLETED,
    "payment.failed": FAILED,
    "payment.voided": VOIDED,
    "payment.expired": EXPIRED,
}


def tally_rows(events: Iterable[tuple[str, Any]]) -> list[tuple[type[BaseModel], list[dict]]]:
    """The tallies' rows that these events (type, data: the payment, balance
    or account as the change left it) add, one row per figure they change,
    as `(model, rows)` for `models.bulk.insert_rows`."""
    statuses: dict[str, int] = defaultdict(int)
    volume: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    balances: dict[str, int] = defaultdict(int)
    for event_type, data in events:
        data = getattr(data, "data", data)  # an `Encoded` event's dict
        reached = _REACHES.get(event_type)
        if reached is not None:
            statuses[reached] += 1
            if event_type != "payment.created":
                captured = event_type in ("payment.completed", "payment.failed") and data.get("authorized_amount")
                statuses[AUTHORIZED if captured else _LEAVES.get(event_type, PENDING)] -= 1
            if reached == COMPLETED:
                currency = data["currency"]
                moved = volume[(currency, date.fromisoformat(data["created_at"][:10]))]
                moved[0] += 1
                # An amount is written with exactly its currency's decimals
                # ("12.30" PHP, "15000" JPY): its digits are its minor units.
                moved[1] += int(data["amount"].replace(".", ""))
        elif event_type == "balance.created" and data["account"] != SYSTEM_ACCOUNT:
            balances[data["currency"]] += 1
        elif event_type == "account.created" and data["id"] != SYSTEM_ACCOUNT:
            for balance in data.get("balances", ()):
                balances[balance["currency"]] += 1
    return [
        (PaymentStatusTally, [{"status": s, "payments": n} for s, n in statuses.items() if n]),
        (
            PaymentVolumeTally,
            [{"currency": c, "day": d, "payments": n, "amount": a} for (c, d), (n, a) in volume.items()],
        ),
        (BalanceTally, [{"currency": c, "balances": n} for c, n in balances.items()]),
    ]


def payments_by_status() -> dict[str, int]:
    """How many payments are in each status that has any."""
    query = PaymentStatusTally.select(PaymentStatusTally.status, fn.SUM(PaymentStatusTally.payments)).group_by(
        PaymentStatusTally.status
    )
    return {status: int(n) for status, n in tuples(query) if n}


def completed_by_day(currency: str, first: date) -> dict[date, tuple[int, int]]:
    """(amount, payments) completed in `currency`, by UTC day of creation,
    from `first` on; days with none are left out."""
    query = (
        PaymentVolumeTally.select(
            PaymentVolumeTally.day, exact_sum(PaymentVolumeTally.amount), fn.SUM(PaymentVolumeTally.payments)
        )
        .where((PaymentVolumeTally.currency == currency) & (PaymentVolumeTally.day >= first))
        .group_by(PaymentVolumeTally.day)
    )
    # SQLite gives the day as text, PostgreSQL as a date.
    return {date.fromisoformat(str(day)[:10]): (int(total), int(n)) for day, total, n in tuples(query) if n}


def balances_by_currency() -> dict[str, int]:
    """How many customer balances each currency that has any has."""
    query = BalanceTally.select(BalanceTally.currency, fn.SUM(BalanceTally.balances)).group_by(BalanceTally.currency)
    return {code: int(n) for code, n in tuples(query) if n}


_FOLDED = (
    (PaymentStatusTally, ("status",), ("payments",)),
    (PaymentVolumeTally, ("currency", "day"), ("payments", "amount")),
    (BalanceTally, ("currency",), ("balances",)),
)


def fold_tallies() -> int:
    """Replace the rows of each key that has several by one holding their
    sum, each tally in a transaction of its own; returns how many rows went.
    The rows taken are exactly the ones deleted (DELETE ... RETURNING), so a
    change committed meanwhile is never lost, and readers see the sums
    before or after, never between."""
    gone = 0
    for model, keys, amounts in _FOLDED:
        gone += retried_transaction(partial(_fold, model, keys, amounts))
    return gone


def _fold(model: type[BaseModel], keys: tuple[str, ...], amounts: tuple[str, ...]) -> int:
    table = model._meta.table_name
    columns = [model._meta.fields[name].column_name for name in (*keys, *amounts)]
    key_list = ", ".join(f'"{c}"' for c in columns[: len(keys)])
    sql = (
        f'DELETE FROM "{table}" WHERE ({key_list}) IN'
        f' (SELECT {key_list} FROM "{table}" GROUP BY {key_list} HAVING count(*) > 1)'
        f" RETURNING " + ", ".join(f'"{c}"' for c in columns)
    )
    sums: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(amounts))
    gone = 0
    for row in database.execute_sql(sql):
        gone += 1
        total = sums[tuple(row[: len(keys)])]
        for n, value in enumerate(row[len(keys) :]):
            total[n] += int(value)
    if sums:
        model.insert_many(
            [
                {**dict(zip(keys, key, strict=True)), **dict(zip(amounts, total, strict=True))}
                for key, total in sums.items()
            ]
        ).execute()
    return gone - len(sums)
