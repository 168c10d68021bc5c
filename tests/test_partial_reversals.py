"""Partial reversals: a payment may be reversed several times while its
reversals that have not failed sum to at most what it moved; an exchange
goes back at its own rate, rounded so that rounding never creates money."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from tests.support.currencies import new_currency, put_rate
from tests.support.ledger import (
    all_final,
    amounts,
    assert_audit_ok,
    balances,
    completed_transfer,
    open_account,
    pay,
    reverse,
)
from tests.support.refusals import assert_error


def test_a_payment_is_reversed_in_parts_up_to_its_amount_and_no_more(writer, admin, reader):
    sender, receiver, original = completed_transfer(writer, admin, funds="50.00", amount="20.00")
    first = reverse(admin, original["id"], {"amount": "5.00"}, wait=20).body
    second = reverse(admin, original["id"], {"amount": "7.50"}, wait=20).body
    assert (first["status"], first["amount"], second["status"], second["amount"]) == (
        "completed",
        "5.00",
        "completed",
        "7.50",
    )
    shown = reader.get(f"/api/v1/payments/{original['id']}").body
    assert shown["reversed_amount"] == "12.50" and shown["reversals"] == [first["id"], second["id"]]
    assert shown["reversed_by"] == second["id"]
    over = reverse(admin, original["id"], {"amount": "7.51"})
    assert_error(over, 422, "amount_exceeds_remaining", "amount")
    rest = reverse(admin, original["id"], wait=20).body
    assert (rest["status"], rest["amount"]) == ("completed", "7.50")
    assert_error(reverse(admin, original["id"], {"amount": "0.01"}), 422, "amount_exceeds_remaining")
    assert balances(reader, sender) == {"PHP": "50.00"} and balances(reader, receiver) == {"PHP": "0.00"}
    assert_audit_ok()


def test_twenty_racing_partial_reversals_never_take_back_more_than_the_payment(writer, admin, reader):
    sender, receiver, original = completed_transfer(writer, admin, funds="50.00", amount="10.00")
    start = threading.Barrier(20)

    def attempt(_: int):
        start.wait()
        return reverse(admin, original["id"], {"amount": "3.00"})

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(attempt, range(20)))
    outcomes = Counter((a.status, (a.body.get("error") or {}).get("code")) for a in answers)
    assert outcomes == {(202, None): 3, (422, "amount_exceeds_remaining"): 17}, outcomes
    accepted = [a.body["id"] for a in answers if a.status == 202]
    assert all(p["status"] == "completed" for p in all_final(reader, accepted))
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_amount"] == "9.00"
    assert balances(reader, receiver) == {"PHP": "1.00"}
    assert_audit_ok()


def test_a_failed_partial_reversal_gives_its_share_back_to_be_reversed_again(writer, admin, reader):
    sender, receiver, original = completed_transfer(writer, admin, funds="50.00", amount="20.00")
    elsewhere = open_account(writer, admin, currencies=["PHP"])
    assert (
        pay(writer, {"from_account": receiver, "to_account": elsewhere, "amount": "15.00"}).body["status"]
        == "completed"
    )
    failed = reverse(admin, original["id"], {"amount": "10.00"}, wait=20).body
    assert (failed["status"], failed["failure_code"]) == ("failed", "insufficient_funds")
    shown = reader.get(f"/api/v1/payments/{original['id']}").body
    assert shown["reversed_amount"] == "0.00" and shown["reversed_by"] is None
    assert shown["reversals"] == [failed["id"]]
    assert reverse(admin, original["id"], {"amount": "5.00"}, wait=20).body["status"] == "completed"
    assert reader.get(f"/api/v1/payments/{original['id']}").body["reversed_amount"] == "5.00"
    assert_audit_ok()


def test_an_exchange_is_reversed_in_parts_at_its_own_rate_rounded_down_the_last_part_returning_the_rest(
    writer, admin, reader
):
    coin = new_currency(admin, 2)
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=[coin])
    put_rate(admin, "PHP", coin, "3")
    exchange = pay(
        writer, {"from_account": sender, "to_account": receiver, "amount": "10.00", "to_currency": coin}
    ).body
    assert (exchange["status"], exchange["target_amount"]) == ("completed", "30.00")
    # 10.00 of 30.00 back: a third of 10.00 PHP is 3.333..., rounded down.
    first = reverse(admin, exchange["id"], {"amount": "10.00"}, wait=20).body
    assert (first["amount"], first["currency"], first["target_amount"], first["target_currency"]) == (
        "10.00",
        coin,
        "3.33",
        "PHP",
    )
    second = reverse(admin, exchange["id"], {"amount": "10.00"}, wait=20).body
    assert second["target_amount"] == "3.33"
    assert_error(reverse(admin, exchange["id"], {"amount": "10.01"}), 422, "amount_exceeds_remaining", "amount")
    last = reverse(admin, exchange["id"], wait=20).body
    assert (last["amount"], last["target_amount"]) == ("10.00", "3.34")
    assert amounts(reader, sender) == {"PHP": Decimal("10.00")}
    assert amounts(reader, receiver) == {coin: Decimal("0.00")}
    assert reader.get(f"/api/v1/payments/{exchange['id']}").body["reversed_amount"] == "30.00"
    assert_audit_ok()
