"""Holds (capture: manual): authorized at settlement, reserving the amount
on the paying balance (`held`, `available`), then captured in full or in
part, voided, or expired, and exactly one of these, whatever races."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from models.holds import capture_hold
from models.settlement import settle_pending
from tests.support.client import Api
from tests.support.currencies import new_currency, put_rate
from tests.support.environment import CONFIG
from tests.support.events import events_after, head_seq
from tests.support.ledger import assert_audit_ok, open_account, pending
from tests.support.refusals import assert_error
from tests.support.waiting import wait_until


def balance(api: Api, account_id: str, currency: str = "PHP") -> dict:
    body = api.get(f"/api/v1/accounts/{account_id}").body
    return next(b for b in body["balances"] if b["currency"] == currency)


def events_of(api: Api, after: int, payment_id: str, last: str) -> list[dict]:
    """The payment's events after `after`, once the one of type `last` is numbered."""

    def found() -> list[dict]:
        events = [e for e in events_after(api, after) if e["data"].get("id") == payment_id]
        return events if any(e["type"] == last for e in events) else []

    events = wait_until(found)
    assert events, f"no {last} event for {payment_id}"
    return events


def hold(api: Api, sender: str, receiver: str, amount: str, **terms) -> dict:
    """A transfer held (capture: manual), waited for until authorized."""
    body = {"from_account": sender, "to_account": receiver, "amount": amount, "capture": "manual", **terms}
    response = api.post("/api/v1/payments", body, wait=20)
    assert response.status == 201, response.body
    return response.body


def capture(api: Api, payment_id: str, body: dict | None = None, **kwargs):
    """Ask for a capture and wait for its settlement (`Prefer: wait`)."""
    kwargs.setdefault("wait", 20)
    return api.post(f"/api/v1/payments/{payment_id}/capture", body, **kwargs)


def void(api: Api, payment_id: str, **kwargs):
    return api.post(f"/api/v1/payments/{payment_id}/void", None, **kwargs)


@pytest.fixture
def pair(writer, admin) -> tuple[str, str]:
    return open_account(writer, admin, {"PHP": "100.00"}), open_account(writer, admin, currencies=["PHP"])


def test_a_hold_reserves_its_amount_moving_nothing(writer, admin, pair):
    sender, receiver = pair
    after = head_seq(admin)
    payment = hold(writer, sender, receiver, "30.00")
    assert payment["status"] == "authorized" and payment["capture"] == "manual"
    assert payment["authorized_amount"] == "30.00" and payment["captured_amount"] is None
    assert payment["hold_expires_at"] is not None and payment["entries"] == []
    held = balance(writer, sender)
    assert (held["amount"], held["held"], held["available"]) == ("100.00", "30.00", "70.00")
    assert balance(writer, receiver)["amount"] == "0.00"
    (event,) = [
        e for e in events_of(admin, after, payment["id"], "payment.authorized") if e["type"] == "payment.authorized"
    ]
    assert {b["account"]: (b["held"], b["available"]) for b in event["data"]["balances"]}[sender] == ("30.00", "70.00")
    assert_audit_ok()


def test_funds_checks_use_available_so_a_hold_blocks_what_it_reserves(writer, admin, pair):
    sender, receiver = pair
    hold(writer, sender, receiver, "80.00")
    short = writer.post(
        "/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "30.00"}, wait=20
    )
    assert (short.body["status"], short.body["failure_code"]) == ("failed", "insufficient_funds")
    second = writer.post(
        "/api/v1/payments",
        {"from_account": sender, "to_account": receiver, "amount": "30.00", "capture": "manual"},
        wait=20,
    )
    assert (second.body["status"], second.body["failure_code"]) == ("failed", "insufficient_funds")
    assert balance(writer, sender)["held"] == "80.00"


