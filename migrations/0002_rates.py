"""Exchange rates with their history; a payment may be reversed again once
its reversal has failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peewee import AutoField, BigAutoField, CharField, DateTimeField, ForeignKeyField, Model

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

    # `base` needs no index of its own: it leads the (base, quote...) ones.
    class ExchangeRate(Base):
        id = AutoField()
        base = ForeignKeyField(Currency, column_name="base", on_delete="RESTRICT", index=False)
        quote = ForeignKeyField(Currency, column_name="quote", on_delete="RESTRICT")
        rate = CharField(max_length=64)
        set_by = CharField(max_length=200)
        set_at = DateTimeField()

        class Meta:
            indexes = ((("base", "quote"), True),)

    class RateChange(Base):
        id = BigAutoField()
        base = ForeignKeyField(Currency, column_name="base", on_delete="RESTRICT", index=False)
        quote = ForeignKeyField(Currency, column_name="quote", on_delete="RESTRICT")
        rate = CharField(max_length=64, null=True)
        set_by = CharField(max_length=200)
        set_at = DateTimeField()

        class Meta:
            indexes = ((("base", "quote", "id"), False),)

    db.create_tables([ExchangeRate, RateChange])
    # 0001 made `reverses` unique outright; a failed reversal must not keep
    # the payment from being reversed again, so only reversals that have not
    # failed are unique per payment.
    migrator.migrate(migrator.drop_index("payment", "payment_reverses"))
    db.execute_sql("CREATE UNIQUE INDEX payment_reverses_unless_failed ON payment (reverses) WHERE status <> 'failed'")
