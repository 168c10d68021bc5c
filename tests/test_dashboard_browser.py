"""The dashboard in a real browser (SPEC section 7): an operator's day from
logging in to logging out, payments changing status live, errors beside the
fields that caused them, a viewer who cannot change anything, and a page
that works from the keyboard and on a phone."""

from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import expect

from tests.support.browser import PHONE, log_in, open_page
from tests.support.ledger import open_account, unique
from tests.support.pages import new_operator

pytestmark = pytest.mark.browser


def pending_transfer(sender: str, receiver: str, amount: str) -> str:
    """A transfer accepted but not queued: it stays pending until the test
    settles it (the sweeper would only after 30 s)."""
    from models.intake import submit_transfer
    from models.retry import retried_transaction

    body = {"from_account": sender, "to_account": receiver, "amount": amount}
    return retried_transaction(lambda: submit_transfer(body, lambda: None).id)


def settle(payment_id: str) -> str | None:
    from models.settlement import settle_payment

    return settle_payment(payment_id)


@pytest.mark.slow
def test_an_operator_opens_an_account_deposits_pays_and_sees_the_payment_complete_live(browser, gateway, writer):
    page = open_page(browser, gateway)
    log_in(page, new_operator())
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    account_id = unique("maria")
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_label("Owner").fill("Maria Santos")
    page.get_by_label("Account id").fill(account_id)
    page.get_by_label("Currencies").fill("PHP")
    page.get_by_role("button", name="Open account").click()
    expect(page.locator(".notice")).to_have_text(f"Account {account_id} opened.")
    expect(page.get_by_role("heading", name="Maria Santos")).to_be_visible()

    deposit = page.locator("form.cash-form", has=page.get_by_role("heading", name="Deposit"))
    deposit.get_by_label("Amount").fill("250.00")
    deposit.get_by_role("button", name="Deposit").click()
    expect(page.locator(".notice")).to_contain_text("Deposit of ₱250.00 accepted")
    expect(page.locator('td.balance-amount[data-currency="PHP"]')).to_have_text("₱250.00")

    receiver = open_account(writer, writer, currencies=["PHP"])
    watcher = page.context.new_page()
    watcher.goto(f"/payments?account={account_id}")
    expect(watcher.locator("#live-status")).to_have_text("Live")
    watcher.evaluate("window.notReloaded = true")

    page.get_by_role("link", name="Send payment").click()
    expect(page.get_by_label("From account")).to_have_value(account_id)
    page.get_by_label("To account").fill(receiver)
    page.get_by_label("Amount").fill("40.00")
    page.get_by_role("button", name="Send payment").click()
    expect(page.locator(".notice")).to_have_text("Payment accepted: it settles in a moment.")
    payment_id = page.url.rsplit("/", 1)[1]

    row = watcher.locator(f'tr[data-payment-id="{payment_id}"]')
    expect(row).to_have_attribute("data-status", "completed")
    expect(row.locator("[data-badge]")).to_have_text("completed")
    expect(row).to_contain_text("₱40.00")
    assert watcher.evaluate("window.notReloaded") is True, "the row arrived without a reload"
    expect(page.locator(f'[data-payment-id="{payment_id}"] [data-badge]')).to_have_text("completed")
    expect(page.locator(".details")).to_contain_text("₱40.00")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(f"{gateway.url}/login?next=%2F")


