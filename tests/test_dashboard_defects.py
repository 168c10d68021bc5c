"""What a new operator found wrong with the dashboard, each checked in a
real browser at desktop and phone width: overview figures that went stale
under a "Live" badge, a phone navigation that hid sections off screen, a
chart opened away from today, a clipped button, times without seconds,
cut ids, a rate form that proposed AED to AED, and 165 currencies with no
filter."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import DESKTOP, PHONE, log_in, open_page
from tests.support.ledger import open_account, pay
from tests.support.pages import new_operator

pytestmark = pytest.mark.browser
WIDTHS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


def count_of(page, status: str) -> int:
    return int(page.locator(f".stat-{status} .stat-value").inner_text().replace(",", ""))


@WIDTHS
def test_the_overviews_figures_follow_the_feed_without_a_reload(browser, gateway, writer, admin, viewport):
    sender = open_account(writer, admin, {"PHP": "5.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, new_operator())
    expect(page.locator("#live-status")).to_have_text("Live")
    before = count_of(page, "completed")
    assert pay(writer, {"from_account": sender, "to_account": receiver, "amount": "1.00"}).body["status"] == "completed"
    expect(page.locator(".stat-completed .stat-value")).not_to_have_text(f"{before:,}")
    assert count_of(page, "completed") > before


def test_on_a_phone_every_section_of_the_navigation_is_on_screen(browser, gateway):
    page = open_page(browser, gateway, viewport=PHONE)
    log_in(page, new_operator("admin"))
    links = page.locator("nav.nav a")
    assert links.count() >= 9
    for n in range(links.count()):
        box = links.nth(n).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], links.nth(
            n
        ).inner_text()
    assert page.evaluate(
        "() => { const n = document.querySelector('nav.nav'); return n.scrollWidth <= n.clientWidth; }"
    )


def test_on_a_phone_the_volume_chart_opens_on_today(browser, gateway, writer, admin):
    open_account(writer, admin, {"PHP": "1.00"})
    page = open_page(browser, gateway, viewport=PHONE)
    log_in(page, new_operator())
    page.goto("/?currency=PHP")
    chart = page.locator("figure.chart")
    expect(chart).to_be_visible()
    scrolled = chart.evaluate("c => c.scrollWidth > c.clientWidth && c.scrollLeft + c.clientWidth >= c.scrollWidth - 1")
    assert scrolled


def test_on_a_phone_a_balances_deactivate_button_is_whole_on_screen(browser, gateway, writer, admin):
    account = open_account(writer, admin, {"PHP": "12345678.90"}, currencies=["USD"])
    page = open_page(browser, gateway, viewport=PHONE)
    log_in(page, new_operator("admin"))
    page.goto(f"/accounts/{account}")
    for button in page.get_by_role("button", name=re.compile("^Deactivate")).all():
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    wrap = page.locator('[aria-labelledby="balances-title"].table-wrap')
    assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth")


@WIDTHS
def test_times_show_seconds_and_the_full_time_on_hover_and_ids_show_whole(browser, gateway, writer, admin, viewport):
    sender = open_account(writer, admin, {"PHP": "2.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    paid = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "1.00"}).body
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, new_operator())
    page.goto(f"/payments?account={sender}")
    row = page.locator(f'tr[data-payment-id="{paid["id"]}"]')
    link = row.get_by_role("link", name=paid["id"], exact=True)
    expect(link).to_be_visible()
    assert link.evaluate("a => getComputedStyle(a).userSelect") == "all"
    page.goto(f"/payments/{paid['id']}")
    created = page.locator("time").first
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", created.inner_text())
    assert created.get_attribute("title") == paid["created_at"]


def test_the_rate_form_proposes_two_different_currencies(browser, gateway, writer, admin):
    open_account(writer, admin, {"PHP": "1.00", "USD": "1.00"})
    page = open_page(browser, gateway)
    log_in(page, new_operator("admin"))
    page.goto("/rates")
    base, quote = page.get_by_label("From").input_value(), page.get_by_label("To").input_value()
    assert base != quote and "AED" not in (base, quote), (base, quote)


@WIDTHS
def test_the_currencies_page_filters_by_code_or_name(browser, gateway, viewport):
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, new_operator())
    page.goto("/currencies")
    page.get_by_label("Find a currency").fill("peso")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows.filter(has_text="PHP")).to_have_count(1)
    expect(rows.filter(has_text="USD")).to_have_count(0)
    assert all("peso" in text.lower() for text in rows.all_inner_texts())
    page.get_by_label("Find a currency").fill("usd")
    page.get_by_role("button", name="Filter").click()
    expect(rows.first).to_contain_text("USD")
