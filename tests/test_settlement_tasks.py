"""How settlement tasks share the looking again for rows their claims
passed over (`tasks.settlement`): one thread of a process looks, a task
finding it looking leaves the rows to it, and it stops once another task is
queued, so that no thread stays tied up while fresh payments' tasks wait."""

from __future__ import annotations

import threading

import pytest

import tasks.settlement
from models.intake import submit_transfer
from models.retry import retried_transaction
from models.settlement import settle_pending
from tasks.settlement import LookingAgain
from tests.support.client import Api
from tests.support.environment import CONFIG
from tests.support.ledger import assert_audit_ok, open_account
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not CONFIG.database_url, reason="PostgreSQL's workers skip the rows others hold; SQLite has one writer"
)


def test_one_thread_looks_again_for_a_held_payment_settles_it_once_let_go_and_stops_when_a_task_is_queued(
    writer, admin, monkeypatch
):
    import psycopg2

    # Long enough that only the rules below end a look, never the clock.
    monkeypatch.setattr(tasks.settlement, "LOOKING_AGAIN_FOR_SECONDS", 60.0)
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "4.00"}
    # Stored as intake stores them, with no settlement asked for.
    first_id, second_id = (retried_transaction(lambda: submit_transfer(body, lambda: None)).id for _ in range(2))
    holders = [psycopg2.connect(CONFIG.database_url) for _ in range(2)]
    looking, queued = LookingAgain(), threading.Event()
    first = threading.Thread(target=looking.look, args=(queued.is_set,))
    second = threading.Thread(target=looking.look, args=(queued.is_set,))
    try:
        for holder, payment_id in zip(holders, (first_id, second_id), strict=True):
            with holder.cursor() as cursor:
                cursor.execute("SELECT id FROM payment WHERE id = %s FOR NO KEY UPDATE", (payment_id,))
        first.start()
        assert wait_until(lambda: looking.looking, timeout=5)
        second.start()
        # The second task leaves the held payments to the thread already looking.
        second.join(timeout=10)
        assert not second.is_alive() and first.is_alive()
        assert status(writer, first_id) == status(writer, second_id) == "pending", "skipped while held"
        holders[0].rollback()
        assert wait_until(lambda: status(writer, first_id) == "completed", timeout=10)
        assert writer.get(f"/api/v1/accounts/{payee}").body["balances"][0]["amount"] == "4.00"
        # Another task queued: it will look after its own batch, so this
        # thread stops, though a held payment still waits.
        queued.set()
        first.join(timeout=10)
        assert not first.is_alive()
        assert status(writer, second_id) == "pending"
    finally:
        for holder in holders:
            holder.rollback()
            holder.close()
    # Settled here, or by a worker that claimed it first.
    settle_pending()
    assert wait_until(lambda: status(writer, second_id) == "completed", timeout=10)
    assert_audit_ok()


def status(api: Api, payment_id: str) -> str:
    return api.get(f"/api/v1/payments/{payment_id}").body["status"]
