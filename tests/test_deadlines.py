"""Deadlines (`settle_by`): a payment still pending at its deadline fails
`deadline_exceeded` and never completes afterwards; the processes' clocks
fail overdue payments within a second or two, the web process's too, so
while the workers are down as well."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest

from models.intake import submit_transfer
from models.settlement import settle_payment
from tests.support.environment import CONFIG
from tests.support.events import events_after, head_seq
from tests.support.ledger import assert_audit_ok, open_account, pending
from tests.support.refusals import assert_error
from tests.support.waiting import wait_until


def rfc3339(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat().replace("+00:00", "Z")


def status_of(api, payment_id: str) -> tuple[str, str | None]:
    body = api.get(f"/api/v1/payments/{payment_id}").body
    return body["status"], body["failure_code"]


def test_a_payment_still_pending_at_its_deadline_fails_deadline_exceeded_within_two_seconds(writer, admin):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    after = head_seq(admin)
    # Accepted but not queued: it stays pending until the clock ends it.
    payment = pending(
        submit_transfer, {"from_account": payer, "to_account": payee, "amount": "1.00", "settle_by": rfc3339(1)}
    )
    assert writer.get(f"/api/v1/payments/{payment.id}").body["settle_by"] is not None
    started = time.monotonic()
    assert wait_until(lambda: status_of(writer, payment.id)[0] != "pending", timeout=10)
    assert status_of(writer, payment.id) == ("failed", "deadline_exceeded")
    assert time.monotonic() - started < 4
    assert wait_until(
        lambda: [
            e for e in events_after(admin, after) if e["type"] == "payment.failed" and e["data"]["id"] == payment.id
        ]
    )
    assert writer.get(f"/api/v1/accounts/{payer}").body["balances"][0]["amount"] == "10.00"
    assert_audit_ok()


def test_settlement_after_the_deadline_never_completes_the_payment(writer, admin):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    for _ in range(3):
        payment = pending(
            submit_transfer, {"from_account": payer, "to_account": payee, "amount": "1.00", "settle_by": rfc3339(0.3)}
        )
        time.sleep(0.35)
        settle_payment(payment.id)  # the clock may have failed it first: either way, it fails
        assert status_of(writer, payment.id) == ("failed", "deadline_exceeded")
    assert writer.get(f"/api/v1/accounts/{payee}").body["balances"][0]["amount"] == "0.00"
    assert_audit_ok()


def test_a_payment_settled_before_its_deadline_completes(writer, admin):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "1.00", "settle_by": rfc3339(60)}
    assert writer.post("/api/v1/payments", body, wait=20).body["status"] == "completed"


@pytest.mark.parametrize(
    ("settle_by", "status", "code"),
    [
        ("2001-01-01T00:00:00Z", 422, "validation_error"),
        ("tomorrow", 422, "validation_error"),
        ("2030-01-01T00:00:00", 422, "validation_error"),
        ("2030-01-01", 422, "validation_error"),
        (1893456000, 400, "invalid_request"),
    ],
    ids=["in the past", "not a time", "without an offset", "a date alone", "a number"],
)
def test_a_bad_deadline_is_refused_and_stores_nothing(writer, admin, settle_by, status, code):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    before = writer.get("/api/v1/payments", params={"account": payer}).body["data"]
    body = {"from_account": payer, "to_account": payee, "amount": "1.00", "settle_by": settle_by}
    assert_error(writer.post("/api/v1/payments", body), status, code, "settle_by")
    assert writer.get("/api/v1/payments", params={"account": payer}).body["data"] == before


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.database_url, reason="the workers are processes of their own with services")
def test_deadlines_are_kept_while_the_workers_are_down_and_after_they_come_back(gateway, writer, admin):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    for worker in gateway.workers:
        os.kill(worker.pid, signal.SIGSTOP)
    try:
        body = {"from_account": payer, "to_account": payee, "amount": "1.00", "settle_by": rfc3339(1)}
        payment = writer.post("/api/v1/payments", body).body
        assert payment["status"] == "pending"
        assert wait_until(lambda: status_of(writer, payment["id"])[0] != "pending", timeout=6)
        assert status_of(writer, payment["id"]) == ("failed", "deadline_exceeded")
    finally:
        for worker in gateway.workers:
            os.kill(worker.pid, signal.SIGCONT)
    # Back at work, the workers settle the next payment and leave this one failed.
    assert writer.post("/api/v1/payments", {**body, "settle_by": None}, wait=20).body["status"] == "completed"
    assert status_of(writer, payment["id"]) == ("failed", "deadline_exceeded")
    assert_audit_ok()
