"""Who may call what (SPEC section 5): a bearer token with a big enough scope
on every API route, driven from the app's own route table so that a route
added later without a guard is caught here."""

from __future__ import annotations

import pytest

from tests.support.bodies import cash, transfer
from tests.support.client import issue_token
from tests.support.ledger import open_account, unique
from tests.support.refusals import assert_error, leaves_nothing_behind
from tests.support.routes import API_CALLS, CALL_IDS, assert_unauthorized, call, needed_scope


def test_the_route_table_has_api_routes_to_check():
    paths = {path for _, path, _ in API_CALLS}
    assert {"/api/v1/accounts", "/api/v1/payments", "/api/v1/deposits", "/api/v1/events"} <= paths


@pytest.mark.parametrize(("method", "path", "websocket"), API_CALLS, ids=CALL_IDS)
def test_every_api_route_refuses_a_request_without_a_token_401(anonymous, method, path, websocket):
    assert_unauthorized(call(anonymous, method, path, websocket))


BAD_AUTHORIZATIONS = [
    "Bearer",
    "Bearer ",
    "Bearer pgw_" + "x" * 43,
    "Bearer not-a-gateway-token",
    "Bearer " + "x" * 5000,
    "Basic dXNlcjpwYXNzd29yZA==",
    "Token pgw_" + "x" * 43,
    "pgw_" + "x" * 43,
]


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATIONS, ids=[a[:24] for a in BAD_AUTHORIZATIONS])
@pytest.mark.parametrize(("method", "path", "websocket"), API_CALLS, ids=CALL_IDS)
def test_every_api_route_refuses_a_bad_token_401(anonymous, method, path, websocket, authorization):
    assert_unauthorized(call(anonymous, method, path, websocket, headers={"Authorization": authorization}))


def test_the_bearer_scheme_is_case_insensitive(reader):
    response = reader.get("/api/v1/accounts", headers={"Authorization": f"bearer {reader.token}"})
    assert response.status == 200, response.body


def test_a_revoked_token_is_refused_401(writer, admin):
    from models.auth import ApiToken
    from models.retry import read_only, retried_transaction

    secret = issue_token("write")
    api = writer.with_token(secret)
    assert api.get("/api/v1/accounts", params={"limit": 1}).status == 200
    token = read_only(lambda: ApiToken.authenticate(secret))
    assert token is not None  # just issued
    retried_transaction(lambda: token.revoke())
    assert_unauthorized(api.get("/api/v1/accounts", params={"limit": 1}))
    sender, receiver = open_account(writer, admin, {"PHP": "5.00"}), open_account(writer, admin, currencies=["PHP"])
    with leaves_nothing_behind(writer, sender, receiver):
        assert_unauthorized(api.post("/api/v1/payments", transfer(sender, receiver)))
        assert_unauthorized(api.post("/api/v1/accounts", {"id": unique(), "owner": "Revoked"}))


SCOPES = ("read", "write", "admin")
HOLDER = {"read": "reader", "write": "writer", "admin": "admin"}
SCOPED_CALLS = [(m, p, ws) for m, p, ws in API_CALLS if needed_scope(m, p) != "read"]


@pytest.mark.usefixtures("gateway")  # the callers are fixtures found by name below
@pytest.mark.parametrize(
    ("method", "path", "websocket"), SCOPED_CALLS, ids=[f"{m.upper()} {p}" for m, p, _ in SCOPED_CALLS]
)
def test_every_api_route_refuses_a_token_below_its_scope_403(request, method, path, websocket):
    below = SCOPES[SCOPES.index(needed_scope(method, path)) - 1]
    api = request.getfixturevalue(HOLDER[below])
    assert_error(call(api, method, path, websocket), 403, "forbidden")


@pytest.mark.usefixtures("gateway")  # the callers are fixtures found by name below
@pytest.mark.parametrize(("method", "path", "websocket"), API_CALLS, ids=CALL_IDS)
def test_every_api_route_lets_its_scope_and_above_through(request, method, path, websocket):
    # The body is empty and the ids are dummies: the answer may be 400 or 404,
    # but never a refusal of the token.
    for granted in SCOPES[SCOPES.index(needed_scope(method, path)) :]:
        response = call(request.getfixturevalue(HOLDER[granted]), method, path, websocket)
        assert response.status not in (401, 403, 500), (granted, response.status, response.body)


def test_a_read_token_cannot_send_a_payment_403(reader, writer, admin):
    sender, receiver = open_account(writer, admin, {"PHP": "5.00"}), open_account(writer, admin, currencies=["PHP"])
    with leaves_nothing_behind(writer, sender, receiver):
        response = reader.post("/api/v1/payments", transfer(sender, receiver))
    assert_error(response, 403, "forbidden")


def test_a_read_token_cannot_open_accounts_or_balances_403(reader, writer, admin):
    account_id = unique()
    response = reader.post("/api/v1/accounts", {"id": account_id, "owner": "Reader"})
    assert_error(response, 403, "forbidden")
    assert writer.get(f"/api/v1/accounts/{account_id}").status == 404
    holder = open_account(writer, admin, currencies=["PHP"])
    with leaves_nothing_behind(writer, holder):
        response = reader.post(f"/api/v1/accounts/{holder}/balances", {"currency": "USD"})
    assert_error(response, 403, "forbidden")


def test_a_write_token_cannot_do_what_needs_admin_403(writer, admin):
    account = open_account(writer, admin, {"PHP": "5.00"})
    balance_id = writer.get(f"/api/v1/accounts/{account}").body["balances"][0]["id"]
    with leaves_nothing_behind(writer, account):
        refused = [
            writer.post("/api/v1/deposits", cash(account)),
            writer.post("/api/v1/withdrawals", cash(account)),
            writer.post("/api/v1/currencies", {"code": "WRT" + unique("")[-4:].upper(), "name": "Coin", "exponent": 2}),
            writer.patch(f"/api/v1/accounts/{account}", {"active": False}),
            writer.patch(f"/api/v1/balances/{balance_id}", {"active": False}),
            writer.get("/api/v1/audit"),
        ]
    for response in refused:
        assert_error(response, 403, "forbidden")


def test_scope_is_checked_before_the_body_is_read(anonymous, reader):
    assert_unauthorized(anonymous.post("/api/v1/payments", raw=b"{not json"))
    assert_error(reader.post("/api/v1/payments", raw=b"{not json"), 403, "forbidden")


def test_scopes_are_nested_admin_can_write_and_read(admin):
    created = admin.post("/api/v1/accounts", {"id": unique(), "owner": "Admin Made", "currencies": ["PHP"]})
    assert created.status == 201, created.body
    assert admin.get(f"/api/v1/accounts/{created.body['id']}").status == 200


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/api", "/api/", "/api/v1", "/api/v1/", "/api/v1/openapi.json"]
)
def test_public_endpoints_work_without_a_token(anonymous, path):
    response = anonymous.get(path)
    assert response.status == 200, (response.status, response.body)
    assert isinstance(response.body, dict) and "error" not in response.body
    assert response.header("x-request-id")


def test_the_api_index_links_to_the_api(anonymous):
    links = anonymous.get("/api/v1").body["links"]
    assert links["accounts"] == "/api/v1/accounts" and links["payments"] == "/api/v1/payments"
