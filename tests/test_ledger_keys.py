"""The database's own guard on what a payment names: its sender's balance,
account and currency agree, and so do its receiver's balance and account
(two composite foreign keys, migration 0006). Intake never writes a payment
that disagrees; these tests write rows directly, as a bug or a hand-made
fix might, and the database refuses them."""

from __future__ import annotations

import uuid

import psycopg2
import pytest
from peewee import IntegrityError

from config import Config
from models.connection import database, open_database, utcnow
from models.ids import new_id
from models.ledger import PENDING, Payment
from models.schema import MIGRATIONS
from tests.support.ledger import open_account

BEFORE_COMPOSITE_KEYS = "0005_entry_balance_index"


def balance_of(api, account_id: str, currency: str) -> str:
    balances = api.get(f"/api/v1/accounts/{account_id}").body["balances"]
    return next(b["id"] for b in balances if b["currency"] == currency)


def payment_row(**overrides) -> dict:
    return {
        "id": new_id("pay"),
        "kind": "transfer",
        "status": PENDING,
        "amount": 1,
        "currency": "PHP",
        "created_at": utcnow(),
        **overrides,
    }


@pytest.fixture(scope="module")
def two_accounts(gateway, writer, admin):
    """Two accounts holding PHP and USD balances: (account, PHP, USD) each."""
    accounts = []
    for _ in range(2):
        account = open_account(writer, admin, currencies=["PHP", "USD"])
        accounts.append((account, balance_of(writer, account, "PHP"), balance_of(writer, account, "USD")))
    return accounts


def insert_and_roll_back(row: dict) -> None:
    """Insert a payment row, then undo it whatever happens: nothing is left."""
    with database.atomic() as transaction:
        try:
            Payment.insert(row).execute()
        finally:
            transaction.rollback()


def test_a_payment_whose_accounts_and_currency_agree_with_its_balances_is_stored(two_accounts):
    (a, a_php, _), (b, b_php, _) = two_accounts
    insert_and_roll_back(payment_row(from_account=a, from_balance=a_php, to_account=b, to_balance=b_php))


@pytest.mark.parametrize(
    "disagreement",
    [
        "sender account is not the owner of the sender balance",
        "currency is not the sender balance's currency",
        "receiver account is not the owner of the receiver balance",
    ],
)
def test_a_payment_that_disagrees_with_its_balances_is_refused(two_accounts, disagreement):
    (a, a_php, _), (b, b_php, b_usd) = two_accounts
    row = payment_row(from_account=a, from_balance=a_php, to_account=b, to_balance=b_php)
    if disagreement.startswith("sender account"):
        row["from_account"] = b
    elif disagreement.startswith("currency"):
        row["currency"] = "USD"
    else:
        row["to_account"] = a
    with pytest.raises(IntegrityError):
        insert_and_roll_back(row)


def test_an_exchange_names_its_target_currency_beside_the_receivers_balance(two_accounts):
    (a, a_php, _), (b, _, b_usd) = two_accounts
    exchange = dict(kind="exchange", target_amount=1, target_currency="USD", rate="0.02")
    insert_and_roll_back(payment_row(from_account=a, from_balance=a_php, to_account=b, to_balance=b_usd, **exchange))


@pytest.fixture
def scratch_database(tmp_path):
    """An empty database of the backend under test, apart from the one the
    server uses; dropped after."""
    config = Config.from_env()
    if not config.database_url:
        db = open_database(None, tmp_path / "scratch.db")
        yield db
        db.close()
        return
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(config.database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    db = open_database(config.database_url.rsplit("/", 1)[0] + "/" + name, tmp_path / "unused.db")
    try:
        yield db
    finally:
        db.close()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE "{name}"')
        admin.close()


def test_the_migration_keeps_every_payment_and_entry_and_then_refuses_disagreements(scratch_database):
    from playhouse.migrations import Runner

    db = scratch_database
    runner = Runner(db, str(MIGRATIONS))
    runner.up(target=BEFORE_COMPOSITE_KEYS)
    now = utcnow()
    db.execute_sql(
        f"INSERT INTO currency (code, name, exponent, active, custom, created_at) VALUES ({', '.join([db.param] * 6)})",
        ("PHP", "Philippine peso", 2, True, False, now),
    )
    for account in ("alice", "bob"):
        db.execute_sql(
            f"INSERT INTO account (id, owner, active, created_at, updated_at) VALUES ({', '.join([db.param] * 5)})",
            (account, account, True, now, now),
        )
        db.execute_sql(
            "INSERT INTO balance (id, account_id, currency_id, amount, active, created_at, updated_at)"
            f" VALUES ({', '.join([db.param] * 7)})",
            (f"bal_{account}", account, "PHP", 100, True, now, now),
        )
    columns = "id, kind, status, from_account, to_account, from_balance, to_balance, amount, currency, created_at"
    db.execute_sql(
        f"INSERT INTO payment ({columns}) VALUES ({', '.join([db.param] * 10)})",
        ("pay_1", "transfer", "completed", "alice", "bob", "bal_alice", "bal_bob", 5, "PHP", now),
    )
    db.execute_sql(
        "INSERT INTO entry (payment_id, balance_id, direction, amount, balance_after, created_at)"
        f" VALUES ({', '.join([db.param] * 6)})",
        ("pay_1", "bal_alice", "debit", 5, 95, now),
    )

    assert "0006_payment_keys_agree_with_balances" in runner.up()

    assert db.execute_sql("SELECT id, from_account, from_balance FROM payment").fetchall() == [
        ("pay_1", "alice", "bal_alice")
    ]
    assert db.execute_sql("SELECT payment_id FROM entry").fetchall() == [("pay_1",)]
    with pytest.raises(IntegrityError), db.atomic() as transaction:
        try:
            db.execute_sql(
                f"INSERT INTO payment ({columns}) VALUES ({', '.join([db.param] * 10)})",
                ("pay_2", "transfer", "pending", "bob", "bob", "bal_alice", "bal_bob", 5, "PHP", now),
            )
        finally:
            transaction.rollback()
    # The entries still need their payment.
    with pytest.raises(IntegrityError), db.atomic() as transaction:
        try:
            db.execute_sql(
                "INSERT INTO entry (payment_id, balance_id, direction, amount, balance_after, created_at)"
                f" VALUES ({', '.join([db.param] * 6)})",
                ("pay_missing", "bal_alice", "debit", 5, 90, now),
            )
        finally:
            transaction.rollback()
