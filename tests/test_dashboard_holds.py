"""Holds, limits and partial reversals on the dashboard: a payment's page
shows a hold's state with capture and void for admins; the account page
shows amount, held, available and the limits, with a form to change them;
the new payment form can send a hold; lists filter by the new statuses and
the overview counts them."""

from __future__ import annotations

import pytest

from tests.support.ledger import open_account
from tests.support.pages import logged_in
from tests.support.waiting import wait_until
from tools.dashboard import Session


@pytest.fixture(scope="module")
def session(gateway) -> Session:
    return logged_in(gateway.url)


@pytest.fixture(scope="module")
def viewer(gateway) -> Session:
    return logged_in(gateway.url, "viewer")


def held(writer, sender: str, receiver: str, amount: str) -> dict:
    body = {"from_account": sender, "to_account": receiver, "amount": amount, "capture": "manual"}
    payment = writer.post("/api/v1/payments", body, wait=20).body
    assert payment["status"] == "authorized", payment
    return payment


def test_the_new_payment_form_sends_a_hold_and_its_page_captures_part_of_it(session, writer, admin):
    sender = open_account(writer, admin, {"PHP": "50.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    form = session.get("/payments/new")
    assert "Hold only" in form.text
    sent = session.post(
        "/payments/new", {"from_account": sender, "to_account": receiver, "amount": "20.00", "hold": "y"}
    )
    assert sent.status == 303
    payment_id = sent.location.rsplit("/", 1)[1]
    assert admin.get(f"/api/v1/payments/{payment_id}").body["capture"] == "manual"
    assert wait_until(lambda: admin.get(f"/api/v1/payments/{payment_id}").body["status"] == "authorized")
    page = session.get(f"/payments/{payment_id}")
    assert "Capture or void this hold" in page.text and "until" in page.text
    assert f'data-payment-id="{payment_id}" data-status="authorized"' in page.html
    too_much = session.post(f"/payments/{payment_id}/capture", {"amount": "20.01"})
    assert too_much.status == 422 and too_much.field_error("amount") == "must be at most 20.00"
    captured = session.post(f"/payments/{payment_id}/capture", {"amount": "12.00"})
    assert captured.status == 303 and "Capture of ₱12.00 accepted." in session.get(captured.location).text
    assert wait_until(lambda: admin.get(f"/api/v1/payments/{payment_id}").body["status"] == "completed")
    done = admin.get(f"/api/v1/payments/{payment_id}").body
    assert done["captured_amount"] == "12.00" and "Captured" in session.get(f"/payments/{payment_id}").text
    again = session.post(f"/payments/{payment_id}/void", {})
    assert again.status == 409 and "completed" in again.text


def test_a_hold_is_voided_from_its_page_and_a_viewer_cannot(session, viewer, writer, admin):
    sender = open_account(writer, admin, {"PHP": "50.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    payment = held(writer, sender, receiver, "20.00")
    assert "Capture or void this hold" not in viewer.get(f"/payments/{payment['id']}").text
    assert viewer.post(f"/payments/{payment['id']}/void", {}).status == 403
    voided = session.post(f"/payments/{payment['id']}/void", {})
    assert voided.status == 303 and "Hold voided" in session.get(voided.location).text
    assert admin.get(f"/api/v1/payments/{payment['id']}").body["status"] == "voided"


def test_the_account_page_shows_held_available_and_limits_and_sets_them(session, writer, admin):
    sender = open_account(writer, admin, {"PHP": "50.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    held(writer, sender, receiver, "20.00")
    page = session.get(f"/accounts/{sender}")
    assert "held ₱20.00 · available ₱30.00" in page.text, page.text[:1500]
    refused = session.post(
        f"/accounts/{sender}/limits",
        {"limits-currency": "PHP", "limits-min_balance": "31.00", "limits-max_balance": ""},
    )
    assert refused.status == 422 and "at most what the balance has available now, 30.00" in refused.text
    changed = session.post(
        f"/accounts/{sender}/limits",
        {"limits-currency": "PHP", "limits-min_balance": "-25.00", "limits-max_balance": "100.00"},
    )
    assert changed.status == 303 and "PHP balance limits set." in session.get(changed.location).text
    assert "floor -₱25.00 · cap ₱100.00" in session.get(f"/accounts/{sender}").text
    balance = admin.get(f"/api/v1/accounts/{sender}").body["balances"][0]
    assert (balance["min_balance"], balance["max_balance"]) == ("-25.00", "100.00")


def test_a_payment_is_reversed_in_part_from_its_page(session, writer, admin):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    paid = writer.post("/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "6.00"}, wait=20)
    payment_id = paid.body["id"]
    assert "₱6.00 is left to reverse" in session.get(f"/payments/{payment_id}").text
    page = session.post(f"/payments/{payment_id}/reverse", {"amount": "2.50"})
    assert page.status == 303
    assert wait_until(lambda: admin.get(f"/api/v1/payments/{payment_id}").body["reversed_amount"] == "2.50")
    assert "₱3.50 is left to reverse" in session.get(f"/payments/{payment_id}").text
    over = session.post(f"/payments/{payment_id}/reverse", {"amount": "3.51"})
    assert over.status == 422 and over.field_error("amount") == "must be at most 3.50"


def test_lists_filter_by_the_new_statuses_and_the_overview_counts_them(session, writer, admin):
    sender = open_account(writer, admin, {"PHP": "50.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    payment = held(writer, sender, receiver, "5.00")
    page = session.get("/payments?status=authorized")
    assert (payment["id"], "authorized") in page.rows()
    assert all(status == "authorized" for _, status in page.rows())
    overview = session.get("/")
    for status in ("Authorized", "Voided", "Expired"):
        assert f"{status} " in overview.text and f'href="/payments?status={status.lower()}"' in overview.html
