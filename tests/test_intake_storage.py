"""How intake stores what it accepts: a batch's payments and their
`payment.created` events go in by one statement, with no transaction opened
around it (the API's batches), all of them or none."""

from __future__ import annotations

import json

import pytest
from peewee import IntegrityError, OperationalError

import models.event
import models.intake
from models.connection import utcnow
from models.errors import ApiError
from models.event import Event
from models.intake import Accepted, accept_payments
from models.retry import read_only, retried_without_transaction
from tasks.settlement import Settlement
from tests.support.environment import CONFIG
from tests.support.ledger import assert_audit_ok, open_account
from tests.support.waiting import wait_until


def request_settlement() -> None:
    Settlement(CONFIG).request()


def transfers_of(api, account_id: str) -> list[dict]:
    return api.get("/api/v1/payments", params={"account": account_id, "kind": "transfer"}).body["data"]


def accepted_ids(outcomes: list[Accepted | ApiError]) -> list[str]:
    """The payments' ids, sorted: every request of the batch was accepted."""
    ids = []
    for outcome in outcomes:
        assert isinstance(outcome, Accepted), outcome
        ids.append(outcome.id)
    return sorted(ids)


def payments_created_for(account_id: str) -> set[str]:
    """The payments with a `payment.created` event naming the account,
    numbered by the relay yet or not."""
    query = Event.select().where(
        (Event.type == "payment.created") & ((Event.account_a == account_id) | (Event.account_b == account_id))
    )
    return read_only(lambda: {json.loads(event.data)["id"] for event in query})


def test_a_batch_whose_events_cannot_be_stored_leaves_no_payment_behind(writer, admin, monkeypatch):
    payer = open_account(writer, admin, {"PHP": "1.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "0.10"}
    # An event row the database refuses (its type is NOT NULL).
    monkeypatch.setattr(
        models.event,
        "_row",
        lambda event_type, data, at=None, acting=None: {"type": None, "data": "{}", "created_at": utcnow()},
    )
    with pytest.raises(IntegrityError):
        retried_without_transaction(lambda: accept_payments([("transfer", body)] * 3, request_settlement))
    monkeypatch.undo()
    assert transfers_of(writer, payer) == []
    deposit = writer.get("/api/v1/payments", params={"account": payer}).body["data"]
    assert payments_created_for(payer) == {p["id"] for p in deposit}


def test_a_batch_stored_without_a_transaction_is_committed_at_once_and_settles(writer, admin):
    payer = open_account(writer, admin, {"PHP": "1.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "0.10"}
    accepted = retried_without_transaction(lambda: accept_payments([("transfer", body)] * 3, request_settlement))
    ids = accepted_ids(accepted)
    # The web server reads on connections of its own: what it sees is committed.
    assert sorted(p["id"] for p in transfers_of(writer, payer)) == ids
    assert payments_created_for(payer) >= set(ids)
    assert wait_until(lambda: all(p["status"] == "completed" for p in transfers_of(writer, payer)))
    assert writer.get(f"/api/v1/accounts/{payer}").body["balances"][0]["amount"] == "0.70"


# --- a connection lost while a batch is being stored ------------------------------------------------------------


def lose_the_answer(monkeypatch, commits: bool, times: int = 1) -> list[int]:
    """The next `times` batch stores lose their connection before the answer
    arrives: after committing (`commits`) or before. Returns the count of
    store attempts, as a one-item list."""
    real = models.intake.record_events
    attempts = [0]

    def store(*args, **kwargs):
        attempts[0] += 1
        if attempts[0] <= times and commits:
            real(*args, **kwargs)
        if attempts[0] <= times:
            raise OperationalError("server closed the connection unexpectedly")
        return real(*args, **kwargs)

    monkeypatch.setattr(models.intake, "record_events", store)
    return attempts


@pytest.mark.parametrize("commits", [True, False], ids=["stored before the loss", "not stored"])
def test_a_batch_whose_answer_is_lost_is_stored_exactly_once(writer, admin, monkeypatch, commits):
    payer = open_account(writer, admin, {"PHP": "1.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "0.10"}
    attempts = lose_the_answer(monkeypatch, commits)
    accepted = retried_without_transaction(lambda: accept_payments([("transfer", body)] * 3, request_settlement))
    monkeypatch.undo()
    # Stored before the loss: found, not stored again. Not stored: stored now.
    assert attempts[0] == (1 if commits else 2)
    ids = accepted_ids(accepted)
    assert sorted(p["id"] for p in transfers_of(writer, payer)) == ids
    assert payments_created_for(payer) >= set(ids)
    assert wait_until(lambda: all(p["status"] == "completed" for p in transfers_of(writer, payer)))
    assert writer.get(f"/api/v1/accounts/{payer}").body["balances"][0]["amount"] == "0.70"
    assert_audit_ok()


def test_a_batch_whose_fate_cannot_be_learnt_is_answered_503_and_not_sent_again(writer, admin, monkeypatch):
    payer = open_account(writer, admin, {"PHP": "1.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    attempts = lose_the_answer(monkeypatch, commits=True)
    looks = []

    def unreachable(payment_id: str) -> bool:
        looks.append(payment_id)
        raise OperationalError("could not connect to server: Connection refused")

    # The database stays out of reach for the look that would tell.
    monkeypatch.setattr(models.intake, "stored", unreachable)
    response = writer.post("/api/v1/payments", {"from_account": payer, "to_account": payee, "amount": "0.10"})
    monkeypatch.undo()
    assert response.status == 503, response.body
    assert response.body["error"]["code"] == "service_unavailable"
    assert "Idempotency-Key" in response.body["error"]["message"]
    assert attempts[0] == 1 and looks
    # It was stored (before the connection went): once, and it settles.
    assert wait_until(lambda: [p["status"] for p in transfers_of(writer, payer)] == ["completed"])
    assert_audit_ok()
