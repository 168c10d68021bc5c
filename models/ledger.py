"""Payments and the ledger entries their settlement writes."""

from __future__ import annotations

from peewee import BigAutoField, CharField, DateTimeField, ForeignKeyField

from .account import Account, Balance
from .currency import Currency
from .db import BaseModel, MinorUnitsField, utcnow

PENDING, COMPLETED, FAILED = "pending", "completed", "failed"
KINDS = ("transfer", "deposit", "withdrawal", "exchange", "reversal")
STATUSES = (PENDING, COMPLETED, FAILED)
FAILURE_CODES = ("insufficient_funds", "account_inactive", "balance_inactive", "rate_unavailable")


class Payment(BaseModel):
    id = CharField(max_length=32, primary_key=True)
    kind = CharField(max_length=16)
    status = CharField(max_length=16, default=PENDING, index=True)
    failure_code = CharField(max_length=32, null=True)
    from_account = ForeignKeyField(Account, column_name="from_account", index=True)
    to_account = ForeignKeyField(Account, column_name="to_account", index=True)
    from_balance = ForeignKeyField(Balance, column_name="from_balance")
    to_balance = ForeignKeyField(Balance, column_name="to_balance")
    amount = MinorUnitsField()
    currency = ForeignKeyField(Currency, column_name="currency")
    target_amount = MinorUnitsField(null=True)
    target_currency = ForeignKeyField(Currency, column_name="target_currency", null=True)
    rate = CharField(max_length=64, null=True)  # exact decimal text
    description = CharField(max_length=500, null=True)
    reverses = ForeignKeyField("self", column_name="reverses", null=True, unique=True)
    reversed_by = CharField(max_length=32, null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    settled_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "created_at"), False),)


class Entry(BaseModel):
    """One line of a balance's statement. Never updated, never deleted."""

    id = BigAutoField()
    payment = ForeignKeyField(Payment, backref="entries", index=True)
    balance = ForeignKeyField(Balance, backref="entries")
    direction = CharField(max_length=8)
    amount = MinorUnitsField()
    balance_after = MinorUnitsField()
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("balance", "id"), False),)
