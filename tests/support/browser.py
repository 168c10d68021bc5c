"""A real browser for the dashboard tests: Debian's Chromium driven by Playwright, never a downloaded one.

A machine without it fails the tests that need it (`.ci/run` installs it).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.environment import ROOT
from tests.support.pages import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = ROOT / "docs" / "screenshots"


def launch(playwright):
    """Debian's Chromium, headless; a machine without it fails, never skips."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_page(browser, gateway, viewport=DESKTOP, locale: str = "en-US"):
    """A new page in a fresh browser context (no cookies), on the test server."""
    context = browser.new_context(base_url=gateway.url, viewport=viewport, locale=locale)
    context.set_default_timeout(20_000)
    return context.new_page()


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")
