"""The ledger's tables, frozen as they were first created."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import (
    AutoField,
    BigAutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from models.dialect import MinorUnitsField

if TYPE_CHECKING:
    from peewee import Database
    from playhouse.migrate import SchemaMigrator


def up(migrator: SchemaMigrator, db: Database) -> None:
    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class Currency(Base):
        code = CharField(max_length=10, primary_key=True)
        name = CharField(max_length=100)
        exponent = IntegerField()
        active = BooleanField(default=True)
        custom = BooleanField(default=False)
        created_at = DateTimeField()

    class Account(Base):
        id = CharField(max_length=64, primary_key=True)
        owner = CharField(max_length=200)
        email = CharField(max_length=254, null=True)
        active = BooleanField(default=True)
        created_at = DateTimeField(index=True)
        updated_at = DateTimeField()

    class Balance(Base):
        id = CharField(max_length=32, primary_key=True)
        account = ForeignKeyField(Account, on_delete="RESTRICT")
        currency = ForeignKeyField(Currency, on_delete="RESTRICT")
        amount = MinorUnitsField(default=0)
        active = BooleanField(default=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            indexes = ((("account", "currency"), True),)

    class Payment(Base):
        id = CharField(max_length=32, primary_key=True)
        kind = CharField(max_length=16)
        status = CharField(max_length=16, index=True)
        failure_code = CharField(max_length=32, null=True)
        from_account = ForeignKeyField(Account, column_name="from_account", index=True)
        to_account = ForeignKeyField(Account, column_name="to_account", index=True)
        from_balance = ForeignKeyField(Balance, column_name="from_balance")
        to_balance = ForeignKeyField(Balance, column_name="to_balance")
        amount = MinorUnitsField()
        currency = ForeignKeyField(Currency, column_name="currency")
        target_amount = MinorUnitsField(null=True)
        target_currency = ForeignKeyField(Currency, column_name="target_currency", null=True)
        rate = CharField(max_length=64, null=True)
        description = CharField(max_length=500, null=True)
        reverses = ForeignKeyField("self", column_name="reverses", null=True, unique=True)
        reversed_by = CharField(max_length=32, null=True)
        created_at = DateTimeField(index=True)
        settled_at = DateTimeField(null=True)

        class Meta:
            indexes = ((("status", "created_at"), False),)

    class Entry(Base):
        id = BigAutoField()
        payment = ForeignKeyField(Payment, index=True)
        balance = ForeignKeyField(Balance)
        direction = CharField(max_length=8)
        amount = MinorUnitsField()
        balance_after = MinorUnitsField()
        created_at = DateTimeField()

        class Meta:
            indexes = ((("balance", "id"), False),)

    class Event(Base):
        id = BigAutoField()
        seq = BigIntegerField(null=True, unique=True)
        type = CharField(max_length=40)
        created_at = DateTimeField()
        account_a = CharField(max_length=64, null=True)
        account_b = CharField(max_length=64, null=True)
        data = TextField()

        class Meta:
            indexes = ((("account_a", "seq"), False), (("account_b", "seq"), False))

    class ApiToken(Base):
        id = AutoField()
        name = CharField(max_length=100)
        scope = CharField(max_length=8)
        digest = CharField(max_length=64, unique=True)
        hint = CharField(max_length=16)
        created_at = DateTimeField()
        revoked_at = DateTimeField(null=True)

    class IdempotencyRecord(Base):
        id = AutoField()
        token = ForeignKeyField(ApiToken, on_delete="CASCADE")
        key = CharField(max_length=255)
        fingerprint = CharField(max_length=64)
        resource_id = CharField(max_length=64, null=True)
        created_at = DateTimeField(index=True)

        class Meta:
            indexes = ((("token", "key"), True),)

    class Operator(Base):
        id = AutoField()
        email = CharField(max_length=254, unique=True)
        password_hash = CharField(max_length=200)
        role = CharField(max_length=8)
        created_at = DateTimeField()

    db.create_tables([Currency, Account, Balance, Payment, Entry, Event, ApiToken, IdempotencyRecord, Operator])
    # The relay's work list: events committed but not yet numbered.
    db.execute_sql("CREATE INDEX event_unnumbered ON event (id) WHERE seq IS NULL")
