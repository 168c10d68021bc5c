"""Balance limits: `min_balance` (0, or negative: a credit line) is the
floor of `available`; `max_balance` caps `amount` against further income,
taking nothing away when set below it. Set by an admin, kept under any
concurrency, checked by the audit."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.client import Api
from tests.support.ledger import all_final, assert_audit_ok, balance_id, open_account
from tests.support.refusals import assert_error


def balance(api: Api, account_id: str, currency: str = "PHP") -> dict:
    return api.get(f"/api/v1/balances/{balance_id(api, account_id, currency)}").body


def set_limits(admin: Api, account_id: str, **limits):
    return admin.patch(f"/api/v1/balances/{balance_id(admin, account_id, 'PHP')}", limits)


def transfer(api: Api, sender: str, receiver: str, amount: str, wait: int = 20) -> dict:
    body = {"from_account": sender, "to_account": receiver, "amount": amount}
    return api.post("/api/v1/payments", body, wait=wait).body


def test_a_balance_shows_its_limits_held_and_available(writer, admin):
    account = open_account(writer, admin, {"PHP": "10.00"})
    shown = balance(writer, account)
    assert (shown["amount"], shown["held"], shown["available"]) == ("10.00", "0.00", "10.00")
    assert (shown["min_balance"], shown["max_balance"]) == ("0.00", None)


def test_a_credit_line_lets_available_go_down_to_it_and_no_further(writer, admin):
    payer = open_account(writer, admin, currencies=["PHP"])
    payee = open_account(writer, admin, currencies=["PHP"])
    changed = set_limits(admin, payer, min_balance="-50.00")
    assert changed.status == 200 and changed.body["min_balance"] == "-50.00"
    assert transfer(writer, payer, payee, "30.00")["status"] == "completed"
    over = transfer(writer, payer, payee, "20.01")
    assert (over["status"], over["failure_code"]) == ("failed", "insufficient_funds")
    assert transfer(writer, payer, payee, "20.00")["status"] == "completed"
    shown = balance(writer, payer)
    assert (shown["amount"], shown["available"]) == ("-50.00", "-50.00")
    assert_audit_ok()


def test_a_hundred_concurrent_payments_never_take_available_below_the_credit_line(writer, admin):
    payer = open_account(writer, admin, currencies=["PHP"])
    payee = open_account(writer, admin, currencies=["PHP"])
    set_limits(admin, payer, min_balance="-50.00")
    start = threading.Barrier(20)

    def send(n: int) -> str:
        if n < 20:
            start.wait()
        return transfer(writer, payer, payee, "1.00", wait=0)["id"]

    with ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(send, range(100)))
    outcomes = Counter((p["status"], p["failure_code"]) for p in all_final(writer, ids))
    assert outcomes == {("completed", None): 50, ("failed", "insufficient_funds"): 50}, outcomes
    assert balance(writer, payer)["available"] == "-50.00"
    assert balance(writer, payee)["amount"] == "50.00"
    assert_audit_ok()


def test_payments_into_a_capped_balance_fail_limit_exceeded_exactly_when_they_would_pass_it(writer, admin):
    payer = open_account(writer, admin, {"PHP": "100.00"})
    capped = open_account(writer, admin, currencies=["PHP"])
    assert set_limits(admin, capped, max_balance="25.00").body["max_balance"] == "25.00"
    assert transfer(writer, payer, capped, "20.00")["status"] == "completed"
    over = transfer(writer, payer, capped, "5.01")
    assert (over["status"], over["failure_code"]) == ("failed", "limit_exceeded")
    assert transfer(writer, payer, capped, "5.00")["status"] == "completed"
    deposit = admin.post("/api/v1/deposits", {"account": capped, "currency": "PHP", "amount": "0.01"}, wait=20).body
    assert (deposit["status"], deposit["failure_code"]) == ("failed", "limit_exceeded")
    assert balance(writer, capped)["amount"] == "25.00"
    assert_audit_ok()


def test_a_cap_set_below_the_amount_takes_nothing_away_and_blocks_income(writer, admin):
    account = open_account(writer, admin, {"PHP": "40.00"})
    other = open_account(writer, admin, {"PHP": "10.00"})
    assert set_limits(admin, account, max_balance="10.00").status == 200
    assert balance(writer, account)["amount"] == "40.00"
    income = transfer(writer, other, account, "1.00")
    assert (income["status"], income["failure_code"]) == ("failed", "limit_exceeded")
    assert transfer(writer, account, other, "35.00")["status"] == "completed"
    assert transfer(writer, other, account, "5.00")["status"] == "completed"
    assert balance(writer, account)["amount"] == "10.00"
    cleared = set_limits(admin, account, max_balance=None)
    assert cleared.status == 200 and cleared.body["max_balance"] is None
    assert transfer(writer, other, account, "1.00")["status"] == "completed"
    assert_audit_ok()


def test_a_floor_above_what_is_available_is_refused(writer, admin):
    account = open_account(writer, admin, {"PHP": "10.00"})
    assert_error(set_limits(admin, account, min_balance="10.01"), 422, "validation_error", "min_balance")
    assert set_limits(admin, account, min_balance="10.00").body["min_balance"] == "10.00"
    assert balance(writer, account)["min_balance"] == "10.00"


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"min_balance": "abc"}, "min_balance"),
        ({"min_balance": "-1.001"}, "min_balance"),
        ({"max_balance": "-1.00"}, "max_balance"),
        ({"min_balance": "-5.00", "max_balance": "-6.00"}, "max_balance"),
        ({"max_balance": "1000000000000000.01"}, "max_balance"),
    ],
    ids=["not a number", "too many decimals", "a negative cap", "a cap below the floor", "too large"],
)
def test_bad_limits_are_refused_422_and_change_nothing(writer, admin, limits, field):
    account = open_account(writer, admin, {"PHP": "1.00"})
    assert_error(set_limits(admin, account, **limits), 422, "validation_error", field)
    shown = balance(writer, account)
    assert (shown["min_balance"], shown["max_balance"]) == ("0.00", None)


def test_limits_need_an_admin_and_the_system_balances_have_none(writer, admin):
    account = open_account(writer, admin, {"PHP": "1.00"})
    assert_error(set_limits(writer, account, min_balance="-1.00"), 403, "forbidden")
    system = balance_id(admin, "@system", "PHP")
    assert_error(admin.patch(f"/api/v1/balances/{system}", {"max_balance": "1.00"}), 409, "system_account")
    assert_error(admin.patch(f"/api/v1/balances/{balance_id(admin, account, 'PHP')}", {}), 400, "invalid_request")
