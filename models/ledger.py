"""Payments and the ledger entries their settlement writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import BigAutoField, CharField, DateTimeField, ForeignKeyField

from .account import Account, Balance
from .connection import BaseModel, utcnow
from .currency import Currency
from .dialect import MinorUnitsField

PENDING, COMPLETED, FAILED = "pending", "completed", "failed"
DESCRIPTION_MAX_LENGTH = 500
KINDS = ("transfer", "deposit", "withdrawal", "exchange", "reversal")
REVERSIBLE_KINDS = ("transfer", "exchange")
STATUSES = (PENDING, COMPLETED, FAILED)
FAILURE_CODES = (
    "insufficient_funds",
    "account_inactive",
    "balance_inactive",
    "rate_unavailable",
    # The rate in force at settlement turns the amount into less than one
    # minor unit of the target currency, or more than an amount may be.
    "target_out_of_range",
)


class Payment(BaseModel):
    """The database keeps a payment's accounts and currency in agreement
    with its balances: (from_balance, from_account, currency) and
    (to_balance, to_account) are each a balance's (migration 0006)."""

    id = CharField(max_length=32, primary_key=True)
    kind = CharField(max_length=16)
    # Looked up by (status, created_at), below; see migration 0003.
    status = CharField(max_length=16, default=PENDING)
    failure_code = CharField(max_length=32, null=True)
    from_account = ForeignKeyField(Account, column_name="from_account", index=True)
    to_account = ForeignKeyField(Account, column_name="to_account", index=True)
    from_balance = ForeignKeyField(Balance, column_name="from_balance", index=False)
    to_balance = ForeignKeyField(Balance, column_name="to_balance", index=False)
    amount = MinorUnitsField()
    currency = ForeignKeyField(Currency, column_name="currency")
    target_amount = MinorUnitsField(null=True)
    target_currency = ForeignKeyField(Currency, column_name="target_currency", null=True)
    rate = CharField(max_length=64, null=True)  # exact decimal text
    description = CharField(max_length=DESCRIPTION_MAX_LENGTH, null=True)
    # At most one reversal that has not failed per payment: a partial unique
    # index (migration 0002), so a failed reversal can be tried again.
    reverses = ForeignKeyField("self", column_name="reverses", null=True, index=False)
    reversed_by = CharField(max_length=32, null=True)
    created_at = DateTimeField(default=utcnow, index=True)
    settled_at = DateTimeField(null=True)

    if TYPE_CHECKING:
        # The foreign keys' ids, as Peewee's accessors (made with the class)
        # give them; its stubs cannot declare them.
        from_account_id: str
        to_account_id: str
        from_balance_id: str
        to_balance_id: str
        currency_id: str
        target_currency_id: str | None
        reverses_id: str | None

    class Meta:
        indexes = ((("status", "created_at"), False),)


class Entry(BaseModel):
    """One line of a balance's statement. Never updated, never deleted."""

    id = BigAutoField()
    payment = ForeignKeyField(Payment, backref="entries", index=True)
    # Indexed by (balance, id), below, which lookups by balance use too.
    balance = ForeignKeyField(Balance, backref="entries", index=False)
    direction = CharField(max_length=8)
    amount = MinorUnitsField()
    balance_after = MinorUnitsField()
    created_at = DateTimeField(default=utcnow)

    if TYPE_CHECKING:
        # The foreign keys' ids, as Peewee's accessors (made with the class)
        # give them; its stubs cannot declare them.
        payment_id: str
        balance_id: str

    class Meta:
        indexes = ((("balance", "id"), False),)