def test_capturing_all_of_a_hold_moves_it_and_releases_nothing_else(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    after = head_seq(admin)
    captured = capture(writer, payment["id"])
    assert captured.status == 200, captured.body
    body = captured.body
    assert (body["status"], body["captured_amount"], body["authorized_amount"]) == ("completed", "30.00", "30.00")
    assert [(e["account"], e["direction"], e["amount"]) for e in body["entries"]] == [
        (sender, "outgoing", "30.00"),
        (receiver, "incoming", "30.00"),
    ]
    paid = balance(writer, sender)
    assert (paid["amount"], paid["held"], paid["available"]) == ("70.00", "0.00", "70.00")
    assert balance(writer, receiver)["amount"] == "30.00"
    (event,) = events_of(admin, after, payment["id"], "payment.completed")
    assert event["type"] == "payment.completed" and event["data"]["captured_amount"] == "30.00"
    assert_audit_ok()


def test_capturing_part_of_a_hold_releases_the_rest(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    body = capture(writer, payment["id"], {"amount": "12.50"}).body
    assert (body["status"], body["captured_amount"]) == ("completed", "12.50")
    paid = balance(writer, sender)
    assert (paid["amount"], paid["held"], paid["available"]) == ("87.50", "0.00", "87.50")
    assert balance(writer, receiver)["amount"] == "12.50"
    assert_audit_ok()


def test_a_capture_above_the_held_amount_is_refused_and_changes_nothing(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    assert_error(capture(writer, payment["id"], {"amount": "30.01"}), 422, "amount_exceeds_hold", "amount")
    assert_error(capture(writer, payment["id"], {"amount": "0"}), 422, "validation_error", "amount")
    assert writer.get(f"/api/v1/payments/{payment['id']}").body["status"] == "authorized"
    assert balance(writer, sender)["held"] == "30.00"


def test_voiding_a_hold_releases_it_all(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    after = head_seq(admin)
    voided = void(writer, payment["id"])
    assert voided.status == 200 and voided.body["status"] == "voided" and voided.body["entries"] == []
    released = balance(writer, sender)
    assert (released["amount"], released["held"], released["available"]) == ("100.00", "0.00", "100.00")
    (event,) = events_of(admin, after, payment["id"], "payment.voided")
    assert event["type"] == "payment.voided"
    assert_audit_ok()


@pytest.mark.parametrize(
    ("first", "second", "status"),
    [
        ("void", "void", "voided"),
        ("void", "capture", "voided"),
        ("capture", "void", "completed"),
        ("capture", "capture", "completed"),
    ],
    ids=["voided twice", "captured after a void", "voided after a capture", "captured twice"],
)
def test_a_hold_ends_once_and_the_loser_gets_409_invalid_state(writer, admin, pair, first, second, status):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    ends = {"void": lambda: void(writer, payment["id"]), "capture": lambda: capture(writer, payment["id"])}
    assert ends[first]().status == 200
    refused = assert_error(ends[second](), 409, "invalid_state")
    assert refused["status"] == status
    assert balance(writer, sender)["held"] == "0.00"
    assert_audit_ok()


def test_a_hold_whose_authorization_failed_cannot_be_captured_or_voided(writer, admin):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": sender, "to_account": receiver, "amount": "30.00", "capture": "manual"}
    rejected = writer.post("/api/v1/payments", body, wait=20).body
    assert (rejected["status"], rejected["failure_code"]) == ("failed", "insufficient_funds")
    assert assert_error(capture(writer, rejected["id"]), 409, "invalid_state")["status"] == "failed"
    assert assert_error(void(writer, rejected["id"]), 409, "invalid_state")["status"] == "failed"


def test_a_payment_that_is_not_a_hold_cannot_be_captured_or_voided(writer, admin, pair):
    sender, receiver = pair
    payment = writer.post(
        "/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "1.00"}, wait=20
    )
    assert assert_error(capture(writer, payment.body["id"]), 409, "invalid_state")["status"] == "completed"
    assert_error(void(writer, "pay_nosuchthing"), 404, "not_found")


def test_a_hold_expires_at_its_time_releasing_what_it_held(writer, admin, pair):
    sender, receiver = pair
    after = head_seq(admin)
    payment = hold(writer, sender, receiver, "30.00", hold_expires_in=1)
    assert wait_until(lambda: writer.get(f"/api/v1/payments/{payment['id']}").body["status"] == "expired", timeout=10)
    assert balance(writer, sender)["held"] == "0.00"
    assert assert_error(capture(writer, payment["id"]), 409, "invalid_state")["status"] == "expired"
    types = [e["type"] for e in events_of(admin, after, payment["id"], "payment.expired")]
    assert types == ["payment.created", "payment.authorized", "payment.expired"]
    assert_audit_ok()


def race_capture_with_expiry(writer: Api, admin: Api) -> None:
    """Captures sent around the moment a hold expires: either one capture
    completes it and it never expires, or it expires and every capture is
    refused; the balances agree either way."""
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    payment = hold(writer, sender, receiver, "4.00", hold_expires_in=2)
    deadline = time.time() + 2
    start = threading.Barrier(6)

    def try_capture(n: int):
        start.wait()
        time.sleep(max(0.0, deadline - time.time() - 0.05) + n * 0.02)
        return capture(writer, payment["id"])

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(try_capture, range(6)))
    assert wait_until(lambda: writer.get(f"/api/v1/payments/{payment['id']}").body["status"] != "authorized")
    status = writer.get(f"/api/v1/payments/{payment['id']}").body["status"]
    wins = [a for a in answers if a.status == 200]
    assert all(a.status in (200, 409) for a in answers), [a.body for a in answers]
    if status == "completed":
        assert len(wins) == 1 and balance(writer, receiver)["amount"] == "4.00"
    else:
        assert status == "expired" and wins == [] and balance(writer, receiver)["amount"] == "0.00"
    assert balance(writer, sender)["held"] == "0.00"


def test_a_capture_racing_the_expiry_at_hold_expires_at_either_wins_alone(writer, admin):
    for _ in range(3):
        race_capture_with_expiry(writer, admin)
    assert_audit_ok()


def test_fifty_concurrent_captures_and_voids_of_one_hold_end_it_once(writer, admin):
    sender = open_account(writer, admin, {"PHP": "100.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    payment = hold(writer, sender, receiver, "40.00")
    start = threading.Barrier(50)

    def end(n: int):
        start.wait()
        return capture(writer, payment["id"], {"amount": "25.00"}) if n % 2 else void(writer, payment["id"])

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(end, range(50)))
    outcomes = Counter(a.status for a in answers)
    assert outcomes[200] == 1 and outcomes[409] == 49, outcomes
    final = writer.get(f"/api/v1/payments/{payment['id']}").body
    paid = balance(writer, sender)
    if final["status"] == "completed":
        assert (paid["amount"], paid["held"], balance(writer, receiver)["amount"]) == ("75.00", "0.00", "25.00")
    else:
        assert final["status"] == "voided"
        assert (paid["amount"], paid["held"], balance(writer, receiver)["amount"]) == ("100.00", "0.00", "0.00")
    assert_audit_ok()


def test_a_retried_capture_with_its_idempotency_key_replays_its_answer(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    key = {"Idempotency-Key": f"capture-{payment['id']}"}
    first = capture(writer, payment["id"], {"amount": "10.00"}, headers=key)
    again = capture(writer, payment["id"], {"amount": "10.00"}, headers=key)
    assert first.status == 200 and again.status == 200 and again.header("Idempotent-Replayed") == "true"
    assert again.body["captured_amount"] == "10.00" and balance(writer, receiver)["amount"] == "10.00"
    other = capture(writer, payment["id"], {"amount": "11.00"}, headers=key)
    assert_error(other, 409, "idempotency_conflict")


def test_a_capture_is_accepted_202_and_settled_like_a_payment(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    after = head_seq(admin)
    accepted = capture(writer, payment["id"], {"amount": "20.00"}, wait=None)
    assert accepted.status == 202, accepted.body
    assert accepted.body["id"] == payment["id"] and accepted.body["status"] in ("authorized", "completed")
    (event,) = [e for e in events_of(admin, after, payment["id"], "payment.completed")]
    assert event["data"]["captured_amount"] == "20.00"
    done = writer.get(f"/api/v1/payments/{payment['id']}").body
    assert (done["status"], done["captured_amount"]) == ("completed", "20.00")
    assert balance(writer, receiver)["amount"] == "20.00" and balance(writer, sender)["held"] == "0.00"
    assert_audit_ok()


def test_prefer_wait_on_a_capture_answers_with_its_settlement(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    answer = capture(writer, payment["id"], wait=5)
    assert answer.status == 200 and answer.header("Preference-Applied") == "wait=5"
    assert (answer.body["status"], answer.body["captured_amount"]) == ("completed", "30.00")


def test_a_hold_whose_capture_is_being_settled_can_no_longer_be_voided_or_captured(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    # Asked for, but no settlement requested: it waits for the test to settle it.
    pending(lambda body, request: capture_hold(payment["id"], body, request), {"amount": "10.00"})
    for refused in (void(writer, payment["id"]), capture(writer, payment["id"], wait=None)):
        assert assert_error(refused, 409, "invalid_state")["status"] in ("authorized", "completed")
    settle_pending()
    done = writer.get(f"/api/v1/payments/{payment['id']}").body
    assert (done["status"], done["captured_amount"]) == ("completed", "10.00")
    assert (balance(writer, sender)["amount"], balance(writer, sender)["held"]) == ("90.00", "0.00")
    assert_audit_ok()


@pytest.mark.skipif(
    not CONFIG.database_url, reason="PostgreSQL's workers skip the rows others hold; SQLite has one writer"
)
def test_a_capture_a_refused_request_held_when_the_workers_looked_is_settled_once_it_lets_go(writer, admin, pair):
    """The race of a capture winning while another capture or a void of the
    same hold is refused: the refused one holds the hold's row for a moment,
    and a worker looking for work then skips it. Here a transaction of the
    test's holds it while the workers settle another payment."""
    import psycopg2

    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    # Asked for as a capture asks, without its request for settlement.
    pending(lambda body, request: capture_hold(payment["id"], body, request), {"amount": "10.00"})
    refused = psycopg2.connect(CONFIG.database_url)
    try:
        with refused.cursor() as cursor:
            cursor.execute("SELECT id FROM payment WHERE id = %s FOR NO KEY UPDATE", (payment["id"],))
        other = writer.post(
            "/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "1.00"}, wait=20
        )
        assert other.body["status"] == "completed", other.body
        assert writer.get(f"/api/v1/payments/{payment['id']}").body["status"] == "authorized", "skipped while held"
    finally:
        refused.rollback()
        refused.close()
    assert wait_until(lambda: writer.get(f"/api/v1/payments/{payment['id']}").body["status"] == "completed", timeout=5)
    assert balance(writer, receiver)["amount"] == "11.00"
    assert_audit_ok()


def test_a_capture_the_receiver_can_no_longer_take_at_settlement_fails_and_releases_the_hold(writer, admin, pair):
    sender, receiver = pair
    payment = hold(writer, sender, receiver, "30.00")
    after = head_seq(admin)
    pending(lambda body, request: capture_hold(payment["id"], body, request), {})
    assert admin.patch(f"/api/v1/accounts/{receiver}", {"active": False}).status == 200
    settle_pending()
    failed = writer.get(f"/api/v1/payments/{payment['id']}").body
    assert (failed["status"], failed["failure_code"], failed["captured_amount"]) == ("failed", "account_inactive", None)
    assert [e["type"] for e in events_of(admin, after, payment["id"], "payment.failed")] == ["payment.failed"]
    assert balance(writer, sender) == {**balance(writer, sender), "amount": "100.00", "held": "0.00"}
    assert_audit_ok()


def test_a_withdrawal_can_be_held_and_a_deposit_cannot(writer, admin):
    account = open_account(writer, admin, {"PHP": "50.00"})
    held = admin.post(
        "/api/v1/withdrawals", {"account": account, "currency": "PHP", "amount": "20.00", "capture": "manual"}, wait=20
    )
    assert held.body["status"] == "authorized" and balance(writer, account)["held"] == "20.00"
    assert capture(writer, held.body["id"]).body["status"] == "completed"
    assert balance(writer, account)["amount"] == "30.00"
    deposit = admin.post(
        "/api/v1/deposits", {"account": account, "currency": "PHP", "amount": "1.00", "capture": "manual"}
    )
    assert_error(deposit, 422, "validation_error", "capture")


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"capture": "later"}, "capture"),
        ({"hold_expires_in": 60}, "hold_expires_in"),
        ({"capture": "manual", "hold_expires_in": 0}, "hold_expires_in"),
        ({"capture": "manual", "hold_expires_in": 2592001}, "hold_expires_in"),
    ],
    ids=["unknown capture", "expiry without a hold", "no time at all", "over thirty days"],
)
def test_bad_hold_terms_are_refused_422_and_store_nothing(writer, admin, pair, terms, field):
    sender, receiver = pair
    before = writer.get("/api/v1/payments", params={"account": sender}).body["data"]
    refused = writer.post(
        "/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "1.00", **terms}
    )
    assert_error(refused, 422, "validation_error", field)
    assert writer.get("/api/v1/payments", params={"account": sender}).body["data"] == before


def test_an_exchange_hold_is_captured_at_the_rate_its_authorization_fixed(writer, admin):
    coin = new_currency(admin, 2)
    sender = open_account(writer, admin, {"PHP": "100.00"})
    receiver = open_account(writer, admin, currencies=[coin])
    put_rate(admin, "PHP", coin, "2")
    body = {"from_account": sender, "to_account": receiver, "amount": "10.00", "to_currency": coin, "capture": "manual"}
    authorized = writer.post("/api/v1/payments", body, wait=20).body
    assert (authorized["status"], authorized["rate"], authorized["target_amount"]) == ("authorized", "2", "20.00")
    put_rate(admin, "PHP", coin, "3")
    captured = capture(writer, authorized["id"], {"amount": "5.00"}).body
    assert (captured["status"], captured["captured_amount"], captured["target_amount"]) == (
        "completed",
        "5.00",
        "10.00",
    )
    assert Decimal(balance(writer, receiver, coin)["amount"]) == Decimal("10.00")
    assert balance(writer, sender)["amount"] == "95.00" and balance(writer, sender)["held"] == "0.00"
    assert_audit_ok()


def test_captures_sent_together_are_each_judged_as_alone(writer, admin):
    sender = open_account(writer, admin, {"PHP": "100.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    holds = [hold(writer, sender, receiver, "2.00")["id"] for _ in range(30)]
    asks = [(payment_id, {"amount": "1.50"}) for payment_id in holds] + [(holds[0], None), (holds[1], {"amount": "3"})]
    start = threading.Barrier(len(asks))

    def ask(request):
        start.wait()
        return capture(writer, request[0], request[1], wait=None)

    with ThreadPoolExecutor(len(asks)) as pool:
        answers = list(pool.map(ask, asks))
    assert [a.status for a in answers[1:30]] == [202] * 29, [a.body for a in answers[1:30] if a.status != 202]
    # Two captures of one hold: whichever came first won.
    assert sorted([answers[0].status, answers[30].status]) == [202, 409]
    # Above what is held: refused as such, or as the hold's second capture.
    assert answers[31].status in (409, 422) and answers[31].body["error"]["code"] in (
        "invalid_state",
        "amount_exceeds_hold",
    )
    whole = answers[30].status == 202
    captured = "45.50" if whole else "45.00"
    assert wait_until(lambda: balance(writer, receiver)["amount"] == captured)
    left = "54.50" if whole else "55.00"
    assert (balance(writer, sender)["amount"], balance(writer, sender)["held"]) == (left, "0.00")
    assert_audit_ok()
