"""Custom currencies with any exponent from 0 to 18 (SPEC sections 2 and 3):
amounts far beyond 64 bits of minor units stay exact through deposits,
transfers, exchanges, reversals, withdrawals, statements and the audit.

10^15 major units at 18 decimals is 10^33 minor units; 2^63 is about 9.2 x 10^18.
"""

from __future__ import annotations

import pytest

from tests.support.currencies import new_currency, put_rate
from tests.support.ledger import assert_audit_ok, balance_id, balances, open_account, pay, system_balance

MOST = "1000000000000000.000000000000000000"  # 10^15 major units, the largest amount
ONE_LESS = "999999999999999.999999999999999999"  # the largest minus one minor unit


@pytest.fixture(scope="module")
def eth(admin) -> str:
    return new_currency(admin, 18, "Ether-like")


@pytest.fixture(scope="module")
def wei_coin(admin) -> str:
    return new_currency(admin, 18, "Another 18-decimal coin")


def test_the_largest_amount_at_18_decimals_is_deposited_transferred_and_withdrawn_exactly(writer, admin, reader, eth):
    payer = open_account(writer, admin, {eth: MOST})
    payee = open_account(writer, admin, currencies=[eth])
    again = admin.post("/api/v1/deposits", {"account": payer, "currency": eth, "amount": MOST}, wait=20).body
    assert again["status"] == "completed" and again["amount"] == MOST
    assert balances(reader, payer) == {eth: "2000000000000000.000000000000000000"}
    sent = pay(writer, {"from_account": payer, "to_account": payee, "amount": ONE_LESS}).body
    assert sent["status"] == "completed" and sent["amount"] == ONE_LESS
    assert balances(reader, payer) == {eth: "1000000000000000.000000000000000001"}
    assert balances(reader, payee) == {eth: ONE_LESS}
    statement = reader.get(f"/api/v1/balances/{balance_id(reader, payer, eth)}/entries").body["data"]
    assert [(e["direction"], e["amount"], e["balance_after"]) for e in statement] == [
        ("incoming", MOST, MOST),
        ("incoming", MOST, "2000000000000000.000000000000000000"),
        ("outgoing", ONE_LESS, "1000000000000000.000000000000000001"),
    ]
    out = admin.post("/api/v1/withdrawals", {"account": payee, "currency": eth, "amount": ONE_LESS}, wait=20).body
    assert out["status"] == "completed" and balances(reader, payee) == {eth: "0.000000000000000000"}
    assert_audit_ok()


def test_an_amount_over_the_largest_is_refused_at_any_exponent(writer, admin, eth):
    account = open_account(writer, admin, currencies=[eth])
    over = admin.post(
        "/api/v1/deposits", {"account": account, "currency": eth, "amount": "1000000000000000.000000000000000001"}
    )
    assert over.status == 422 and "amount" in over.body["error"]["fields"]
    too_fine = admin.post("/api/v1/deposits", {"account": account, "currency": eth, "amount": "1.0000000000000000001"})
    assert too_fine.status == 422 and "amount" in too_fine.body["error"]["fields"]


def test_the_largest_exchange_between_18_decimal_currencies_and_its_reversal_are_exact(
    writer, admin, reader, eth, wei_coin
):
    put_rate(admin, eth, wei_coin, "0.999999999999999999")
    sender = open_account(writer, admin, {eth: MOST})
    receiver = open_account(writer, admin, currencies=[wei_coin])
    system_eth, system_coin = system_balance(reader, eth), system_balance(reader, wei_coin)
    body = {"from_account": sender, "to_account": receiver, "amount": MOST, "currency": eth, "to_currency": wei_coin}
    exchange = pay(writer, body).body
    # 10^33 minor units x 0.999999999999999999 = 10^33 - 10^15 minor units, exactly.
    assert (exchange["status"], exchange["target_amount"]) == ("completed", "999999999999999.999000000000000000")
    assert balances(reader, sender) == {eth: "0.000000000000000000"}
    assert balances(reader, receiver) == {wei_coin: "999999999999999.999000000000000000"}
    assert_audit_ok()
    reversal = admin.post(f"/api/v1/payments/{exchange['id']}/reverse", wait=20).body
    assert (reversal["status"], reversal["amount"], reversal["target_amount"]) == (
        "completed",
        "999999999999999.999000000000000000",
        MOST,
    )
    assert balances(reader, sender) == {eth: MOST}
    assert balances(reader, receiver) == {wei_coin: "0.000000000000000000"}
    assert (system_balance(reader, eth), system_balance(reader, wei_coin)) == (system_eth, system_coin)
    assert_audit_ok()


def test_exchanges_across_exponents_0_and_18_are_exact(writer, admin, reader, eth):
    whole = new_currency(admin, 0)
    put_rate(admin, whole, eth, "0.000000000000000001")
    put_rate(admin, eth, whole, "999999999999999999")
    account = open_account(writer, admin, {whole: "1000000000000000"}, currencies=[eth])
    down = {"from_account": account, "to_account": account, "amount": "1000000000000000", "currency": whole}
    first = pay(writer, {**down, "to_currency": eth}).body
    assert (first["status"], first["target_amount"]) == ("completed", "0.001000000000000000")
    back = {"from_account": account, "to_account": account, "currency": eth, "to_currency": whole}
    # One minor unit buys 0.999999999999999999 of a whole unit: nothing after rounding down.
    nothing = writer.post("/api/v1/payments", {**back, "amount": "0.000000000000000001"})
    assert nothing.status == 422 and "amount" in nothing.body["error"]["fields"]
    second = pay(writer, {**back, "amount": "0.000000000000000002"}).body
    assert (second["status"], second["target_amount"]) == ("completed", "1")
    assert balances(reader, account) == {whole: "1", eth: "0.000999999999999998"}
    assert_audit_ok()


def test_an_exchange_that_would_buy_more_than_the_largest_amount_is_refused(writer, admin, eth, wei_coin):
    put_rate(admin, wei_coin, eth, "2")
    account = open_account(writer, admin, {wei_coin: MOST}, currencies=[eth])
    body = {"from_account": account, "to_account": account, "amount": MOST, "currency": wei_coin, "to_currency": eth}
    refused = writer.post("/api/v1/payments", body)
    assert refused.status == 422 and "amount" in refused.body["error"]["fields"]


def test_the_audit_sums_18_decimal_balances_exactly(admin, eth, wei_coin):
    report = admin.get("/api/v1/audit").body
    assert report["ok"], report["problems"][:5]
    totals = {row["currency"]: row["total"] for row in report["currencies"]}
    assert totals[eth] == totals[wei_coin] == "0.000000000000000000"
