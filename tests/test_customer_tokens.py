"""Customer tokens (SPEC section 18): bound to one account, they read only
that account, follow only its feed, pay only from it with `read+pay`, are
refused everywhere else with 403, and end (feeds included) when revoked or
expired."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.bodies import transfer
from tests.support.events import head_seq
from tests.support.ledger import all_final, open_account
from tests.support.refusals import assert_error, leaves_nothing_behind
from tests.support.routes import API_CALLS, CALL_IDS, assert_unauthorized, call
from tests.support.waiting import wait_until
from tools.feed import FeedClient

DAY = 24 * 3600


def issue(admin, account: str, scope: str = "read", **more) -> dict:
    response = admin.post(f"/api/v1/accounts/{account}/tokens", {"scope": scope, **more})
    assert response.status == 201, response.body
    return response.body


@pytest.fixture
def wallet(writer, admin):
    """An account with money, one it has paid, and a token of each scope for it."""
    account = open_account(writer, admin, {"PHP": "100.00"})
    friend = open_account(writer, admin, {"PHP": "100.00"})
    paid = writer.post("/api/v1/payments", transfer(account, friend), wait=20).body
    received = writer.post("/api/v1/payments", transfer(friend, account), wait=20).body
    return {
        "account": account,
        "friend": friend,
        "payments": [paid["id"], received["id"]],
        "balance": paid["from_balance"],
        "friend_balance": paid["to_balance"],
        "read": writer.with_token(issue(admin, account, "read")["token"]),
        "pay": writer.with_token(issue(admin, account, "read+pay")["token"]),
    }


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_admin_issues_a_token_bound_to_an_account_for_24_hours_by_default(writer, admin):
    account = open_account(writer, admin, currencies=["PHP"])
    body = issue(admin, account)
    assert body["token"].startswith("pgw_") and body["account"] == account and body["scope"] == "read"
    lifetime = moment(body["expires_at"]) - moment(body["created_at"])
    assert timedelta(hours=23, minutes=59) < lifetime <= timedelta(hours=24, seconds=1)
    longest = issue(admin, account, "read+pay", expires_in=30 * DAY)
    assert moment(longest["expires_at"]) - moment(longest["created_at"]) > timedelta(days=29, hours=23)
    listed = admin.get(f"/api/v1/accounts/{account}/tokens").body["data"]
    assert [t["id"] for t in listed] == [longest["id"], body["id"]]
    assert all("token" not in t for t in listed)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"scope": "write"}, 422, "validation_error", "scope"),
        ({"scope": "admin"}, 422, "validation_error", "scope"),
        ({}, 400, "invalid_request", "scope"),
        ({"scope": "read", "expires_in": 0}, 422, "validation_error", "expires_in"),
        ({"scope": "read", "expires_in": 30 * DAY + 1}, 422, "validation_error", "expires_in"),
        ({"scope": "read", "expires_in": "3600"}, 400, "invalid_request", "expires_in"),
        ({"scope": "read", "expires_in": 1.5}, 400, "invalid_request", "expires_in"),
        ({"scope": "read", "account": "someone"}, 400, "invalid_request", "account"),
    ],
)
def test_a_customer_token_with_a_bad_scope_or_lifetime_is_refused(writer, admin, body, status, code, field):
    account = open_account(writer, admin, currencies=["PHP"])
    assert_error(admin.post(f"/api/v1/accounts/{account}/tokens", body), status, code, field)
    assert admin.get(f"/api/v1/accounts/{account}/tokens").body["data"] == []


def test_tokens_of_an_unknown_account_or_of_system_are_not_found(admin):
    for account in ("no-such-account", "@system"):
        assert_error(admin.post(f"/api/v1/accounts/{account}/tokens", {"scope": "read"}), 404, "not_found")
    assert_error(admin.get("/api/v1/accounts/no-such-account/tokens"), 404, "not_found")


def test_only_an_admin_issues_lists_and_revokes_customer_tokens(writer, reader, admin, wallet):
    account = wallet["account"]
    token_id = admin.get(f"/api/v1/accounts/{account}/tokens").body["data"][0]["id"]
    for api in (writer, reader, wallet["read"], wallet["pay"]):
        assert_error(api.post(f"/api/v1/accounts/{account}/tokens", {"scope": "read"}), 403, "forbidden")
        assert_error(api.get(f"/api/v1/accounts/{account}/tokens"), 403, "forbidden")
        assert_error(api.request("DELETE", f"/api/v1/accounts/{account}/tokens/{token_id}"), 403, "forbidden")


def test_a_customer_token_reads_its_account_balances_statements_and_payments(wallet):
    api, account, balance = wallet["read"], wallet["account"], wallet["balance"]
    assert api.get(f"/api/v1/accounts/{account}").body["id"] == account
    history = api.get(f"/api/v1/accounts/{account}/payments").body["data"]
    assert {p["payment_id"] for p in history} >= set(wallet["payments"])
    assert api.get(f"/api/v1/balances/{balance}").body["account"] == account
    assert len(api.get(f"/api/v1/balances/{balance}/entries").body["data"]) >= 3
    for payment_id in wallet["payments"]:
        assert api.get(f"/api/v1/payments/{payment_id}").body["id"] == payment_id


def test_a_customer_token_is_refused_what_belongs_to_other_accounts_403(writer, admin, wallet):
    stranger = open_account(writer, admin, {"PHP": "5.00"})
    strangers_payment = writer.post("/api/v1/payments", transfer(stranger, wallet["friend"])).body["id"]
    for api in (wallet["read"], wallet["pay"]):
        for path in (
            f"/api/v1/accounts/{wallet['friend']}",
            f"/api/v1/accounts/{wallet['friend']}/payments",
            f"/api/v1/balances/{wallet['friend_balance']}",
            f"/api/v1/balances/{wallet['friend_balance']}/entries",
            f"/api/v1/payments/{strangers_payment}",
            "/api/v1/accounts/no-such-account",
            "/api/v1/balances/no-such-balance",
            "/api/v1/payments/no-such-payment",
        ):
            assert_error(api.get(path), 403, "forbidden")


@pytest.mark.parametrize(("method", "path", "websocket"), API_CALLS, ids=CALL_IDS)
@pytest.mark.parametrize("scope", ["read", "read+pay"])
def test_every_api_route_refuses_a_customer_token_for_what_is_not_its_own_403(
    writer, admin, method, path, websocket, scope
):
    account = open_account(writer, admin, currencies=["PHP"])
    api = writer.with_token(issue(admin, account, scope)["token"])
    response = call(api, method, path, websocket)
    if websocket:
        # Its own feed is open to it; any other account's is refused.
        response = call(api, method, path + "?account=no-such-account", websocket)
    assert_error(response, 403, "forbidden")


def test_a_read_customer_token_cannot_pay_even_from_its_account_403(wallet):
    with leaves_nothing_behind(wallet["read"], wallet["account"]):
        response = wallet["read"].post("/api/v1/payments", transfer(wallet["account"], wallet["friend"]))
    assert_error(response, 403, "forbidden")


def test_a_read_pay_token_pays_from_its_account_only(wallet, writer, admin):
    api, account, friend = wallet["pay"], wallet["account"], wallet["friend"]
    paid = api.post("/api/v1/payments", transfer(account, friend, amount="2.50"), wait=20)
    assert paid.status == 201 and paid.body["status"] == "completed", paid.body
    with leaves_nothing_behind(writer, account, friend):
        assert_error(api.post("/api/v1/payments", transfer(friend, account)), 403, "forbidden")
        assert_error(api.post("/api/v1/payments", [transfer(account, friend)]), 403, "forbidden")
        assert_error(api.post("/api/v1/payments", raw=b"{not json"), 400, "malformed_json")
    assert writer.get(f"/api/v1/accounts/{account}").body["balances"][0]["amount"] == "97.50"


def test_revoked_or_expired_customer_tokens_are_refused_401(wallet, admin):
    account = wallet["account"]
    token_id = admin.get(f"/api/v1/accounts/{account}/tokens").body["data"][0]["id"]
    revoked = admin.request("DELETE", f"/api/v1/accounts/{account}/tokens/{token_id}")
    assert revoked.status == 200 and revoked.body["revoked_at"], revoked.body
    revoked_api = wallet["pay"] if revoked.body["scope"] == "read+pay" else wallet["read"]
    assert_unauthorized(revoked_api.get(f"/api/v1/accounts/{account}"))
    short = wallet["read"].with_token(issue(admin, account, "read", expires_in=1)["token"])
    assert wait_until(lambda: short.get(f"/api/v1/accounts/{account}").status == 401, timeout=10)
    assert_unauthorized(short.get(f"/api/v1/accounts/{account}"))


def test_a_token_is_revoked_only_through_its_own_account(wallet, writer, admin):
    other = open_account(writer, admin, currencies=["PHP"])
    token_id = admin.get(f"/api/v1/accounts/{wallet['account']}/tokens").body["data"][0]["id"]
    for path in (f"/api/v1/accounts/{other}/tokens/{token_id}", f"/api/v1/accounts/{other}/tokens/not-a-number"):
        assert_error(admin.request("DELETE", path), 404, "not_found")
    assert admin.get(f"/api/v1/accounts/{wallet['account']}/tokens").body["data"][0]["revoked_at"] is None


def test_a_customer_token_follows_its_own_accounts_feed_only(wallet, writer, admin, gateway):
    start = head_seq(admin)
    implied = FeedClient(gateway.url, wallet["read"].token, after=start).start()
    named = FeedClient(gateway.url, wallet["read"].token, after=start, account=wallet["account"]).start()
    stranger = open_account(writer, admin, {"PHP": "5.00"})
    ids = [
        writer.post("/api/v1/payments", transfer(wallet["friend"], wallet["account"])).body["id"],
        writer.post("/api/v1/payments", transfer(stranger, wallet["friend"])).body["id"],
    ]
    all_final(writer, ids)
    for client in (implied, named):
        assert wait_until(lambda c=client: len(c.events) >= 2, timeout=30)
    implied.stop()
    named.stop()
    assert implied.events == named.events
    assert {e["data"]["id"] for e in implied.events} == {ids[0]}
    assert all(wallet["account"] in json.dumps(e["data"]) for e in implied.events)
    other = FeedClient(gateway.url, wallet["read"].token, after=start, account=wallet["friend"]).start()
    assert wait_until(lambda: not other.running, timeout=30)
    assert other.refused is not None and other.refused.startswith("403 forbidden")


async def feed_until_closed(url: str, token: str) -> tuple[int | None, str | None]:
    """Follow the feed with `token` until the server closes it: its code and reason."""
    ws_url = url.replace("http://", "ws://") + "/api/v1/stream"
    connection = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"Bearer {token}"}))
    while await asyncio.wait_for(connection.read_message(), 30) is not None:
        pass
    return connection.close_code, connection.close_reason


def test_revoking_a_token_closes_its_open_feeds(wallet, admin, gateway):
    account = wallet["account"]
    token = issue(admin, account, "read")

    async def follow_then_revoke() -> tuple[int | None, str | None]:
        following = asyncio.ensure_future(feed_until_closed(gateway.url, token["token"]))
        await asyncio.sleep(0.5)
        revoked = await asyncio.to_thread(admin.request, "DELETE", f"/api/v1/accounts/{account}/tokens/{token['id']}")
        assert revoked.status == 200
        return await following

    code, reason = asyncio.run(follow_then_revoke())
    assert code == 4001 and reason is not None and reason.startswith("token revoked"), (code, reason)
    with pytest.raises(HTTPClientError) as refused:
        asyncio.run(feed_until_closed(gateway.url, token["token"]))
    assert refused.value.code == 401


def test_an_expiring_token_closes_its_open_feeds(wallet, admin, gateway):
    token = issue(admin, wallet["account"], "read", expires_in=2)
    code, reason = asyncio.run(feed_until_closed(gateway.url, token["token"]))
    assert code == 4001 and reason is not None and reason.startswith("token expired"), (code, reason)


def test_issuing_again_with_the_same_idempotency_key_replays_without_the_secret(writer, admin):
    account = open_account(writer, admin, currencies=["PHP"])
    headers = {"Idempotency-Key": f"token-{account}"}
    first = admin.post(f"/api/v1/accounts/{account}/tokens", {"scope": "read"}, headers=headers)
    again = admin.post(f"/api/v1/accounts/{account}/tokens", {"scope": "read"}, headers=headers)
    assert first.status == 201 and "token" in first.body
    assert again.status == 200 and again.header("idempotent-replayed") == "true"
    assert again.body == {k: v for k, v in first.body.items() if k != "token"}
    assert len(admin.get(f"/api/v1/accounts/{account}/tokens").body["data"]) == 1


def test_revoking_a_token_through_another_web_process_closes_its_feeds_here(wallet, admin, gateway, second_web):
    account = wallet["account"]
    token = issue(admin, account, "read")
    elsewhere = admin.at(second_web)

    async def follow_then_revoke() -> tuple[int | None, str | None]:
        following = asyncio.ensure_future(feed_until_closed(gateway.url, token["token"]))
        await asyncio.sleep(0.5)
        revoked = await asyncio.to_thread(
            elsewhere.request, "DELETE", f"/api/v1/accounts/{account}/tokens/{token['id']}"
        )
        assert revoked.status == 200
        return await following

    code, reason = asyncio.run(follow_then_revoke())
    assert code == 4001 and reason is not None and reason.startswith("token revoked"), (code, reason)
