"""Screenshots of the dashboard's main pages, at desktop and phone width,
written to docs/screenshots/ (the README shows the overview). Taken by the
browser, of pages filled with a small, realistic book of customers; the
payments of the last four weeks are dated back so the volume chart has a
history to show."""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import partial

import pytest
from playwright.sync_api import expect

from tests.support.browser import DESKTOP, PHONE, SCREENSHOTS, log_in, open_page
from tests.support.ledger import date_back
from tests.support.pages import new_operator

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def never() -> None:
    """Queue nothing: the test settles each payment itself, or leaves it pending."""


CUSTOMERS = [
    ("Maria Santos", {"PHP": "48250.00"}),
    ("Juan dela Cruz", {"PHP": "12800.00", "USD": "350.00"}),
    ("Aiko Tanaka", {"JPY": "185000"}),
    ("Liam O'Brien", {"EUR": "2150.00", "USD": "90.00"}),
    ("Priya Raman", {"PHP": "6400.00"}),
    ("Kofi Mensah", {"USD": "1280.00"}),
]


def book_of_customers() -> dict:
    """Accounts, deposits, four weeks of settled transfers, one that failed
    and one still pending, and an exchange rate: made with the domain
    functions, settled at once."""
    from models.account import create_account
    from models.connection import utcnow
    from models.intake import submit_deposit, submit_transfer
    from models.ledger import Payment
    from models.rates import set_rate
    from models.retry import retried_transaction
    from models.settlement import settle_payment

    suffix = uuid.uuid4().hex[:4]
    ids, dated = [], []
    for owner, funds in CUSTOMERS:
        account_id = owner.split()[0].lower() + "-" + suffix
        body = {"id": account_id, "owner": owner, "email": f"{account_id}@example.com", "currencies": sorted(funds)}
        retried_transaction(partial(create_account, body))
        for currency, amount in funds.items():
            cash = {"account": account_id, "currency": currency, "amount": amount, "description": "Opening deposit"}
            deposit = retried_transaction(partial(submit_deposit, cash, never))
            settle_payment(deposit.id)
            dated.append((deposit.id, 40))
        ids.append(account_id)
    maria, juan, _, _, priya, _ = ids
    for day in range(27, -1, -1):
        amount = f"{150 + (day * 137) % 900}.{day % 10}0"
        sender, receiver = (maria, priya) if day % 3 else (juan, maria)
        body = {
            "from_account": sender,
            "to_account": receiver,
            "amount": amount,
            "currency": "PHP",
            "description": "Invoice",
        }
        payment = retried_transaction(partial(submit_transfer, body, never))
        settle_payment(payment.id)
        dated.append((payment.id, day))

    now = utcnow()
    for payment_id, day in dated:
        date_back(payment_id, now - timedelta(days=day, hours=day % 5))
    short = {"from_account": priya, "to_account": juan, "amount": "99999.00", "description": "Too much"}
    settle_payment(retried_transaction(partial(submit_transfer, short, never)).id)
    pending = {"from_account": maria, "to_account": juan, "amount": "1250.00", "currency": "PHP", "description": "Rent"}
    retried_transaction(partial(submit_transfer, pending, never))
    retried_transaction(lambda: set_rate("JPY", "PHP", {"rate": "0.3725"}, "operator ops@example.com"))
    balance = Payment.get_by_id(dated[-1][0]).to_balance_id
    return {"account": maria, "payment": dated[-1][0], "balance": balance, "webhook": webhook_with_deliveries(maria)}


def webhook_with_deliveries(account: str) -> str:
    """An endpoint for `account` with a delivery log: attempts that failed,
    then one delivered (written as a sender records them)."""
    from models.connection import utcnow
    from models.retry import retried_transaction
    from models.webhooks import WebhookAttempt, create_endpoint, parse_endpoint
    from webhooks.signing import webhook_id

    body = {"url": "https://books.example.com/gateway", "account": account, "description": "Bookkeeping"}
    made, _ = retried_transaction(lambda: create_endpoint(parse_endpoint(body, True, True)))
    rows: list[dict] = []
    for n, (status, outcome) in enumerate([(503, "failed"), (503, "failed"), (200, "delivered"), (200, "delivered")]):
        seq = 40 + n // 3
        rows.append(
            dict(endpoint=made.id, seq=seq, prev_seq=39 if seq == 40 else 40, webhook_id=webhook_id(made.id, seq))
            | dict(attempt=n % 3 + 1, outcome=outcome, status_code=status, latency_ms=42 + n * 9, at=utcnow())
            | dict(response='{"ok":true}' if status == 200 else "Busy")
        )
    retried_transaction(lambda: WebhookAttempt.insert_many(rows).execute())
    return made.id


PAGES = {
    "overview": "/",
    "accounts": "/accounts",
    "account": "/accounts/{account}",
    "payments": "/payments",
    "payment": "/payments/{payment}",
    "currencies": "/currencies",
    "rates": "/rates",
    "tokens": "/tokens",
    "webhooks": "/webhooks",
    "webhook": "/webhooks/{webhook}",
    "audit": "/audit",
    "search": "/search?q=Maria",
    "statement": "/balances/{balance}/statement",
    "activity": "/activity",
    "operators": "/operators",
}


def test_screenshots_of_the_main_pages_at_desktop_and_phone_width(browser, gateway):
    book = book_of_customers()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    email = new_operator()
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(browser, gateway, viewport=viewport)
        page.goto("/login")
        page.screenshot(path=SCREENSHOTS / f"login-{width}.png")
        log_in(page, email)
        for name, path in PAGES.items():
            page.goto(path.format(**book))
            expect(page.locator("#live-status")).to_have_text("Live")
            page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
        page.goto(f"/payments/new?from_account={book['account']}")
        page.get_by_label("To account").fill("nobody-has-this-id")
        page.get_by_label("Amount").fill("12.345")
        page.get_by_role("button", name="Send payment").click()
        expect(page.locator("#to_account-error")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / f"payment-refused-{width}.png", full_page=True)
    for name in [*PAGES, "login", "payment-refused"]:
        for width in ("desktop", "phone"):
            assert (SCREENSHOTS / f"{name}-{width}.png").stat().st_size > 10_000, name
