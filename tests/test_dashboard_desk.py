"""The dashboard's everyday tools in a real browser, at desktop and phone
width: the search box in the header, CSV exports and the activity log."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.support.browser import DESKTOP, PHONE, log_in, open_page
from tests.support.ledger import open_account, pay
from tests.support.pages import new_operator

pytestmark = pytest.mark.browser
WIDTHS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


@WIDTHS
def test_the_header_search_box_finds_a_payment_by_its_description_and_an_account_by_its_owner(
    browser, gateway, writer, admin, viewport
):
    word = "w" + uuid.uuid4().hex[:10]
    sender = open_account(writer, admin, {"PHP": "5.00"})
    receiver = writer.post("/api/v1/accounts", {"owner": f"Ana {word}", "currencies": ["PHP"]}).body["id"]
    paid = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "1.00", "description": f"Fee {word}"})
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, new_operator("viewer"))
    page.goto("/payments")
    box = page.get_by_label("Search payments and accounts")
    box.fill(word)
    box.press("Enter")
    page.wait_for_url("**/search?q=*")
    expect(page.locator(f'tr[data-payment-id="{paid.body["id"]}"]')).to_be_visible()
    expect(page.get_by_role("link", name=receiver, exact=True).first).to_be_visible()
    page.get_by_label("Search payments and accounts").first.fill("nothing-" + word)
    page.get_by_label("Search payments and accounts").first.press("Enter")
    expect(page.get_by_text("No payment matches.")).to_be_visible()
    expect(page.get_by_text("No account matches.")).to_be_visible()
