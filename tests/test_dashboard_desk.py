"""The dashboard's everyday tools in a real browser, at desktop and phone
width: the search box in the header, CSV exports and the activity log."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.support.browser import DESKTOP, PHONE, log_in, open_page
from tests.support.ledger import open_account, pay
from tests.support.pages import PASSWORD, new_operator

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


def download(page, click) -> str:
    """The text of the file that clicking `click` downloads."""
    with page.expect_download() as started:
        click()
    return open(started.value.path(), encoding="utf-8").read()


@WIDTHS
def test_an_operator_exports_a_filtered_payment_list_and_a_statement_as_csv(browser, gateway, writer, admin, viewport):
    sender = open_account(writer, admin, {"PHP": "9.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    paid = [pay(writer, {"from_account": sender, "to_account": receiver, "amount": f"{n}.00"}).body for n in (1, 2)]
    page = open_page(browser, gateway, viewport=viewport)
    page.context.set_default_timeout(20_000)
    log_in(page, new_operator("viewer"))
    page.goto(f"/payments?account={receiver}")
    text = download(page, lambda: page.get_by_role("link", name="Export CSV").click())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [paid[1]["id"], paid[0]["id"]]

    page.goto(f"/accounts/{receiver}")
    page.get_by_role("link", name="Statement of the PHP balance").click()
    expect(page.locator('[data-figure="closing"]')).to_contain_text("3.00")
    expect(page.locator('[data-figure="total_in"]')).to_contain_text("3.00")
    expect(page.locator("tr[data-entry-id]")).to_have_count(2)
    text = download(page, lambda: page.get_by_role("link", name="Export CSV").click())
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [r["amount"] for r in lines] == ["1.00", "2.00"] and lines[-1]["balance_after"] == "3.00"


@WIDTHS
def test_an_admin_sees_who_did_what_in_the_activity_log_and_a_viewer_may_not(browser, gateway, viewport):
    email = new_operator("admin")
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, email)
    name = "ci-" + uuid.uuid4().hex[:8]
    page.goto("/tokens")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create token").click()
    page.goto("/activity")
    page.get_by_label("What").select_option("token.created")
    page.get_by_role("button", name="Filter").click()
    row = page.locator('tr[data-type="token.created"]', has_text=name)
    expect(row).to_be_visible()
    expect(row).to_contain_text(email)
    page.get_by_label("What").select_option("operator.logged_in")
    page.get_by_label("Actor").fill("nobody")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Actor: must be system")).to_be_visible()
    viewer = open_page(browser, gateway, viewport=viewport)
    log_in(viewer, new_operator("viewer"))
    assert viewer.goto("/activity").status == 403


@WIDTHS
def test_an_admin_manages_operators_and_a_disabled_one_is_logged_out(browser, gateway, viewport):
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, new_operator("admin"))
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/operators")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill("a long passphrase")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Add operator").click()
    row = page.locator(f'tr[data-operator="{email}"]')
    expect(row).to_contain_text("never")
    other = open_page(browser, gateway, viewport=viewport)
    log_in(other, email, "a long passphrase")
    page.reload()
    expect(row).not_to_contain_text("never")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Disable {email}").click()
    expect(page.locator(".notice")).to_contain_text("is disabled")
    other.goto("/payments")
    expect(other).to_have_url(re.compile(r"/login\?next=%2Fpayments$"))


@WIDTHS
def test_an_operator_changes_their_own_password(browser, gateway, viewport):
    email = new_operator("viewer")
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, email)
    page.goto("/password")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("my own new words")
    page.get_by_label("New password again").fill("my own new words")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".notice")).to_contain_text("Your password is changed")
    again = open_page(browser, gateway, viewport=viewport)
    log_in(again, email, "my own new words")


def test_a_payment_page_shows_its_metadata_and_who_created_it_and_an_account_page_its_own(
    browser, gateway, writer, admin
):
    account = writer.post(
        "/api/v1/accounts",
        {"owner": "Meta Shown", "currencies": ["PHP"], "reference": "crm-77", "metadata": {"tier": "gold"}},
    ).body["id"]
    sender = open_account(writer, admin, {"PHP": "2.00"})
    body = {"from_account": sender, "to_account": account, "amount": "1.00", "metadata": {"order_id": "A-1"}}
    paid = pay(writer, body).body
    page = open_page(browser, gateway)
    log_in(page, new_operator("viewer"))
    page.goto(f"/payments/{paid['id']}")
    expect(page.locator('[data-metadata="order_id"]')).to_have_text("A-1")
    expect(page.locator("[data-created-by]")).to_have_text("token “test write”")
    page.goto(f"/accounts/{account}")
    expect(page.locator('[data-metadata="tier"]')).to_have_text("tier: gold")
    expect(page.get_by_text("crm-77")).to_be_visible()
