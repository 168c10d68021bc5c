"""Every dashboard page passes axe-core's WCAG 2.1 A and AA rules, at
desktop and at phone width, in Debian's Chromium: the checker is injected
into each page as it is shown to an operator. (axe-core comes from npm:
`make test` installs it into .cache/.)"""

from __future__ import annotations

import json

import pytest

from tests.support.browser import DESKTOP, PHONE, log_in, open_page
from tests.support.environment import ROOT
from tests.support.ledger import open_account
from tests.support.pages import new_operator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = ROOT / ".cache" / "node_modules" / "axe-core" / "axe.min.js"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page) -> list[dict]:
    """axe-core's findings on the page as it is now: each rule broken, with
    where (the first few elements), as a short readable summary."""
    # Evaluated through the browser's DevTools, as the pages' Content
    # Security Policy refuses any script they did not load themselves.
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations", RULES
    )
    return [
        {"rule": v["id"], "impact": v["impact"], "where": [n["target"] for n in v["nodes"][:3]], "help": v["help"]}
        for v in found
    ]


@pytest.fixture(scope="module")
def pages(writer, admin) -> list[str]:
    """A path of each kind of page, with content: an account with a held
    payment, a completed payment, a hold."""
    assert AXE.exists(), f"{AXE} is missing: `make test` installs axe-core from npm"
    account = open_account(writer, admin, {"PHP": "80.00"})
    other = open_account(writer, admin, currencies=["PHP"])
    paid = writer.post("/api/v1/payments", {"from_account": account, "to_account": other, "amount": "5.00"}, wait=20)
    body = {"from_account": account, "to_account": other, "amount": "7.00", "capture": "manual"}
    hold = writer.post("/api/v1/payments", body, wait=20)
    webhook = admin.post("/api/v1/webhook-endpoints", {"url": "https://localhost:1/hook", "account": account}).body
    return [
        "/login",
        "/",
        "/accounts",
        f"/accounts/{account}",
        "/payments",
        f"/payments/{paid.body['id']}",
        f"/payments/{hold.body['id']}",
        "/payments/new",
        "/currencies",
        "/rates",
        "/tokens",
        "/webhooks",
        f"/webhooks/{webhook['id']}",
        "/audit",
        "/activity",
        "/operators",
        "/password",
        f"/search?q={account}",
        f"/balances/{paid.body['from_balance']}/statement",
        "/search?q=nothing-matches-this",
        "/docs",
    ]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_passes_axe_core_at_this_width(browser, gateway, pages, viewport):
    page = open_page(browser, gateway, viewport=viewport)
    log_in(page, new_operator())
    problems = {}
    for path in pages:
        page.goto(path)
        found = violations(page)
        if found:
            problems[path] = found
    assert not problems, json.dumps(problems, indent=1)