def test_a_refused_payment_shows_each_problem_beside_its_field_and_keeps_what_was_typed(
    browser, gateway, writer, admin
):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    page = open_page(browser, gateway)
    log_in(page, new_operator())
    page.goto(f"/payments/new?from_account={sender}")
    page.get_by_label("To account").fill("nobody-has-this-id")
    page.get_by_label("Amount").fill("5.00")
    page.get_by_role("button", name="Send payment").click()
    expect(page.locator("#to_account-error")).to_have_text("no such account: nobody-has-this-id")
    expect(page.get_by_label("To account")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("To account: no such account")

    receiver = open_account(writer, admin, currencies=["PHP"])
    page.get_by_label("To account").fill(receiver)
    page.get_by_label("Amount").fill("0.001")
    page.get_by_role("button", name="Send payment").click()
    expect(page.locator("#amount-error")).to_have_text("must have at most 2 decimal places")
    expect(page.locator("#to_account-error")).to_have_count(0)
    expect(page.get_by_label("From account")).to_have_value(sender)
    expect(page.get_by_label("Amount")).to_have_value("0.001")
    assert admin.get(f"/api/v1/accounts/{sender}/payments").body["data"][0]["kind"] == "deposit"


def test_pending_rows_turn_completed_or_failed_live_without_a_reload(browser, gateway, writer, admin):
    sender = open_account(writer, admin, {"PHP": "30.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    paid = pending_transfer(sender, receiver, "20.00")
    short = pending_transfer(sender, receiver, "20.00")
    page = open_page(browser, gateway)
    log_in(page, new_operator())
    page.goto(f"/payments?account={sender}")
    expect(page.locator("#live-status")).to_have_text("Live")
    for payment_id in (paid, short):
        expect(page.locator(f'tr[data-payment-id="{payment_id}"]')).to_have_attribute("data-status", "pending")
    page.evaluate("window.notReloaded = true")

    assert settle(paid) == "completed"
    assert settle(short) == "failed"
    expect(page.locator(f'tr[data-payment-id="{paid}"]')).to_have_attribute("data-status", "completed")
    failed = page.locator(f'tr[data-payment-id="{short}"]')
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed).to_contain_text("insufficient funds")
    assert page.evaluate("window.notReloaded") is True


def test_a_lost_feed_connection_resumes_after_the_last_event_seen_and_misses_nothing(browser, gateway, writer, admin):
    sender = open_account(writer, admin, {"PHP": "30.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    payment_id = pending_transfer(sender, receiver, "5.00")
    page = open_page(browser, gateway)
    log_in(page, new_operator())
    urls, routes, reachable = [], [], {"now": True}

    def route(ws) -> None:
        urls.append(ws.url)
        if reachable["now"]:
            ws.connect_to_server()
            routes.append(ws)
        else:
            ws.close()

    page.route_web_socket("**/api/v1/stream*", route)
    page.goto(f"/payments?account={sender}")
    expect(page.locator("#live-status")).to_have_text("Live")
    first_after = int(urls[0].split("after=")[1].split("&")[0])

    reachable["now"] = False
    routes[0].close()
    expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    assert settle(payment_id) == "completed"
    completed_seq = wait_for_event_seq(payment_id, "payment.completed")
    reachable["now"] = True

    row = page.locator(f'tr[data-payment-id="{payment_id}"]')
    expect(row).to_have_attribute("data-status", "completed")
    # Every attempt before the event was numbered was refused, so the page
    # got it by replay, from where it had left off.
    resumed_after = int(urls[-1].split("after=")[1].split("&")[0])
    assert first_after <= resumed_after < completed_seq, (urls, completed_seq)


def wait_for_event_seq(payment_id: str, event_type: str) -> int:
    """The `seq` the relay gave the payment's event, once it has one."""
    from models.event import Event
    from models.retry import read_only
    from tests.support.waiting import wait_until

    def numbered() -> int | None:
        rows = read_only(
            lambda: list(
                Event.select()
                .where((Event.type == event_type) & Event.seq.is_null(False))
                .order_by(Event.seq.desc())
                .limit(50)
            )
        )
        return next((e.seq for e in rows if json.loads(e.data)["id"] == payment_id), None)

    seq = wait_until(numbered)
    assert seq, f"no numbered {event_type} event for {payment_id}"
    return seq


def test_a_viewer_sees_every_page_but_no_control_to_change_anything(browser, gateway, writer, admin):
    account_id = open_account(writer, admin, {"PHP": "12.00"})
    page = open_page(browser, gateway)
    log_in(page, new_operator("viewer"))
    expect(page.locator(".role")).to_have_text("viewer")
    expect(page.get_by_role("link", name="New payment")).to_have_count(0)
    page.goto(f"/accounts/{account_id}")
    expect(page.get_by_role("heading", name="Balances")).to_be_visible()
    for name in ("Deposit", "Withdraw", "Deactivate", "Open balance", "Send payment"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Send payment")).to_have_count(0)
    payment_id = admin.get(f"/api/v1/accounts/{account_id}/payments").body["data"][0]["payment_id"]
    page.goto(f"/payments/{payment_id}")
    expect(page.get_by_role("heading", name="Ledger entries")).to_be_visible()
    expect(page.get_by_role("button", name="Reverse payment")).to_have_count(0)
    for path in ("/accounts", "/currencies", "/rates", "/tokens"):
        page.goto(path)
        expect(page.locator("main form[method=post]")).to_have_count(0)
    response = page.goto("/payments/new")
    assert response.status == 403
    expect(page.locator("main")).to_contain_text("ask an admin")


def test_a_form_sent_without_its_csrf_token_is_refused(browser, gateway, admin):
    page = open_page(browser, gateway)
    log_in(page, new_operator())
    page.goto("/currencies")
    code = "X" + unique()[-6:].upper()
    page.get_by_label("Code").fill(code)
    page.get_by_label("Name").fill("Forged coin")
    page.get_by_label("Decimals").fill("2")
    page.evaluate("document.querySelectorAll('input[name=_xsrf]').forEach((input) => input.remove())")
    with page.expect_response("**/currencies") as answer:
        page.get_by_role("button", name="Add currency").click()
    assert answer.value.status == 403
    expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    assert code not in {c["code"] for c in admin.get("/api/v1/currencies", params={"limit": 500}).body["data"]}


def test_amounts_are_written_in_the_operators_locale_with_the_currency_symbol(browser, gateway, writer, admin):
    account_id = open_account(writer, admin, {"EUR": "1234.50", "JPY": "1500"})
    page = open_page(browser, gateway, locale="de-DE")
    log_in(page, new_operator())
    page.goto(f"/accounts/{account_id}")
    expect(page.locator('td.balance-amount[data-currency="EUR"]')).to_have_text("1.234,50\u00a0€")
    expect(page.locator('td.balance-amount[data-currency="JPY"]')).to_have_text("1.500\u00a0¥")
    english = open_page(browser, gateway)
    log_in(english, new_operator())
    english.goto(f"/accounts/{account_id}")
    expect(english.locator('td.balance-amount[data-currency="EUR"]')).to_have_text("€1,234.50")


def test_the_login_form_and_the_pages_work_from_the_keyboard_alone(browser, gateway):
    email = new_operator()
    page = open_page(browser, gateway)
    page.goto("/login")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery")
    page.keyboard.press("Enter")
    page.wait_for_url("**/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('main') !== null")
    assert focused, "after skipping, the next stop is in the page's content"


def test_every_page_fits_a_phone_screen_without_sideways_scrolling(browser, gateway, writer, admin):
    account_id = open_account(writer, admin, {"PHP": "75.00"})
    # The widest row a list can have: ten-letter codes and a rate with every digit allowed.
    base, quote = ("W" + uuid.uuid4().hex[:9].upper() for _ in range(2))
    for code in (base, quote):
        assert admin.post("/api/v1/currencies", {"code": code, "name": "Wide coin", "exponent": 18}).status == 201
    wide = {"rate": "999999999999999999." + "9" * 30}
    assert admin.put(f"/api/v1/rates/{base}/{quote}", wide).status == 200
    page = open_page(browser, gateway, viewport=PHONE)
    log_in(page, new_operator())
    payment_id = admin.get(f"/api/v1/accounts/{account_id}/payments").body["data"][0]["payment_id"]
    for path in (
        "/",
        "/accounts",
        f"/accounts/{account_id}",
        "/payments",
        f"/payments/{payment_id}",
        "/payments/new",
        "/currencies",
        "/rates",
        "/tokens",
        "/audit",
    ):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
