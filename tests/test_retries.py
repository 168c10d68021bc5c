"""Settlement survives the transient failures a database throws at it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from peewee import OperationalError

from tests.support.environment import CONFIG
from tests.support.ledger import all_final, amounts, assert_audit_ok, open_account
from tests.support.waiting import wait_until


class FakeDeadlock(Exception):
    pgcode = "40P01"


def test_a_transaction_that_hits_a_deadlock_is_run_again_from_the_start(writer, admin):
    from models.account import Account
    from models.retry import retried_transaction

    account = open_account(writer, admin, currencies=["PHP"])
    attempts = []

    def work():
        attempts.append(1)
        Account.update(owner=f"Attempt {len(attempts)}").where(Account.id == account).execute()
        if len(attempts) == 1:
            raise OperationalError(FakeDeadlock("deadlock detected"))
        return len(attempts)

    assert retried_transaction(work) == 2
    assert writer.get(f"/api/v1/accounts/{account}").body["owner"] == "Attempt 2"


def test_a_rule_violation_is_not_retried(writer, admin):
    from models.retry import retried_transaction

    attempts = []

    def work():
        attempts.append(1)
        raise OperationalError(Exception("no such column: nonsense"))

    with pytest.raises(OperationalError):
        retried_transaction(work)
    assert len(attempts) == 1


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.database_url, reason="connections are lost to a database server; SQLite has none")
def test_payments_settle_once_when_postgres_drops_every_connection_mid_run(writer, admin):
    import psycopg2

    payer = open_account(writer, admin, {"PHP": "500.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    ids: list[str] = []
    halfway = threading.Event()

    def pay(n: int) -> None:
        response = writer.post("/api/v1/payments", {"from_account": payer, "to_account": payee, "amount": "1.00"})
        if response.status == 202:
            ids.append(response.body["id"])
        else:
            assert response.status == 503, response.body
        if n == 100:
            halfway.set()

    def drop_connections() -> None:
        halfway.wait(60)
        with psycopg2.connect(CONFIG.database_url) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        conn.close()

    killer = threading.Thread(target=drop_connections)
    killer.start()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(pay, range(300)))
    killer.join()
    payments = all_final(writer, ids)
    assert all(p["status"] == "completed" for p in payments)
    assert amounts(writer, payee) == {"PHP": Decimal(len(payments))}
    assert_audit_ok()


# --- a COMMIT whose answer is lost --------------------------------------------------------------------------------


def lose_the_commit_answer(monkeypatch, module, name: str) -> None:
    """The transaction `module.name` runs in commits, then loses its
    connection before the COMMIT's answer arrives: whether it committed is
    unknown to the server."""
    from models.connection import database

    running = threading.local()
    real_work, real_commit = getattr(module, name), type(database.obj).commit

    def work(*args, **kwargs):
        running.marked = True
        return real_work(*args, **kwargs)

    def commit(self):
        real_commit(self)
        if getattr(running, "marked", False):
            running.marked = False
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(module, name, work)
    monkeypatch.setattr(type(database.obj), "commit", commit)


def test_a_reversal_whose_commit_answer_is_lost_is_answered_503_and_stored_once(writer, admin, monkeypatch):
    import handlers.payments
    from tests.support.ledger import completed_transfer, reverse

    _, receiver, original = completed_transfer(writer, admin)
    lose_the_commit_answer(monkeypatch, handlers.payments, "submit_reversal")
    response = reverse(admin, original["id"])
    monkeypatch.undo()
    assert response.status == 503, response.body
    assert response.body["error"]["code"] == "service_unavailable"
    assert "Idempotency-Key" in response.body["error"]["message"]
    # It had committed: one reversal, which settles; not a second, nor a 409.
    reversed_by = admin.get(f"/api/v1/payments/{original['id']}").body["reversed_by"]
    reversals = admin.get("/api/v1/payments", params={"kind": "reversal", "account": receiver}).body["data"]
    assert [r["id"] for r in reversals] == [reversed_by]
    assert wait_until(lambda: admin.get(f"/api/v1/payments/{reversed_by}").body["status"] == "completed")
    assert_audit_ok()


def test_a_dashboard_payment_whose_commit_answer_is_lost_says_so_and_is_stored_once(
    gateway, writer, admin, monkeypatch
):
    import handlers.dashboard.payments
    from tests.support.pages import logged_in

    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    session = logged_in(gateway.url)
    lose_the_commit_answer(monkeypatch, handlers.dashboard.payments, "submit_transfer")
    page = session.post("/payments/new", {"from_account": payer, "to_account": payee, "amount": "1.00"})
    monkeypatch.undo()
    assert page.status == 503, page.text[:300]
    assert "may or may not" in page.text
    sent = writer.get("/api/v1/payments", params={"account": payer, "kind": "transfer"}).body["data"]
    assert len(sent) == 1
    assert wait_until(lambda: writer.get(f"/api/v1/payments/{sent[0]['id']}").body["status"] == "completed")
    assert_audit_ok()
