"""Payments and the ledger entries their settlement writes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import (
    BigAutoField,
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from .account import Account, Balance
from .connection import BaseModel, utcnow
from .currency import Currency
from .dialect import MinorUnitsField

PENDING, AUTHORIZED = "pending", "authorized"
COMPLETED, FAILED, VOIDED, EXPIRED = "completed", "failed", "voided", "expired"
STATUSES = (PENDING, AUTHORIZED, COMPLETED, FAILED, VOIDED, EXPIRED)
FINAL_STATUSES = (COMPLETED, FAILED, VOIDED, EXPIRED)
# A payment captured at settlement, or a hold: authorized at settlement and
# captured (or voided, or left to expire) later.
AUTOMATIC, MANUAL = "automatic", "manual"
CAPTURES = (AUTOMATIC, MANUAL)
DESCRIPTION_MAX_LENGTH = 500
REFERENCE_MAX_LENGTH = 128
KINDS = ("transfer", "deposit", "withdrawal", "exchange", "reversal")
REVERSIBLE_KINDS = ("transfer", "exchange")
# The kinds that may be created as holds.
HOLD_KINDS = ("transfer", "exchange", "withdrawal")
FAILURE_CODES = (
    "insufficient_funds",
    "account_inactive",
    "balance_inactive",
    "rate_unavailable",
    # The rate in force at settlement turns the amount into less than one
    # minor unit of the target currency, or more than an amount may be.
    "target_out_of_range",
    # The receiver's balance would go above its max_balance.
    "limit_exceeded",
    # Still pending at its settle_by.
    "deadline_exceeded",
    # In an atomic group another payment of which could not settle.
    "group_failed",
)


class PaymentGroup(BaseModel):
    """Payments sent together: an atomic group settles all or none of them,
    any other each on its own. Its counts follow its payments' outcomes."""

    id = CharField(max_length=32, primary_key=True)
    atomic = BooleanField()
    # pending until every payment is final; then completed, or failed for an
    # atomic group that could not settle.
    status = CharField(max_length=16, default=PENDING)
    size = IntegerField()
    unsettled = IntegerField()
    completed = IntegerField(default=0)
    failed = IntegerField(default=0)
    settle_by = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    settled_at = DateTimeField(null=True)


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
    # Indexed by (reference, id) where set (migration 0009).
    reference = CharField(max_length=REFERENCE_MAX_LENGTH, null=True)
    # JSON text; each key once more in PaymentMetadata, which lists filter by.
    metadata = TextField(null=True)
    # Who sent it (`models.actors`, JSON text; null: the system).
    created_by = TextField(null=True)
    # A reversal names what it reverses (indexed where set, migration 0007);
    # the reversed payment names its newest reversal that has not failed and
    # keeps the sum of those (in the units a reversal counts in: an
    # exchange's target currency).
    reverses = ForeignKeyField("self", column_name="reverses", null=True, index=False)
    reversed_by = CharField(max_length=32, null=True)
    reversed_amount = MinorUnitsField(default=0)
    capture = CharField(max_length=16, default=AUTOMATIC)
    authorized_amount = MinorUnitsField(null=True)
    captured_amount = MinorUnitsField(null=True)
    # A capture asked for and not yet settled: the amount it captures. The
    # workers find these through a partial index (migration 0011).
    capture_requested = MinorUnitsField(null=True)
    capture_requested_by = TextField(null=True)  # who asked (models.actors.acting_text)
    # Partial indexes (migration 0007) find what is overdue: holds past
    # hold_expires_at, pending payments past settle_by.
    hold_expires_at = DateTimeField(null=True)
    settle_by = DateTimeField(null=True)
    group = ForeignKeyField(PaymentGroup, column_name="group_id", null=True, index=False)
    # Settled only with the rest of its group, never claimed on its own.
    in_atomic_group = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow, index=True)
    settled_at = DateTimeField(null=True)
    # The request that sent it (X-Request-Id): every log line of its life
    # carries it (migration 0014).
    request_id = CharField(max_length=64, null=True)

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
        group_id: str | None

    class Meta:
        indexes = ((("status", "created_at"), False),)


class PaymentMetadata(BaseModel):
    """One key of a payment's metadata, found by (key, value) newest first."""

    payment = ForeignKeyField(Payment, column_name="payment_id", index=False)
    key = CharField(max_length=40)
    value = CharField(max_length=500)

    class Meta:
        primary_key = CompositeKey("payment", "key")


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
