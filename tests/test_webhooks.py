"""Webhooks (SPEC section 13): endpoints managed by admins, deliveries
signed per Standard Webhooks (checked by the `standardwebhooks` library,
unchanged, in a real HTTPS receiver), in `seq` order per endpoint with
`prev_seq`, retried with the same `webhook-id`, given up, the endpoint
disabled with an event, resent by hand; a failing or hanging endpoint
delays no other. On both backends: the server's own sender when embedded,
the workers' senders with services.

Each test's endpoint follows an account of its own (`account` filter), so
tests sharing the server never see each other's events."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest

from deploy.processes import free_port_pair, spawn
from tests.support.client import Api
from tests.support.environment import CONFIG, RECEIVER_CERTIFICATE
from tests.support.events import events_after, head_seq
from tests.support.ledger import open_account
from tests.support.metrics import scrape
from tests.support.receiver import FAIL, HANG, OK, Receiver, assert_in_order
from tests.support.waiting import wait_until
from webhooks.sharing import HEARTBEAT_SECONDS

ENDPOINTS = "/api/v1/webhook-endpoints"
# An endpoint is sent the events numbered after it was made: the account's
# own account.created may be numbered a moment after, so tests that count
# deliveries follow the payments' events only.
PAYMENT_EVENTS = ["payment.created", "payment.completed"]


@pytest.fixture
def receiver():
    running = Receiver(RECEIVER_CERTIFICATE)
    yield running
    running.stop()


def make_endpoint(admin: Api, receiver: Receiver, **fields) -> dict:
    made = admin.post(ENDPOINTS, {"url": receiver.url, **fields})
    assert made.status == 201, made.body
    receiver.secrets = [made.body["secret"]]
    return made.body


def deposit(admin: Api, account: str, amount: str = "1.00") -> dict:
    done = admin.post("/api/v1/deposits", {"account": account, "currency": "PHP", "amount": amount}, wait=20)
    assert done.body["status"] == "completed", done.body
    return done.body


def deliveries_log(admin: Api, endpoint_id: str) -> list[dict]:
    answer = admin.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", params={"limit": 500})
    assert answer.status == 200, answer.body
    return answer.body["data"]


def delivered(admin: Api, endpoint_id: str) -> list[dict]:
    return [a for a in deliveries_log(admin, endpoint_id) if a["outcome"] == "delivered"]


def test_an_endpoint_is_made_by_an_admin_and_its_secret_is_shown_once(admin, writer, receiver):
    made = make_endpoint(admin, receiver, event_types=["payment.completed"], description="ledger sync")
    assert made["secret"].startswith("whsec_")
    assert made["active"] is True and made["state"] == "active"
    assert made["event_types"] == ["payment.completed"]
    shown = admin.get(f"{ENDPOINTS}/{made['id']}")
    assert shown.status == 200
    assert "secret" not in shown.body
    assert {k: v for k, v in shown.body.items()} == {k: v for k, v in made.items() if k != "secret"}
    listed, cursor = [], None
    while True:
        page = admin.get(ENDPOINTS, params={"limit": 2, **({"cursor": cursor} if cursor else {})}).body
        listed += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert made["id"] in [e["id"] for e in listed]
    assert all("secret" not in e for e in listed)
    assert writer.get(ENDPOINTS).status == 403
    assert writer.post(ENDPOINTS, {"url": receiver.url}).status == 403


def test_an_endpoint_sent_twice_with_one_idempotency_key_is_made_once_and_its_secret_shown_once(admin, receiver):
    key = {"Idempotency-Key": f"hook-{time.time_ns()}"}
    first = admin.post(ENDPOINTS, {"url": receiver.url}, headers=key)
    again = admin.post(ENDPOINTS, {"url": receiver.url}, headers=key)
    assert (first.status, again.status) == (201, 200)
    assert again.header("Idempotent-Replayed") == "true"
    assert again.body["id"] == first.body["id"]
    assert "secret" in first.body and "secret" not in again.body
    assert admin.post(ENDPOINTS, {"url": receiver.url + "?other"}, headers=key).status == 409


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "url"),
        ({"url": 42}, 400, "url"),
        ({"url": "https://example.com/x", "surprise": 1}, 400, "surprise"),
        ({"url": "ftp://example.com/x"}, 422, "url"),
        ({"url": "https://user:secret@localhost/x"}, 422, "url"),
        ({"url": "https://localhost/x", "event_types": ["payment.teleported"]}, 422, "event_types"),
        ({"url": "https://localhost/x", "event_types": []}, 422, "event_types"),
        ({"url": "https://localhost/x", "event_types": ["*", "payment.created"]}, 422, "event_types"),
        ({"url": "https://localhost/x", "event_types": "payment.created"}, 400, "event_types"),
        ({"url": "https://localhost/x", "account": "nobody-here-at-all"}, 422, "account"),
        ({"url": "https://localhost/x", "description": "x" * 501}, 422, "description"),
        ({"url": "https://localhost/x", "active": "yes"}, 400, "active"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_its_field(admin, body, status, field):
    refused = admin.post(ENDPOINTS, body)
    assert refused.status == status, refused.body
    assert field in refused.body["error"]["fields"]


def test_unknown_endpoints_and_deliveries_are_404_and_bad_cursors_400(admin, receiver):
    assert admin.get(f"{ENDPOINTS}/we_nothing").body["error"]["code"] == "not_found"
    assert admin.patch(f"{ENDPOINTS}/we_nothing", {"active": False}).status == 404
    assert admin.request("DELETE", f"{ENDPOINTS}/we_nothing").status == 404
    assert admin.post(f"{ENDPOINTS}/we_nothing/rotate-secret").status == 404
    assert admin.get(f"{ENDPOINTS}/we_nothing/deliveries").status == 404
    made = make_endpoint(admin, receiver)
    assert admin.post(f"{ENDPOINTS}/{made['id']}/deliveries/12345/retry").status == 404
    assert admin.post(f"{ENDPOINTS}/{made['id']}/deliveries/abc/retry").status == 404
    assert admin.get(ENDPOINTS, params={"cursor": "nonsense"}).body["error"]["code"] == "invalid_cursor"
    assert admin.get(ENDPOINTS, params={"limit": "0"}).status == 400


def test_deliveries_are_signed_for_standard_webhooks_and_come_in_order_with_prev_seq(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    made = make_endpoint(admin, receiver, account=account, event_types=PAYMENT_EVENTS)
    for n in range(4):
        deposit(admin, account, f"{n + 1}.00")
    # Each deposit: payment.created, payment.completed.
    got = receiver.wait_for(lambda got: len(got) >= 8)
    assert_in_order(got)
    assert len({d.headers["webhook-id"] for d in got}) == 8
    logged = {e["seq"]: e for e in events_after(admin, got[0].seq - 1) if e["seq"] in {d.seq for d in got}}
    for delivery in got:
        event = delivery.event
        assert set(event) == {"seq", "prev_seq", "type", "created_at", "actor", "data"}
        expected = logged[event["seq"]]
        assert (event["type"], event["created_at"], event["data"]) == (
            expected["type"],
            expected["created_at"],
            expected["data"],
        )
        assert account in (event["data"]["from_account"], event["data"]["to_account"])
    assert [e["type"] for e in (d.event for d in got)] == ["payment.created", "payment.completed"] * 4
    # The log is written in the background, a moment after the deliveries.
    log = wait_until(lambda: len(delivered(admin, made["id"])) >= 8 and deliveries_log(admin, made["id"]))
    assert sorted(a["seq"] for a in log if a["outcome"] == "delivered") == [d.seq for d in got]
    assert all(a["status_code"] == 200 and a["response"] == '{"ok":true}' for a in log)


def test_an_endpoint_gets_only_the_event_types_it_asked_for(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    make_endpoint(admin, receiver, account=account, event_types=["payment.completed"])
    for _ in range(3):
        deposit(admin, account)
    got = receiver.wait_for(lambda got: len(got) >= 3)
    assert {d.event["type"] for d in got} == {"payment.completed"}
    # prev_seq names the previous event this endpoint was sent, not the log's.
    assert_in_order(got)


def test_a_failing_endpoint_is_retried_with_the_same_webhook_id_until_it_answers(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    made = make_endpoint(admin, receiver, account=account, event_types=PAYMENT_EVENTS)
    receiver.mode = FAIL
    deposit(admin, account)
    assert wait_until(lambda: len(deliveries_log(admin, made["id"])) >= 3, timeout=20)
    receiver.mode = OK
    got = receiver.wait_for(lambda got: len(got) >= 2)
    assert_in_order(got)
    log = wait_until(lambda: len(delivered(admin, made["id"])) >= 2 and deliveries_log(admin, made["id"]))
    first = [a for a in log if a["seq"] == got[0].seq]
    assert {a["webhook_id"] for a in first} == {got[0].headers["webhook-id"]}
    assert [a["outcome"] for a in sorted(first, key=lambda a: int(a["id"]))][-1] == "delivered"
    assert sorted(a["attempt"] for a in first) == list(range(1, len(first) + 1))
    assert all(a["status_code"] == 500 for a in first if a["outcome"] == "failed")
    shown = admin.get(f"{ENDPOINTS}/{made['id']}").body
    assert shown["failing_since"] is None and shown["active"] is True


def test_an_endpoint_failing_too_long_has_its_events_given_up_then_is_disabled_with_an_event(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    receiver.mode = FAIL
    made = make_endpoint(admin, receiver, account=account)
    start = head_seq(admin)
    deposit(admin, account)

    def disabled():
        shown = admin.get(f"{ENDPOINTS}/{made['id']}").body
        return shown if shown["state"] == "disabled" else None

    shown = wait_until(disabled, timeout=40, interval=0.2)
    assert shown, "the endpoint was never disabled"
    assert shown["active"] is False and shown["disabled_reason"] == "disabled_by_failures"
    outcomes = {a["outcome"] for a in deliveries_log(admin, made["id"])}
    assert "given_up" in outcomes

    def announcements():
        return [
            e
            for e in events_after(admin, start)
            if e["type"] == "webhook_endpoint.disabled" and e["data"]["id"] == made["id"]
        ]

    # The event is numbered by the relay a moment after its commit.
    announced = wait_until(announcements, timeout=10, interval=0.2)
    assert len(announced) == 1
    assert announced[0]["data"]["disabled_reason"] == "disabled_by_failures"
    assert "secret" not in announced[0]["data"]


def test_a_given_up_delivery_is_sent_again_by_hand_as_it_was(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    made = make_endpoint(admin, receiver, account=account, event_types=["payment.completed"])
    receiver.mode = FAIL
    deposit(admin, account)

    def given_up():
        return [a for a in deliveries_log(admin, made["id"]) if a["outcome"] == "given_up"]

    gave_up = wait_until(given_up, timeout=20, interval=0.2)
    assert gave_up
    receiver.mode = OK
    retried = admin.post(f"{ENDPOINTS}/{made['id']}/deliveries/{gave_up[0]['id']}/retry")
    assert retried.status == 202, retried.body
    got = receiver.wait_for(lambda got: len(got) >= 1)
    assert got[0].verified
    assert got[0].headers["webhook-id"] == gave_up[0]["webhook_id"]
    assert (got[0].seq, got[0].prev_seq) == (gave_up[0]["seq"], gave_up[0]["prev_seq"])
    assert wait_until(
        lambda: any(a["manual"] and a["outcome"] == "delivered" for a in deliveries_log(admin, made["id"]))
    )


def test_a_rotated_secret_and_the_one_before_it_both_sign_deliveries(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    made = make_endpoint(admin, receiver, account=account, event_types=["payment.completed"])
    old_secret = made["secret"]
    rotated = admin.post(f"{ENDPOINTS}/{made['id']}/rotate-secret")
    assert rotated.status == 200
    new_secret = rotated.body["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert rotated.body["previous_secret_expires_at"] is not None
    assert "secret" not in admin.get(f"{ENDPOINTS}/{made['id']}").body

    for secrets in ([new_secret], [old_secret]):
        receiver.secrets = secrets
        seen = len(receiver.got())
        # The sender reads the endpoint's secrets at its next heartbeat.
        deposit(admin, account)
        got = receiver.wait_for(lambda got, seen=seen: len(got) > seen)
        assert all(d.verified for d in got[seen:]), [d.problem for d in got[seen:]]
        assert all(len(d.headers["webhook-signature"].split(" ")) == 2 for d in got[seen:])


def test_the_secret_before_a_rotation_stops_signing_when_its_day_is_over(admin, writer, receiver):
    from models.connection import utcnow
    from models.retry import retried_transaction
    from models.webhooks import WebhookEndpoint

    account = open_account(writer, admin, currencies=["PHP"])
    made = make_endpoint(admin, receiver, account=account, event_types=["payment.completed"])
    receiver.secrets = [admin.post(f"{ENDPOINTS}/{made['id']}/rotate-secret").body["secret"]]
    # The day after the rotation ends a few seconds from now.
    ends = utcnow() + timedelta(seconds=2 * HEARTBEAT_SECONDS + 2)
    retried_transaction(
        lambda: (
            WebhookEndpoint.update(previous_secret_expires_at=ends).where(WebhookEndpoint.id == made["id"]).execute()
        )
    )
    # The sender reads the endpoint's secrets at its next heartbeat.
    time.sleep(2 * HEARTBEAT_SECONDS)
    deposit(admin, account)
    before = receiver.wait_for(lambda got: len(got) >= 1)
    time.sleep(max(0.0, (ends - utcnow()).total_seconds()) + 0.5)
    deposit(admin, account)
    got = receiver.wait_for(lambda got: len(got) > len(before))
    assert all(d.verified for d in got), [d.problem for d in got]
    signatures = [len(d.headers["webhook-signature"].split(" ")) for d in got]
    assert signatures[0] == 2 and signatures[-1] == 1


def test_a_disabled_endpoint_gets_nothing_and_once_enabled_its_prev_seq_shows_the_gap(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    made = make_endpoint(admin, receiver, account=account, event_types=["payment.completed"])
    deposit(admin, account)
    first = receiver.wait_for(lambda got: len(got) >= 1)[0]
    off = admin.patch(f"{ENDPOINTS}/{made['id']}", {"active": False})
    assert off.status == 200 and off.body["disabled_reason"] == "disabled_by_admin"
    # A change reaches the senders at their next heartbeat.
    time.sleep(2 * HEARTBEAT_SECONDS)
    missed = deposit(admin, account)
    on = admin.patch(f"{ENDPOINTS}/{made['id']}", {"active": True})
    assert on.body["state"] == "active" and on.body["disabled_reason"] is None
    deposit(admin, account)
    got = receiver.wait_for(lambda got: len(got) >= 2)
    assert len(got) == 2
    assert got[1].prev_seq == first.seq
    # What it missed is exactly what /api/v1/events gives after prev_seq.
    between = [e for e in events_after(admin, got[1].prev_seq) if e["seq"] < got[1].seq]
    assert missed["id"] in [e["data"].get("id") for e in between if e["type"] == "payment.completed"]


def test_a_deleted_endpoint_is_gone_and_gets_nothing_more(admin, writer, receiver):
    account = open_account(writer, admin, currencies=["PHP"])
    made = make_endpoint(admin, receiver, account=account)
    assert admin.request("DELETE", f"{ENDPOINTS}/{made['id']}").status == 204
    assert admin.get(f"{ENDPOINTS}/{made['id']}").status == 404
    time.sleep(2 * HEARTBEAT_SECONDS)
    deposit(admin, account)
    other = Receiver(RECEIVER_CERTIFICATE)
    try:
        control = make_endpoint(admin, other, account=account)
        deposit(admin, account)
        other.wait_for(lambda got: len(got) >= 2)
        assert receiver.got() == []
        admin.request("DELETE", f"{ENDPOINTS}/{control['id']}")
    finally:
        other.stop()


def test_a_hanging_and_a_failing_endpoint_delay_no_other(admin, writer):
    account = open_account(writer, admin, currencies=["PHP"])
    hanging, failing, healthy = (Receiver(RECEIVER_CERTIFICATE) for _ in range(3))
    try:
        hanging.mode, failing.mode = HANG, FAIL
        for receiver in (hanging, failing, healthy):
            make_endpoint(admin, receiver, account=account)
        for n in range(10):
            deposit(admin, account, f"{n + 1}.00")
        got = healthy.wait_for(lambda got: len(got) >= 20, timeout=30)
        assert_in_order(got)
        # Meanwhile the others have had their first event only, again and again.
        assert hanging.got() == [] and failing.got() == []
        assert hanging.requests >= 1 and failing.requests >= 1
    finally:
        for receiver in (hanging, failing, healthy):
            receiver.stop()


def delivered_count(url: str) -> float:
    return scrape(url).get(("gateway_webhook_attempts_total", (("outcome", "delivered"),)), 0.0)


def test_attempts_are_counted_for_metrics_where_they_are_sent(gateway, admin, writer):
    """Embedded, the server sends and reports; with services a worker's
    sender reports on the port after the worker's METRICS_PORT."""
    account = open_account(writer, admin, currencies=["PHP"])
    receivers = [Receiver(RECEIVER_CERTIFICATE) for _ in range(6)]
    worker = None
    url = gateway.url + "/metrics"
    if CONFIG.database_url:
        port = free_port_pair()
        worker = spawn(["worker", "--workers", "1"], dict(os.environ, METRICS_PORT=str(port)))
        url = f"http://127.0.0.1:{port + 1}/metrics"
    made = []
    try:
        # Enough endpoints that every sender holds some.
        made = [make_endpoint(admin, r, account=account, event_types=["payment.completed"]) for r in receivers]

        def counted() -> bool:
            deposit(admin, account)
            try:
                return delivered_count(url) > 0
            except OSError:
                return False

        assert wait_until(counted, timeout=60, interval=0.5)
    finally:
        for endpoint in made:
            admin.request("DELETE", f"{ENDPOINTS}/{endpoint['id']}")
        for receiver in receivers:
            receiver.stop()
        if worker is not None:
            worker.terminate()
            worker.wait(30)
