"""Reversals (SPEC sections 2 and 5): a completed transfer or exchange is
undone once by a new `reversal` payment that sends the money back, linked
both ways; entries are never changed."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.currencies import new_currency, put_rate
from tests.support.ledger import (
    assert_audit_ok,
    balances,
    completed_transfer,
    final,
    open_account,
    pay,
    pending,
    reverse,
    system_balance,
)
from tests.support.openapi import assert_matches_documentation

REVERSE = "/api/v1/payments/{payment_id}/reverse"


@pytest.fixture(scope="module")
def document(anonymous) -> dict:
    return anonymous.get("/api/v1/openapi.json").body


def test_reversing_a_transfer_sends_the_money_back_once(writer, admin, reader, document):
    sender, receiver, original = completed_transfer(writer, admin)
    response = reverse(admin, original["id"], {"description": "refund: wrong recipient"}, wait=20)
    assert response.status == 201, response.body
    assert_matches_documentation(document, REVERSE, "post", response)
    reversal = response.body
    assert (reversal["kind"], reversal["status"], reversal["reverses"]) == ("reversal", "completed", original["id"])
    assert (reversal["from_account"], reversal["to_account"]) == (receiver, sender)
    assert (reversal["amount"], reversal["currency"], reversal["description"]) == (
        "20.00",
        "PHP",
        "refund: wrong recipient",
    )
    assert [(e["account"], e["direction"], e["amount"]) for e in reversal["entries"]] == [
        (receiver, "outgoing", "20.00"),
        (sender, "incoming", "20.00"),
    ]
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_by"] == reversal["id"]
    assert balances(reader, sender) == {"PHP": "50.00"} and balances(reader, receiver) == {"PHP": "0.00"}
    again = reverse(admin, original["id"])
    assert again.status == 422 and again.body["error"]["code"] == "amount_exceeds_remaining"
    assert_matches_documentation(document, REVERSE, "post", again)
    assert_audit_ok()


def test_reversing_an_exchange_gives_back_the_target_amount_and_returns_the_original_amount(writer, admin, reader):
    pesos, coins = new_currency(admin, 2), new_currency(admin, 8)
    put_rate(admin, pesos, coins, "0.0000175")
    sender = open_account(writer, admin, {pesos: "1000.00"})
    receiver = open_account(writer, admin, currencies=[coins])
    original = pay(
        writer,
        {"from_account": sender, "to_account": receiver, "amount": "333.33", "currency": pesos, "to_currency": coins},
    ).body
    assert (original["status"], original["target_amount"]) == ("completed", "0.00583327")
    put_rate(admin, pesos, coins, "0.00002")  # the reversal does not care: it undoes the original's amounts
    reversal = reverse(admin, original["id"], wait=20).body
    assert (reversal["status"], reversal["kind"], reversal["rate"]) == ("completed", "reversal", None)
    assert (reversal["amount"], reversal["currency"]) == ("0.00583327", coins)
    assert (reversal["target_amount"], reversal["target_currency"]) == ("333.33", pesos)
    assert [(e["account"], e["currency"], e["direction"], e["amount"]) for e in reversal["entries"]] == [
        (receiver, coins, "outgoing", "0.00583327"),
        ("@system", coins, "incoming", "0.00583327"),
        ("@system", pesos, "outgoing", "333.33"),
        (sender, pesos, "incoming", "333.33"),
    ]
    assert balances(reader, sender) == {pesos: "1000.00"} and balances(reader, receiver) == {coins: "0.00000000"}
    assert system_balance(reader, pesos) == "-1000.00" and system_balance(reader, coins) == "0.00000000"
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_by"] == reversal["id"]
    assert_audit_ok()


def test_reversal_fails_insufficient_funds_when_the_receiver_spent_it_and_can_be_tried_again(writer, admin, reader):
    sender, receiver, original = completed_transfer(writer, admin)
    elsewhere = open_account(writer, admin, currencies=["PHP"])
    pay(writer, {"from_account": receiver, "to_account": elsewhere, "amount": "15.00"})
    failed = reverse(admin, original["id"], wait=20)
    assert failed.status == 201
    assert (failed.body["status"], failed.body["failure_code"]) == ("failed", "insufficient_funds")
    assert failed.body["reverses"] == original["id"] and failed.body["entries"] == []
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_by"] is None
    pay(writer, {"from_account": elsewhere, "to_account": receiver, "amount": "15.00"})
    retried = reverse(admin, original["id"], wait=20).body
    assert retried["status"] == "completed" and retried["id"] != failed.body["id"]
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_by"] == retried["id"]
    assert balances(reader, sender) == {"PHP": "50.00"}
    assert_audit_ok()


def test_reversing_a_payment_not_completed_is_409_payment_not_completed(writer, admin, reader, document):
    from models.intake import submit_transfer
    from models.settlement import settle_payment

    sender = open_account(writer, admin, {"PHP": "5.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    waiting = pending(submit_transfer, {"from_account": sender, "to_account": receiver, "amount": "1.00"})
    response = reverse(admin, waiting.id)
    assert response.status == 409 and response.body["error"]["code"] == "payment_not_completed"
    assert_matches_documentation(document, REVERSE, "post", response)
    settle_payment(waiting.id)
    short = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "9.00"}).body
    assert short["status"] == "failed"
    refused = reverse(admin, short["id"])
    assert refused.status == 409 and refused.body["error"]["code"] == "payment_not_completed"
    kinds = [p["kind"] for p in reader.get(f"/api/v1/accounts/{sender}/payments").body["data"]]
    assert "reversal" not in kinds


@pytest.mark.parametrize("kind", ["deposit", "withdrawal", "reversal"])
def test_only_transfers_and_exchanges_can_be_reversed(writer, admin, kind, document):
    sender, _, original = completed_transfer(writer, admin)
    if kind == "deposit":
        target = reader_payments(admin, sender, "deposit")
    elif kind == "withdrawal":
        target = admin.post(
            "/api/v1/withdrawals", {"account": sender, "currency": "PHP", "amount": "1.00"}, wait=20
        ).body["id"]
    else:
        target = reverse(admin, original["id"], wait=20).body["id"]
    response = reverse(admin, target)
    assert response.status == 422 and response.body["error"]["code"] == "not_reversible"
    assert_matches_documentation(document, REVERSE, "post", response)


def reader_payments(api, account_id: str, kind: str) -> str:
    return api.get(f"/api/v1/accounts/{account_id}/payments", params={"kind": kind}).body["data"][0]["payment_id"]


def test_reversing_an_unknown_payment_is_404_and_needs_the_admin_scope(writer, admin, document):
    missing = reverse(admin, "pay_nothing")
    assert missing.status == 404 and missing.body["error"]["code"] == "not_found"
    assert_matches_documentation(document, REVERSE, "post", missing)
    _, _, original = completed_transfer(writer, admin)
    forbidden = reverse(writer, original["id"])
    assert forbidden.status == 403
    assert_matches_documentation(document, REVERSE, "post", forbidden)


def test_reversal_body_is_optional_but_checked(writer, admin):
    _, _, original = completed_transfer(writer, admin)
    unknown = reverse(admin, original["id"], {"currency": "PHP"})
    assert unknown.status == 400 and unknown.body["error"]["code"] == "invalid_request"
    too_long = reverse(admin, original["id"], {"description": "x" * 501})
    assert too_long.status == 422 and too_long.body["error"]["code"] == "validation_error"
    assert reverse(admin, original["id"], raw=b"").status == 202


def test_reversal_honours_idempotency_keys(writer, admin, reader, document):
    _, _, original = completed_transfer(writer, admin)
    _, _, other = completed_transfer(writer, admin)
    key = {"Idempotency-Key": f"reverse-{original['id']}"}
    first = reverse(admin, original["id"], headers=key, wait=20)
    replay = reverse(admin, original["id"], headers=key)
    assert first.status == 201 and replay.status == 200 and replay.header("Idempotent-Replayed") == "true"
    assert replay.body["id"] == first.body["id"] and replay.body["status"] == "completed"
    assert_matches_documentation(document, REVERSE, "post", replay)
    conflict = reverse(admin, other["id"], headers=key)
    assert conflict.status == 409 and conflict.body["error"]["code"] == "idempotency_conflict"
    assert reader.get(f"/api/v1/payments/{other['id']}").body["reversed_by"] is None


def test_reversal_to_or_from_an_inactive_account_is_422(writer, admin, reader):
    sender, receiver, original = completed_transfer(writer, admin)
    assert admin.patch(f"/api/v1/accounts/{sender}", {"active": False}).status == 200
    refused = reverse(admin, original["id"])
    assert refused.status == 422 and refused.body["error"]["code"] == "account_inactive"
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_by"] is None
    assert admin.patch(f"/api/v1/accounts/{sender}", {"active": True}).status == 200
    assert reverse(admin, original["id"], wait=20).body["status"] == "completed"


def test_concurrent_requests_to_reverse_one_payment_create_one_reversal(writer, admin, reader):
    sender, receiver, original = completed_transfer(writer, admin)
    barrier = threading.Barrier(10)

    def attempt(_: int):
        barrier.wait()
        return reverse(admin, original["id"])

    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(attempt, range(10)))
    outcomes = Counter((r.status, r.body.get("error", {}).get("code")) for r in responses)
    assert outcomes == {(202, None): 1, (422, "amount_exceeds_remaining"): 9}, outcomes
    reversal_id = next(r.body["id"] for r in responses if r.status == 202)
    assert final(reader, reversal_id)["status"] == "completed"
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_by"] == reversal_id
    assert balances(reader, sender) == {"PHP": "50.00"} and balances(reader, receiver) == {"PHP": "0.00"}
    assert_audit_ok()
