"""Exchanges (SPEC sections 2, 4 and 5): a transfer into another currency,
settled in one transaction through the `@system` balance of each currency,
at the rate in force at settlement, the target amount rounded down."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from tests.support.currencies import delete_rate, new_currency, put_rate
from tests.support.events import events_after, head_seq
from tests.support.ledger import assert_audit_ok, balances, final, open_account, pay, pending, system_balance
from tests.support.openapi import assert_matches_documentation
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def document(anonymous) -> dict:
    return anonymous.get("/api/v1/openapi.json").body


def exchange(sender: str, receiver: str, amount: str, currency: str, to_currency: str) -> dict:
    return {
        "from_account": sender,
        "to_account": receiver,
        "amount": amount,
        "currency": currency,
        "to_currency": to_currency,
    }


def test_exchange_moves_money_through_both_system_balances_in_four_entries(writer, admin, reader, document):
    pesos, coins = new_currency(admin, 2), new_currency(admin, 8)
    put_rate(admin, pesos, coins, "0.00001234")
    sender = open_account(writer, admin, {pesos: "100.00"})
    receiver = open_account(writer, admin, currencies=[coins])
    start = head_seq(reader)
    response = pay(writer, exchange(sender, receiver, "10.00", pesos, coins))
    assert response.status == 201, response.body
    assert_matches_documentation(document, "/api/v1/payments", "post", response)
    payment = response.body
    assert payment["kind"] == "exchange" and payment["status"] == "completed"
    assert (payment["amount"], payment["currency"]) == ("10.00", pesos)
    assert (payment["target_amount"], payment["target_currency"], payment["rate"]) == (
        "0.00012340",
        coins,
        "0.00001234",
    )
    assert [(e["account"], e["currency"], e["direction"], e["amount"]) for e in payment["entries"]] == [
        (sender, pesos, "outgoing", "10.00"),
        ("@system", pesos, "incoming", "10.00"),
        ("@system", coins, "outgoing", "0.00012340"),
        (receiver, coins, "incoming", "0.00012340"),
    ]
    assert balances(reader, sender) == {pesos: "90.00"}
    assert balances(reader, receiver) == {coins: "0.00012340"}
    assert system_balance(reader, pesos) == "-90.00" and system_balance(reader, coins) == "-0.00012340"

    def completed_event():
        found = [
            e
            for e in events_after(reader, start)
            if e["type"] == "payment.completed" and e["data"]["id"] == payment["id"]
        ]
        return found[0] if found else None

    event = wait_until(completed_event)
    assert [(b["account"], b["currency"], b["amount"]) for b in event["data"]["balances"]] == [
        (sender, pesos, "90.00"),
        ("@system", pesos, "-90.00"),
        ("@system", coins, "-0.00012340"),
        (receiver, coins, "0.00012340"),
    ]
    assert_audit_ok()


def test_target_amount_is_rounded_down_so_rounding_never_creates_money(writer, admin, reader):
    cents, whole = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, cents, whole, "0.333")
    sender = open_account(writer, admin, {cents: "100.00"})
    receiver = open_account(writer, admin, currencies=[whole])
    payment = pay(writer, exchange(sender, receiver, "10.00", cents, whole)).body
    # 10.00 x 0.333 = 3.33, and the target currency has no decimals.
    assert (payment["status"], payment["target_amount"]) == ("completed", "3")
    assert balances(reader, receiver) == {whole: "3"}
    assert system_balance(reader, cents) == "-90.00" and system_balance(reader, whole) == "-3"
    assert_audit_ok()


def test_exchange_that_would_buy_nothing_is_422_and_stores_nothing(writer, admin, reader):
    cents, whole = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, cents, whole, "0.333")
    sender = open_account(writer, admin, {cents: "100.00"})
    receiver = open_account(writer, admin, currencies=[whole])
    response = writer.post("/api/v1/payments", exchange(sender, receiver, "3.00", cents, whole))
    assert response.status == 422 and response.body["error"]["code"] == "validation_error"
    assert "amount" in response.body["error"]["fields"]
    assert [p["kind"] for p in reader.get(f"/api/v1/accounts/{sender}/payments").body["data"]] == ["deposit"]


def test_own_account_exchanges_between_its_two_balances(writer, admin, reader):
    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, dollars, yen, "151.5")
    account = open_account(writer, admin, {dollars: "20.00"}, currencies=[yen])
    payment = pay(writer, exchange(account, account, "2.50", dollars, yen)).body
    assert (payment["status"], payment["kind"], payment["target_amount"]) == ("completed", "exchange", "378")
    assert payment["from_account"] == payment["to_account"] == account
    assert balances(reader, account) == {dollars: "17.50", yen: "378"}
    same = writer.post("/api/v1/payments", exchange(account, account, "1.00", dollars, dollars))
    assert same.status == 422 and same.body["error"]["code"] == "same_balance"
    assert_audit_ok()


def test_exchange_shows_each_side_in_its_own_currency_in_account_histories(writer, admin, reader):
    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, dollars, yen, "100")
    sender = open_account(writer, admin, {dollars: "5.00"})
    receiver = open_account(writer, admin, currencies=[yen])
    pay(writer, exchange(sender, receiver, "1.25", dollars, yen))
    outgoing = reader.get(f"/api/v1/accounts/{sender}/payments").body["data"][0]
    incoming = reader.get(f"/api/v1/accounts/{receiver}/payments").body["data"][0]
    assert (outgoing["direction"], outgoing["amount"], outgoing["currency"]) == ("outgoing", "1.25", dollars)
    assert (incoming["direction"], incoming["amount"], incoming["currency"]) == ("incoming", "125", yen)


def test_the_payments_of_a_currency_are_those_out_of_it_and_those_into_it(writer, admin, reader):
    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, dollars, yen, "100")
    sender = open_account(writer, admin, {dollars: "5.00"})
    receiver = open_account(writer, admin, currencies=[yen])
    into_yen = pay(writer, exchange(sender, receiver, "1.25", dollars, yen)).body["id"]
    listed = {p["id"] for p in reader.get("/api/v1/payments", params={"currency": yen}).body["data"]}
    assert listed == {into_yen}
    of_dollars = reader.get("/api/v1/payments", params={"currency": dollars, "account": sender}).body["data"]
    assert into_yen in {p["id"] for p in of_dollars}


def test_exchange_without_a_rate_is_422_rate_unavailable_and_stores_nothing(writer, admin, reader):
    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, yen, dollars, "0.0066")  # the other direction only
    sender = open_account(writer, admin, {dollars: "5.00"})
    receiver = open_account(writer, admin, currencies=[yen])
    response = writer.post("/api/v1/payments", exchange(sender, receiver, "1.00", dollars, yen))
    assert response.status == 422 and response.body["error"]["code"] == "rate_unavailable"
    no_balance = writer.post("/api/v1/payments", exchange(sender, sender, "1.00", dollars, yen))
    assert no_balance.status == 422 and no_balance.body["error"]["code"] == "currency_mismatch"
    assert balances(reader, sender) == {dollars: "5.00"}


def test_exchange_pending_when_its_rate_is_removed_fails_rate_unavailable(writer, admin, reader):
    from models.intake import submit_transfer
    from models.settlement import settle_payment

    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, dollars, yen, "150")
    sender = open_account(writer, admin, {dollars: "5.00"})
    receiver = open_account(writer, admin, currencies=[yen])
    payment = pending(submit_transfer, exchange(sender, receiver, "1.00", dollars, yen))
    assert delete_rate(admin, dollars, yen).status == 200
    assert settle_payment(payment.id) == "failed"
    failed = reader.get(f"/api/v1/payments/{payment.id}").body
    assert (failed["status"], failed["failure_code"], failed["entries"]) == ("failed", "rate_unavailable", [])
    assert balances(reader, sender) == {dollars: "5.00"} and balances(reader, receiver) == {yen: "0"}
    assert_audit_ok()


def test_exchanges_pending_when_the_rate_changes_settle_at_the_new_rate(writer, admin, reader):
    from models.intake import submit_transfer
    from models.settlement import settle_payment

    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, dollars, yen, "150")
    sender = open_account(writer, admin, {dollars: "30.00"})
    receiver = open_account(writer, admin, currencies=[yen])
    waiting = [pending(submit_transfer, exchange(sender, receiver, "10.00", dollars, yen)) for _ in range(3)]
    quoted = reader.get(f"/api/v1/payments/{waiting[0].id}").body
    assert (quoted["status"], quoted["rate"], quoted["target_amount"]) == ("pending", "150", "1500")
    put_rate(admin, dollars, yen, "149.25")
    assert [settle_payment(p.id) for p in waiting] == ["completed"] * 3
    for payment in waiting:
        settled = reader.get(f"/api/v1/payments/{payment.id}").body
        assert (settled["rate"], settled["target_amount"]) == ("149.25", "1492")
    assert balances(reader, receiver) == {yen: "4476"}
    assert_audit_ok()


def test_exchange_that_the_new_rate_prices_at_nothing_fails_target_out_of_range(writer, admin, reader):
    from models.intake import submit_transfer
    from models.settlement import settle_payment

    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    put_rate(admin, dollars, yen, "150")
    sender = open_account(writer, admin, {dollars: "1.00"})
    receiver = open_account(writer, admin, currencies=[yen])
    payment = pending(submit_transfer, exchange(sender, receiver, "0.01", dollars, yen))
    put_rate(admin, dollars, yen, "50")
    assert settle_payment(payment.id) == "failed"
    assert reader.get(f"/api/v1/payments/{payment.id}").body["failure_code"] == "target_out_of_range"
    assert balances(reader, sender) == {dollars: "1.00"}


def test_exchanges_racing_rate_changes_each_settle_at_the_rate_in_force_when_they_settle(writer, admin, reader):
    dollars, yen = new_currency(admin, 2), new_currency(admin, 0)
    rates = ("150", "149.5")
    put_rate(admin, dollars, yen, rates[0])
    senders = [open_account(writer, admin, {dollars: "100.00"}) for _ in range(4)]
    receiver = open_account(writer, admin, currencies=[yen])
    barrier = threading.Barrier(9)

    def send(n: int) -> list[str]:
        barrier.wait()
        ids = []
        for _ in range(8):
            response = writer.post("/api/v1/payments", exchange(senders[n % 4], receiver, "3.00", dollars, yen))
            assert response.status == 202, response.body
            ids.append(response.body["id"])
        return ids

    def flip() -> None:
        barrier.wait()
        for n in range(1, 21):
            put_rate(admin, dollars, yen, rates[n % 2])

    with ThreadPoolExecutor(9) as pool:
        flipping = pool.submit(flip)
        ids = [payment_id for batch in pool.map(send, range(8)) for payment_id in batch]
        flipping.result()
    payments = [final(reader, payment_id) for payment_id in ids]
    history = reader.get(f"/api/v1/rates/{dollars}/{yen}/history", params={"limit": 500}).body["data"]
    assert len(history) == 21
    for payment in payments:
        assert payment["status"] == "completed", payment
        in_force = next(line["rate"] for line in history if line["set_at"] <= payment["settled_at"])
        assert payment["rate"] == in_force, (payment, history)
        assert Decimal(payment["target_amount"]) == (Decimal(payment["amount"]) * Decimal(in_force)).to_integral_value(
            rounding="ROUND_FLOOR"
        )
    assert {p["rate"] for p in payments} <= set(rates)
    total = sum(Decimal(p["target_amount"]) for p in payments)
    assert balances(reader, receiver) == {yen: str(total)}
    assert_audit_ok()
