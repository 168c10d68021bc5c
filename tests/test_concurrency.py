"""Atomicity, ordering and idempotency under real concurrency.

On PostgreSQL these run against two separate worker processes (four threads
each) and a web server taking requests from many client threads; embedded,
against the in-process consumer. Every test ends with the audit.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.support.environment import CONFIG
from tests.support.ledger import all_final, amounts, assert_audit_ok, open_account


def test_thirty_concurrent_payments_of_five_from_one_hundred_leave_exactly_twenty(writer, admin):
    payer = open_account(writer, admin, {"PHP": "100.00"})
    payees = [open_account(writer, admin, currencies=["PHP"]) for _ in range(3)]
    barrier = threading.Barrier(30)

    def pay(n: int) -> str:
        barrier.wait()
        body = {"from_account": payer, "to_account": payees[n % 3], "amount": "5.00"}
        response = writer.post("/api/v1/payments", body)
        assert response.status == 202, response.body
        return response.body["id"]

    with ThreadPoolExecutor(30) as pool:
        ids = list(pool.map(pay, range(30)))
    outcomes = Counter((p["status"], p["failure_code"]) for p in all_final(writer, ids))
    assert outcomes == {("completed", None): 20, ("failed", "insufficient_funds"): 10}
    assert amounts(writer, payer) == {"PHP": Decimal("0.00")}
    assert sum(amounts(writer, p)["PHP"] for p in payees) == Decimal("100.00")
    assert_audit_ok()


@pytest.mark.slow
def test_two_thousand_random_payments_among_ten_hot_balances_keep_every_invariant(writer, admin):
    accounts = [open_account(writer, admin, {"PHP": "300.00"}) for _ in range(10)]
    before = {a: amounts(writer, a)["PHP"] for a in accounts}
    rng = random.Random(20261126)
    orders = []
    for _ in range(2000):
        sender, receiver = rng.sample(accounts, 2)
        orders.append((sender, receiver, f"{rng.randint(1, 6000) / 100:.2f}"))

    def pay(order) -> str:
        sender, receiver, amount = order
        response = writer.post("/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": amount})
        assert response.status == 202, response.body
        return response.body["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(pay, orders))
    payments = all_final(writer, ids)

    statuses = Counter(p["status"] for p in payments)
    assert statuses["completed"] + statuses["failed"] == 2000
    assert statuses["completed"] > 0 and statuses["failed"] > 0, statuses
    assert {p["failure_code"] for p in payments if p["status"] == "failed"} == {"insufficient_funds"}
    change: dict[str, Decimal] = defaultdict(Decimal)
    for payment in payments:
        if payment["status"] == "completed":
            change[payment["from_account"]] -= Decimal(payment["amount"])
            change[payment["to_account"]] += Decimal(payment["amount"])
    for account in accounts:
        after = amounts(writer, account)["PHP"]
        assert after == before[account] + change[account]
        assert after >= 0
    assert sum(amounts(writer, a)["PHP"] for a in accounts) == sum(before.values())
    assert_audit_ok()


def test_concurrent_requests_with_one_idempotency_key_create_one_payment(writer, admin):
    payer = open_account(writer, admin, {"PHP": "100.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    barrier = threading.Barrier(12)
    body = {"from_account": payer, "to_account": payee, "amount": "1.00"}

    def pay(_: int):
        barrier.wait()
        return writer.post("/api/v1/payments", body, headers={"Idempotency-Key": f"order-{payer}"})

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(pay, range(12)))
    assert {r.status for r in responses} <= {200, 202}
    assert len({r.body["id"] for r in responses}) == 1
    assert sum(r.header("Idempotent-Replayed") == "true" for r in responses) == 11
    history = writer.get(f"/api/v1/accounts/{payer}/payments").body["data"]
    assert [h["kind"] for h in history] == ["transfer", "deposit"]
    all_final(writer, [responses[0].body["id"]])
    assert amounts(writer, payer) == {"PHP": Decimal("99.00")}
    assert_audit_ok()


def test_settling_one_payment_from_many_threads_settles_it_once(writer, admin):
    from models.intake import submit_transfer
    from models.retry import retried_transaction
    from models.settlement import settle_payment

    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "10.00"}
    payment = retried_transaction(lambda: submit_transfer(body, lambda: None))
    barrier = threading.Barrier(8)

    def settle(_: int):
        barrier.wait()
        return settle_payment(payment.id)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(settle, range(8)))
    assert Counter(results) == {"completed": 1, None: 7}
    detail = writer.get(f"/api/v1/payments/{payment.id}").body
    assert detail["status"] == "completed" and len(detail["entries"]) == 2
    assert amounts(writer, payee) == {"PHP": Decimal("10.00")}
    assert_audit_ok()


def test_sweeper_requeues_a_payment_whose_task_was_lost(writer, admin):
    from datetime import timedelta

    from models.connection import utcnow
    from models.intake import submit_transfer
    from models.ledger import Payment
    from models.retry import retried_transaction
    from tasks.settlement import Settlement

    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "4.00"}
    lost = retried_transaction(lambda: submit_transfer(body, lambda: None))
    retried_transaction(
        lambda: Payment.update(created_at=utcnow() - timedelta(minutes=5)).where(Payment.id == lost.id).execute()
    )
    assert writer.get(f"/api/v1/payments/{lost.id}").body["status"] == "pending"
    assert Settlement(CONFIG).sweep_pending() >= 1
    assert all_final(writer, [lost.id])[0]["status"] == "completed"
    assert amounts(writer, payee) == {"PHP": Decimal("4.00")}
