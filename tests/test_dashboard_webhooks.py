"""Webhooks on the dashboard (SPEC section 13): `/webhooks` lists the
endpoints with their health and a notice for those disabled after failing;
an admin adds one (its secret shown once, on the page that answers the
form), and on an endpoint's page sees its delivery log, sends a delivery
again, rotates the secret (shown once), disables, enables and deletes it.
A viewer only looks."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import log_in, open_page
from tests.support.environment import RECEIVER_CERTIFICATE
from tests.support.ledger import open_account
from tests.support.pages import logged_in, new_operator
from tests.support.receiver import FAIL, OK, Receiver
from tests.support.waiting import wait_until
from tools.dashboard import Session


@pytest.fixture(scope="module")
def session(gateway) -> Session:
    return logged_in(gateway.url)


@pytest.fixture(scope="module")
def viewer(gateway) -> Session:
    return logged_in(gateway.url, "viewer")


@pytest.fixture
def receiver():
    running = Receiver(RECEIVER_CERTIFICATE)
    yield running
    running.stop()


def add_endpoint(session: Session, url: str, **fields: str) -> tuple[str, str]:
    """(endpoint id, secret) of an endpoint added through the form."""
    page = session.post("/webhooks", {"url": url, "event_types": "*", **fields})
    assert page.status == 201, page.text[:500]
    secret = re.search(r'id="new-secret"[^>]*value="(whsec_[^"]+)"', page.html)
    endpoint = re.search(r'href="/webhooks/(we_[0-9A-Z]{26})">Go to the endpoint', page.html)
    assert secret and endpoint, page.text[:500]
    return endpoint.group(1), secret.group(1)


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(session, receiver, admin):
    endpoint_id, secret = add_endpoint(session, receiver.url, description="books")
    listed = session.get("/webhooks")
    assert receiver.url in listed.text and "Healthy" in listed.text
    assert secret not in listed.html and secret not in session.get(f"/webhooks/{endpoint_id}").html
    assert admin.get(f"/api/v1/webhook-endpoints/{endpoint_id}").body["description"] == "books"


def test_a_refused_url_is_said_beside_its_field(session):
    page = session.post("/webhooks", {"url": "ftp://example.com/x", "event_types": "*"})
    assert page.status == 422
    assert page.field_error("url") == "must be an https:// URL"
    typo = session.post("/webhooks", {"url": "https://localhost/x", "event_types": "payment.done"})
    assert typo.status == 422 and "unknown event type" in (typo.field_error("event_types") or "")


def test_an_endpoints_page_shows_its_deliveries_and_sends_a_failed_one_again(session, receiver, writer, admin):
    account = open_account(writer, admin, currencies=["PHP"])
    receiver.mode = FAIL
    endpoint_id, secret = add_endpoint(session, receiver.url, account=account, event_types="payment.completed")
    receiver.secrets = [secret]
    admin.post("/api/v1/deposits", {"account": account, "currency": "PHP", "amount": "3.00"}, wait=20)

    def failed_row():
        found = re.search(
            r'data-attempt-id="([0-9]+)" data-outcome="(failed|given_up)"', session.get(f"/webhooks/{endpoint_id}").html
        )
        return found.group(1) if found else None

    attempt = wait_until(failed_row, timeout=20, interval=0.2)
    assert attempt
    page = session.get(f"/webhooks/{endpoint_id}")
    assert "500" in page.text and "Retry" in page.text
    receiver.mode = OK
    retried = session.post(f"/webhooks/{endpoint_id}/deliveries/{attempt}/retry", {})
    assert retried.status == 303 and "will be sent again" in session.get(retried.location).text
    assert receiver.wait_for(lambda got: len(got) >= 1)[0].verified


def test_disabling_shows_a_notice_and_enabling_clears_it(session, receiver):
    endpoint_id, _ = add_endpoint(session, receiver.url)
    off = session.post(f"/webhooks/{endpoint_id}/state", {"active": "false"})
    assert off.status == 303
    page = session.get(off.location)
    assert "Endpoint disabled" in page.text and "Disabled by an admin" in page.text
    assert "Enable" in page.text
    on = session.post(f"/webhooks/{endpoint_id}/state", {"active": "true"})
    assert "Disabled by an admin" not in session.get(on.location).text


def test_an_endpoint_disabled_after_failing_is_announced_on_the_list(session, receiver, writer, admin):
    account = open_account(writer, admin, currencies=["PHP"])
    receiver.mode = FAIL
    endpoint_id, _ = add_endpoint(session, receiver.url, account=account)
    admin.post("/api/v1/deposits", {"account": account, "currency": "PHP", "amount": "3.00"}, wait=20)

    def announced() -> bool:
        notice = re.search(r"data-disabled-notice>(.*?)</div>", session.get("/webhooks").html, flags=re.S)
        return notice is not None and f'href="/webhooks/{endpoint_id}"' in notice.group(1)

    assert wait_until(announced, timeout=40, interval=0.5)
    assert "after failing for too long: its events were given up" in session.get(f"/webhooks/{endpoint_id}").text
    session.post(f"/webhooks/{endpoint_id}/delete", {})


def test_rotating_shows_the_new_secret_once_and_deleting_removes_the_endpoint(session, receiver):
    endpoint_id, secret = add_endpoint(session, receiver.url)
    rotated = session.post(f"/webhooks/{endpoint_id}/rotate-secret", {})
    assert rotated.status == 200 and "New signing secret" in rotated.text
    new_secret = re.search(r'id="new-secret"[^>]*value="(whsec_[^"]+)"', rotated.html)
    assert new_secret and new_secret.group(1) != secret
    assert new_secret.group(1) not in session.get(f"/webhooks/{endpoint_id}").html
    deleted = session.post(f"/webhooks/{endpoint_id}/delete", {})
    assert deleted.status == 303 and "Endpoint deleted" in session.get(deleted.location).text
    assert session.get(f"/webhooks/{endpoint_id}").status == 404


def test_a_viewer_sees_webhooks_but_changes_nothing(session, viewer, receiver):
    endpoint_id, _ = add_endpoint(session, receiver.url)
    page = viewer.get(f"/webhooks/{endpoint_id}")
    assert page.status == 200 and "Rotate secret" not in page.text
    assert "Add an endpoint" not in viewer.get("/webhooks").text
    for path in ("rotate-secret", "state", "delete"):
        assert viewer.post(f"/webhooks/{endpoint_id}/{path}", {}).status == 403
    assert viewer.post("/webhooks", {"url": receiver.url}).status == 403


@pytest.mark.browser
def test_an_admin_adds_an_endpoint_in_the_browser_and_copies_its_secret(browser, gateway, receiver):
    page = open_page(browser, gateway)
    log_in(page, new_operator())
    page.get_by_role("link", name="Webhooks", exact=True).click()
    page.get_by_label("URL").fill(receiver.url)
    page.get_by_label("Event types").fill("payment.completed, payment.failed")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="Endpoint created")).to_be_visible()
    expect(page.get_by_label("Signing secret")).to_have_value(re.compile("^whsec_"))
    page.get_by_role("link", name="Go to the endpoint").click()
    expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    expect(page.get_by_text("payment.completed, payment.failed")).to_be_visible()
