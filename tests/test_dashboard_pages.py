"""What an admin does on each dashboard page (SPEC section 7), seen through
the HTML the page returns, and checked against the API: the dashboard calls
the same domain functions, so what it does is what the API shows."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.support.ledger import open_account, unique
from tests.support.pages import logged_in
from tests.support.waiting import wait_until
from tools.dashboard import Session


@pytest.fixture(scope="module")
def session(gateway) -> Session:
    return logged_in(gateway.url)


def settled(admin, account_id: str) -> bool:
    history = admin.get(f"/api/v1/accounts/{account_id}/payments").body["data"]
    return all(item["status"] != "pending" for item in history)


def test_the_overview_shows_payments_per_status_the_funds_held_and_the_newest_payments(session, writer, admin):
    account_id = open_account(writer, admin, {"PHP": "321.00"})
    payment_id = admin.get(f"/api/v1/accounts/{account_id}/payments").body["data"][0]["payment_id"]
    page = session.get("/?currency=PHP")
    assert page.status == 200
    for status in ("Pending", "Completed", "Failed"):
        assert re.search(rf"{status} [0-9,]+ payments", page.text), status
    assert "Customer funds" in page.text and "PHP" in page.text
    assert page.html.count('class="bar"') == 30, "one bar a day for 30 days"
    assert "Completed payments in PHP per day" in page.html
    assert (payment_id, "completed") in page.rows()


def test_accounts_can_be_searched_and_filtered_by_state_and_currency(session, writer, admin):
    tag = uuid.uuid4().hex[:8]
    kept = writer.post("/api/v1/accounts", {"owner": f"Kept {tag}", "currencies": ["JPY"]}).body["id"]
    closed = writer.post("/api/v1/accounts", {"owner": f"Closed {tag}", "currencies": ["PHP"]}).body["id"]
    assert admin.patch(f"/api/v1/accounts/{closed}", {"active": False}).status == 200
    found = session.get(f"/accounts?q={tag}")
    assert kept in found.text and closed in found.text
    assert closed not in session.get(f"/accounts?q={tag}&active=true").text
    only = session.get(f"/accounts?q={tag}&active=false")
    assert closed in only.text and kept not in only.text
    in_yen = session.get(f"/accounts?q={tag}&currency=JPY")
    assert kept in in_yen.text and closed not in in_yen.text
    assert "No accounts match these filters." in session.get("/accounts?q=nobody-matches-this-" + tag).text


def test_opening_an_account_shows_it_and_a_bad_id_is_refused_beside_the_id(session, admin):
    refused = session.post("/accounts", {"owner": "Ana Reyes", "id": "no spaces allowed", "currencies": "PHP"})
    assert refused.status == 422
    assert refused.field_error("id").startswith("must match")
    assert 'value="Ana Reyes"' in refused.html, "what was typed is kept"
    account_id = unique("ana")
    page = session.post("/accounts", {"owner": "Ana Reyes", "id": account_id, "currencies": "php usd"})
    assert page.status == 303 and page.location == f"/accounts/{account_id}"
    shown = session.get(page.location)
    assert f"Account {account_id} opened." in shown.text
    assert "Ana Reyes" in shown.text and "₱0.00" in shown.text and "$0.00" in shown.text
    assert {b["currency"] for b in admin.get(f"/api/v1/accounts/{account_id}").body["balances"]} == {"PHP", "USD"}


def test_a_deposit_and_a_withdrawal_change_the_balance_shown(session, writer, admin):
    account_id = open_account(writer, admin, currencies=["PHP"])
    page = session.post(f"/accounts/{account_id}/deposit", {"deposit-currency": "PHP", "deposit-amount": "500.00"})
    assert page.status == 303
    assert "Deposit of ₱500.00 accepted" in session.get(page.location).text
    page = session.post(f"/accounts/{account_id}/withdraw", {"withdraw-currency": "PHP", "withdraw-amount": "120.50"})
    assert "Withdrawal of ₱120.50 accepted" in session.get(page.location).text
    assert wait_until(lambda: settled(admin, account_id))
    assert "₱379.50" in session.get(f"/accounts/{account_id}").text
    assert admin.get(f"/api/v1/accounts/{account_id}").body["balances"][0]["amount"] == "379.50"


def test_a_refused_deposit_shows_the_problem_beside_the_amount_and_stores_nothing(session, writer, admin):
    account_id = open_account(writer, admin, currencies=["PHP"])
    page = session.post(f"/accounts/{account_id}/deposit", {"deposit-currency": "PHP", "deposit-amount": "1.005"})
    assert page.status == 422
    assert page.field_error("deposit-amount") == "must have at most 2 decimal places"
    assert admin.get(f"/api/v1/accounts/{account_id}/payments").body["data"] == []


def test_an_admin_deactivates_and_reactivates_an_account_and_a_balance(session, writer, admin):
    account_id = open_account(writer, admin, currencies=["PHP"])
    balance_id = admin.get(f"/api/v1/accounts/{account_id}").body["balances"][0]["id"]
    page = session.post(f"/accounts/{account_id}/state", {"active": "false"})
    assert f"Account {account_id} deactivated." in session.get(page.location).text
    assert admin.get(f"/api/v1/accounts/{account_id}").body["active"] is False
    session.post(f"/accounts/{account_id}/state", {"active": "true"})
    page = session.post(f"/balances/{balance_id}/state", {"active": "false"})
    assert "PHP balance deactivated." in session.get(page.location).text
    account = admin.get(f"/api/v1/accounts/{account_id}").body
    assert account["active"] is True and account["balances"][0]["active"] is False


def test_an_admin_opens_another_balance_on_an_account(session, writer, admin):
    account_id = open_account(writer, admin, currencies=["PHP"])
    page = session.post(f"/accounts/{account_id}/balances", {"balance-currency": "EUR"})
    assert "EUR balance opened." in session.get(page.location).text
    again = session.post(f"/accounts/{account_id}/balances", {"balance-currency": "EUR"})
    assert again.status == 409 and f"{account_id} already has a EUR balance" in again.text


def test_payments_can_be_filtered_by_status_kind_account_currency_and_dates(session, writer, admin):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    done = writer.post("/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "4.00"}, wait=20)
    short = writer.post("/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "9.00"}, wait=20)
    done_id, short_id = done.body["id"], short.body["id"]
    assert (done.body["status"], short.body["status"]) == ("completed", "failed")
    ids = lambda path: {pid for pid, _ in session.get(path).rows()}  # noqa: E731
    assert {done_id, short_id} <= ids(f"/payments?account={sender}")
    assert ids(f"/payments?account={sender}&status=failed") == {short_id}
    deposits = ids(f"/payments?account={sender}&kind=deposit")
    assert len(deposits) == 1 and not deposits & {done_id, short_id}
    assert ids(f"/payments?account={sender}&kind=transfer&currency=PHP") == {done_id, short_id}
    assert ids(f"/payments?account={sender}&currency=USD") == set()
    today = done.body["created_at"][:10]
    assert {done_id, short_id} <= ids(f"/payments?account={sender}&created_after={today}&created_before={today}")
    assert ids(f"/payments?account={sender}&created_before=2000-01-01") == set()
    failed = session.get(f"/payments?account={sender}&status=failed")
    assert "insufficient funds" in failed.text


def test_a_completed_transfer_is_reversed_once_from_its_page(session, writer, admin):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    paid = writer.post("/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "6.00"}, wait=20)
    payment_id = paid.body["id"]
    assert "Reverse payment" in session.get(f"/payments/{payment_id}").text
    page = session.post(f"/payments/{payment_id}/reverse", {"description": "Customer complaint"})
    assert page.status == 303
    reversal_id = page.location.rsplit("/", 1)[1]
    assert f"Reversal of {payment_id} accepted." in session.get(page.location).text
    assert admin.get(f"/api/v1/payments/{payment_id}").body["reversed_by"] == reversal_id
    again = session.post(f"/payments/{payment_id}/reverse", {})
    assert again.status == 422 and "reversed in full already" in again.text
    assert "Reverse payment" not in session.get(f"/payments/{payment_id}").text


def test_a_custom_currency_is_added_and_a_bad_one_refused_beside_its_field(session, admin):
    code = "C" + uuid.uuid4().hex[:6].upper()
    bad = session.post("/currencies", {"code": code, "name": "Coin", "exponent": "19"})
    assert bad.status == 422 and bad.field_error("exponent") == "must be an integer from 0 to 18"
    page = session.post("/currencies", {"code": code.lower(), "name": "Test coin", "exponent": "8"})
    assert page.status == 303 and f"Currency {code} added." in session.get(page.location).text
    added = next(c for c in admin.get("/api/v1/currencies", params={"limit": 500}).body["data"] if c["code"] == code)
    assert added == {"code": code, "name": "Test coin", "exponent": 8, "active": True, "custom": True}


def test_an_exchange_rate_is_set_changed_and_removed(session, admin):
    base, quote = ("R" + uuid.uuid4().hex[:6].upper() for _ in range(2))
    for code in (base, quote):
        assert admin.post("/api/v1/currencies", {"code": code, "name": "Rate coin", "exponent": 2}).status == 201
    bad = session.post("/rates", {"base": base, "quote": quote, "rate": "-1"})
    assert bad.status == 422 and bad.field_error("rate")
    page = session.post("/rates", {"base": base, "quote": quote, "rate": "56.25"})
    assert f"Rate {base}/{quote} set to 56.25." in session.get(page.location).text
    session.post("/rates", {"base": base, "quote": quote, "rate": "57.10"})
    current = admin.get(f"/api/v1/rates/{base}/{quote}").body
    assert current["rate"] == "57.1" and current["set_by"].startswith("operator admin-")
    page = session.post(f"/rates/{base}/{quote}/remove")
    assert f"Rate {base}/{quote} removed" in session.get(page.location).text
    assert admin.get(f"/api/v1/rates/{base}/{quote}").status == 404


def test_a_new_token_is_shown_once_works_on_the_api_and_stops_when_revoked(session, anonymous):
    name = "checkout " + uuid.uuid4().hex[:6]
    page = session.post("/tokens", {"name": name, "scope": "read"})
    assert page.status == 201
    shown = re.search(r'id="new-token"[^>]*value="(pgw_[^"]+)"', page.html)
    assert shown is not None, page.html
    secret = shown.group(1)
    assert "shown only this once" in page.text
    listed = session.get("/tokens")
    assert name in listed.text and secret not in listed.html
    api = anonymous.with_token(secret)
    assert api.get("/api/v1/accounts", params={"limit": 1}).status == 200
    token_id = re.search(
        rf"/tokens/(\d+)/revoke\"[^<]*(?:<[^>]*>\s*)*<button[^>]*data-confirm=\"Revoke “{name}”", listed.html
    )
    assert token_id, "the list offers to revoke it"
    page = session.post(f"/tokens/{token_id.group(1)}/revoke")
    assert f"Token {name!r} revoked" in session.get(page.location).text
    assert api.get("/api/v1/accounts", params={"limit": 1}).status == 401


def test_the_audit_page_says_the_ledger_balances(session):
    page = session.get("/audit")
    assert page.status == 200
    assert "The ledger balances" in page.text
    assert "Totals per currency" in page.text and "PHP" in page.text


def test_the_largest_amount_a_currency_allows_is_written_in_full_with_all_its_decimals(session, writer, admin):
    code = "B" + uuid.uuid4().hex[:6].upper()
    assert admin.post("/api/v1/currencies", {"code": code, "name": "Tiny units", "exponent": 18}).status == 201
    account_id = open_account(writer, admin, {code: "1000000000000000"})
    written = f"{code}\u00a01,000,000,000,000,000.000000000000000000"
    assert written in session.get(f"/accounts/{account_id}").html
    assert written in session.get(f"/?currency={code}").html
    assert session.get("/audit").status == 200


def test_an_accounts_customer_tokens_are_listed_on_its_page_and_revoked_there(session, writer, admin):
    account_id = open_account(writer, admin, currencies=["PHP"])
    issued = admin.post(f"/api/v1/accounts/{account_id}/tokens", {"scope": "read+pay"}).body
    customer = writer.with_token(issued["token"])
    assert customer.get(f"/api/v1/accounts/{account_id}").status == 200
    page = session.get(f"/accounts/{account_id}")
    assert "Customer tokens" in page.text and issued["hint"] in page.text and "read+pay" in page.text
    assert issued["token"] not in page.html
    revoke = f"/accounts/{account_id}/tokens/{issued['id']}/revoke"
    assert f'action="{revoke}"' in page.html, "the page offers to revoke it"
    done = session.post(revoke)
    shown = session.get(done.location).text
    assert f"Customer token {issued['hint']} revoked" in shown and "Revoked" in shown
    assert customer.get(f"/api/v1/accounts/{account_id}").status == 401
