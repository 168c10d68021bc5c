"""Payment groups: an atomic group settles all or nothing (a payment and
its fee, a split); any other group settles each payment on its own (a bulk
payout). The whole request is judged first: if any payment is refused,
nothing is stored."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from tests.support.client import Api
from tests.support.events import events_after, head_seq
from tests.support.ledger import all_final, amounts, assert_audit_ok, open_account
from tests.support.refusals import assert_error
from tests.support.waiting import wait_until


def send_group(api: Api, atomic: bool, payments: list[dict], **kwargs):
    return api.post("/api/v1/payment-groups", {"atomic": atomic, "payments": payments}, **kwargs)


def group_over(api: Api, group_id: str) -> dict:
    assert wait_until(lambda: api.get(f"/api/v1/payment-groups/{group_id}").body["status"] != "pending", timeout=60)
    return api.get(f"/api/v1/payment-groups/{group_id}").body


def entries_of(api: Api, payment_id: str) -> list:
    return api.get(f"/api/v1/payments/{payment_id}").body["entries"]


def test_a_payment_and_its_fee_settle_together(writer, admin):
    payer = open_account(writer, admin, {"PHP": "100.00"})
    merchant, fees = open_account(writer, admin, currencies=["PHP"]), open_account(writer, admin, currencies=["PHP"])
    after = head_seq(admin)
    answer = send_group(
        writer,
        True,
        [
            {"from_account": payer, "to_account": merchant, "amount": "50.00", "reference": "order-1"},
            {"from_account": payer, "to_account": fees, "amount": "1.50", "reference": "order-1-fee"},
        ],
        wait=20,
    )
    assert answer.status == 201, answer.body
    group = answer.body
    assert (group["atomic"], group["status"], group["size"], group["completed"]) == (True, "completed", 2, 2)
    assert [p["reference"] for p in group["payments"]] == ["order-1", "order-1-fee"]
    assert all(p["status"] == "completed" and p["group"] == group["id"] for p in group["payments"])
    assert amounts(writer, payer) == {"PHP": Decimal("48.50")}
    assert wait_until(
        lambda: [
            e
            for e in events_after(admin, after)
            if e["type"] == "payment_group.completed" and e["data"]["id"] == group["id"]
        ]
    )
    assert_audit_ok()


def test_an_atomic_group_whose_fee_cannot_be_paid_leaves_no_entry_at_all(writer, admin):
    payer = open_account(writer, admin, {"PHP": "50.00"})
    merchant, fees = open_account(writer, admin, currencies=["PHP"]), open_account(writer, admin, currencies=["PHP"])
    after = head_seq(admin)
    group = send_group(
        writer,
        True,
        [
            {"from_account": payer, "to_account": merchant, "amount": "50.00"},
            {"from_account": payer, "to_account": fees, "amount": "1.50"},
        ],
        wait=20,
    ).body
    assert (group["status"], group["failed"], group["completed"]) == ("failed", 2, 0)
    codes = [(p["status"], p["failure_code"]) for p in group["payments"]]
    assert codes == [("failed", "group_failed"), ("failed", "insufficient_funds")]
    assert all(entries_of(writer, p["id"]) == [] for p in group["payments"])
    assert amounts(writer, payer) == {"PHP": Decimal("50.00")}
    assert amounts(writer, merchant) == {"PHP": Decimal("0.00")}
    assert wait_until(
        lambda: [
            e
            for e in events_after(admin, after)
            if e["type"] == "payment_group.failed" and e["data"]["id"] == group["id"]
        ]
    )
    assert_audit_ok()


def test_a_bulk_payout_of_a_thousand_settles_each_payment_on_its_own(writer, admin):
    payer = open_account(writer, admin, {"PHP": "900.00"})
    payees = [open_account(writer, admin, currencies=["PHP"]) for _ in range(10)]
    payments = [{"from_account": payer, "to_account": payees[n % 10], "amount": "1.00"} for n in range(1000)]
    answer = send_group(writer, False, payments)
    assert answer.status == 202 and answer.body["status"] == "pending", answer.body
    group = group_over(writer, answer.body["id"])
    assert (group["status"], group["completed"], group["failed"]) == ("completed", 900, 100)
    outcomes = Counter(
        (p["status"], p["failure_code"]) for p in all_final(writer, [p["id"] for p in group["payments"]])
    )
    assert outcomes == {("completed", None): 900, ("failed", "insufficient_funds"): 100}
    # Settled in the order sent: the first 900 completed.
    assert [p["status"] for p in group["payments"][:900]] == ["completed"] * 900
    assert amounts(writer, payer) == {"PHP": Decimal("0.00")}
    assert_audit_ok()


@pytest.mark.parametrize(
    ("atomic", "count", "field"),
    [(True, 51, "payments"), (False, 1001, "payments"), (True, 0, "payments")],
    ids=["51 atomic", "1,001", "none"],
)
def test_a_group_of_the_wrong_size_is_refused(writer, admin, atomic, count, field):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    payments = [{"from_account": payer, "to_account": payee, "amount": "0.01"}] * count
    assert_error(send_group(writer, atomic, payments), 422, "validation_error", field)


@pytest.mark.parametrize("payment", [None, "x", 1, ["PHP"]])
def test_a_group_payment_that_is_not_an_object_is_400_naming_it(writer, payment):
    response = writer.post("/api/v1/payment-groups", {"atomic": False, "payments": [payment]})
    assert_error(response, 400, "invalid_request", "payments[0].body")


@pytest.mark.parametrize("payments", [{}, "all", 3])
def test_a_group_whose_payments_are_not_a_list_is_400_naming_them(writer, payments):
    response = writer.post("/api/v1/payment-groups", {"atomic": True, "payments": payments})
    assert_error(response, 400, "invalid_request", "payments")


def test_a_group_with_a_refused_payment_stores_nothing_and_names_it(writer, admin):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    before = writer.get("/api/v1/payments", params={"account": payer}).body["data"]
    payments = [
        {"from_account": payer, "to_account": payee, "amount": "1.00"},
        {"from_account": payer, "to_account": payee, "amount": "-1.00"},
        {"from_account": payer, "to_account": "no-such-account", "amount": "1.00"},
    ]
    error = assert_error(send_group(writer, False, payments), 422, "validation_error")
    assert set(error["fields"]) == {"payments[1].amount", "payments[2].to_account"}, error
    wrong_shape = send_group(
        writer, True, [{"from_account": payer, "to_account": payee, "amount": "1", "capture": "manual"}]
    )
    assert_error(wrong_shape, 400, "invalid_request", "payments[0].capture")
    assert writer.get("/api/v1/payments", params={"account": payer}).body["data"] == before


def test_a_group_is_read_back_with_its_payments_in_the_order_sent(writer, admin, reader):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payees = [open_account(writer, admin, currencies=["PHP"]) for _ in range(5)]
    group = send_group(writer, False, [{"from_account": payer, "to_account": p, "amount": "1.00"} for p in payees]).body
    shown = reader.get(f"/api/v1/payment-groups/{group['id']}").body
    assert [p["to_account"] for p in shown["payments"]] == payees
    assert_error(reader.get("/api/v1/payment-groups/grp_nosuchthing"), 404, "not_found")
    assert_error(reader.post("/api/v1/payment-groups", {"atomic": True, "payments": []}), 403, "forbidden")
