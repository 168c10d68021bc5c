"""The overview's figures (SPEC section 15) come from summaries kept in the
transactions that change the ledger, and are exact: after transfers,
failures, reversals, holds captured and voided, exchanges and new balances,
under concurrent payments, and whenever the summaries are folded, they
equal what counting and summing the ledger's tables gives."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest

from tests.support.currencies import new_currency, put_rate
from tests.support.environment import CONFIG
from tests.support.ledger import all_final, assert_audit_ok, open_account, pay, reverse


def counted_from_the_ledger() -> dict:
    """The overview's figures as scanning every payment and balance gives
    them: what the summaries must equal."""
    from peewee import fn

    from models.account import SYSTEM_ACCOUNT, Balance
    from models.connection import utcnow
    from models.dialect import exact_sum
    from models.ledger import COMPLETED, STATUSES, Payment
    from models.rows import tuples
    from models.serialize import money

    def read() -> dict:
        statuses = dict(tuples(Payment.select(Payment.status, fn.COUNT(Payment.id)).group_by(Payment.status)))
        funds = tuples(
            Balance.select(Balance.currency, exact_sum(Balance.amount), fn.COUNT(Balance.id))
            .where(Balance.account != SYSTEM_ACCOUNT)
            .group_by(Balance.currency)
            .order_by(Balance.currency)
        )
        first = utcnow().date() - timedelta(days=29)
        volume: dict[tuple[str, date], tuple[int, int]] = {}
        for payment in Payment.select(Payment.currency, Payment.created_at, Payment.amount).where(
            Payment.status == COMPLETED
        ):
            day = payment.created_at.date()
            if day >= first:
                total, n = volume.get((payment.currency_id, day), (0, 0))
                volume[(payment.currency_id, day)] = (total + payment.amount, n + 1)
        return {
            "statuses": {status: statuses.get(status, 0) for status in STATUSES},
            "funds": [{"currency": c, "total": money(int(t), c), "balances": n} for c, t, n in funds],
            "volume": volume,
        }

    return read()


def shown_by_the_overview() -> dict:
    """The same figures as the overview reads them (`models.reports`)."""
    from models.reports import customer_funds, daily_volume, payments_per_status

    funds = customer_funds()
    volume = {}
    for row in funds:
        for day in daily_volume(row["currency"]):
            if day["payments"]:
                volume[(row["currency"], date.fromisoformat(day["day"]))] = (day["minor"], day["payments"])
    return {"statuses": payments_per_status(), "funds": funds, "volume": volume}


def both_at_one_moment() -> tuple[dict, dict]:
    """The overview's figures and the ledger's, read in one snapshot: the
    summaries are exact at every commit, whatever else is settling."""
    from models.dialect import snapshot
    from models.retry import read_only

    def read() -> tuple[dict, dict]:
        with snapshot():
            return shown_by_the_overview(), counted_from_the_ledger()

    return read_only(read)


def assert_overview_is_exact() -> None:
    shown, counted = both_at_one_moment()
    assert shown == counted
    from models.summaries import fold_tallies

    fold_tallies()
    shown, counted = both_at_one_moment()
    assert shown == counted


def test_the_overview_equals_the_ledger_after_payments_failures_reversals_holds_and_exchanges(writer, admin):
    sender = open_account(writer, admin, {"PHP": "100.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    done = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "30.00"}).body
    assert done["status"] == "completed"
    short = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "500.00"}).body
    assert short["status"] == "failed"
    assert reverse(admin, done["id"], wait=20).body["status"] == "completed"
    held = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "10.00", "capture": "manual"}).body
    assert held["status"] == "authorized"
    captured = admin.post(f"/api/v1/payments/{held['id']}/capture", {"amount": "4.00"}, wait=20).body
    assert captured["status"] == "completed", captured
    voided = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "5.00", "capture": "manual"}).body
    assert admin.post(f"/api/v1/payments/{voided['id']}/void", None).status == 200
    coin = new_currency(admin, 2)
    put_rate(admin, "PHP", coin, "0.5")
    holder = open_account(writer, admin, currencies=[coin])
    body = {"from_account": sender, "to_account": holder, "amount": "8.00", "currency": "PHP", "to_currency": coin}
    exchange = pay(writer, body).body
    assert exchange["status"] == "completed", exchange
    assert_overview_is_exact()
    assert_audit_ok()


def test_the_overview_equals_the_ledger_after_expired_holds_missed_deadlines_and_failed_groups(writer, admin):
    from datetime import UTC, datetime

    from models.intake import submit_transfer
    from tests.support.ledger import pending
    from tests.support.waiting import wait_until

    payer = open_account(writer, admin, {"PHP": "60.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "5.00", "capture": "manual", "hold_expires_in": 1}
    held = pay(writer, body).body
    group = {
        "atomic": True,
        "payments": [
            {"from_account": payer, "to_account": payee, "amount": "50.00"},
            {"from_account": payer, "to_account": payee, "amount": "9.00"},
        ],
    }
    assert writer.post("/api/v1/payment-groups", group, wait=20).body["status"] == "failed"
    # Accepted but not queued: it stays pending until the clock ends it.
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    late = pending(submit_transfer, {"from_account": payer, "to_account": payee, "amount": "1.00", "settle_by": soon})

    def status(payment_id: str) -> str:
        return writer.get(f"/api/v1/payments/{payment_id}").body["status"]

    assert wait_until(lambda: status(held["id"]) == "expired" and status(late.id) == "failed", timeout=15), (
        status(held["id"]),
        status(late.id),
    )
    assert_overview_is_exact()
    assert_audit_ok()


@pytest.mark.skipif(not CONFIG.database_url, reason="concurrent writers need PostgreSQL")
def test_the_overview_is_exact_at_every_moment_under_concurrent_payments_and_folds(writer, admin):
    from models.summaries import fold_tallies

    accounts = [open_account(writer, admin, {"PHP": "50.00"}) for _ in range(6)]
    stop = threading.Event()
    differences: list[tuple[dict, dict]] = []
    compared = []

    def keep_folding_and_comparing() -> None:
        while not stop.is_set():
            fold_tallies()
            shown, counted = both_at_one_moment()
            compared.append(shown["statuses"]["pending"])
            if shown != counted:
                differences.append((shown, counted))

    def send(n: int) -> str:
        body = {"from_account": accounts[n % 6], "to_account": accounts[(n + 1) % 6], "amount": f"{1 + n % 20}.00"}
        response = writer.post("/api/v1/payments", body)
        assert response.status == 202, response.body
        return response.body["id"]

    folder = threading.Thread(target=keep_folding_and_comparing)
    folder.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(send, range(240)))
        all_final(writer, ids)
    finally:
        stop.set()
        folder.join()
    assert differences == [], "the overview differed from the ledger at some moment while payments settled"
    assert any(compared), "some comparisons saw payments still pending"
    assert_overview_is_exact()
    assert_audit_ok()


def test_folding_leaves_one_row_per_figure(database):
    from peewee import fn

    from models.retry import read_only
    from models.rows import tuples
    from models.summaries import BalanceTally, PaymentStatusTally, PaymentVolumeTally, fold_tallies

    fold_tallies()

    def rows_per_key() -> set[int]:
        counts = set()
        for model, keys in (
            (PaymentStatusTally, [PaymentStatusTally.status]),
            (PaymentVolumeTally, [PaymentVolumeTally.currency, PaymentVolumeTally.day]),
            (BalanceTally, [BalanceTally.currency]),
        ):
            counts |= {row[-1] for row in tuples(model.select(*keys, fn.COUNT(model.id)).group_by(*keys))}
        return counts

    assert read_only(rows_per_key) <= {1}


def test_the_overview_reads_no_table_of_payments_entries_or_balances_beyond_its_page(database):
    from handlers.dashboard.overview import overview
    from models.connection import database as db
    from models.retry import read_only

    seen: list[str] = []
    run = db.obj.execute_sql

    def recording(sql, params=None, *args, **kwargs):
        seen.append(sql)
        return run(sql, params, *args, **kwargs)

    db.obj.execute_sql = recording
    try:
        read_only(lambda: overview("PHP"))
    finally:
        del db.obj.execute_sql
    ledger = [sql for sql in seen if '"payment"' in sql or '"entry"' in sql or '"balance"' in sql]
    # The ten newest payments, and the `@system` balances of the currencies held.
    newest = [sql for sql in ledger if '"payment"' in sql and "LIMIT" in sql and "WHERE" not in sql]
    system = [sql for sql in ledger if '"balance"' in sql and '"account_id" =' in sql]
    assert len(newest) == 1 and len(system) <= 1 and len(ledger) == len(newest) + len(system), ledger
    assert not any("COUNT(" in sql.upper() and '"payment"' in sql for sql in seen), seen
