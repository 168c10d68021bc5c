"""The API documents itself (SPEC section 5): an OpenAPI 3.1 document that
matches the routes, scopes and bodies as implemented, and a docs page that
renders it with nothing loaded from outside."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate as validate_openapi
from tornado.web import RequestHandler

from handlers.app import routes
from handlers.base import HTTP_METHODS, APIHandler
from tests.support.ledger import open_account, unique
from tests.support.openapi import assert_matches_documentation


@pytest.fixture(scope="module")
def document(anonymous) -> dict:
    response = anonymous.get("/api/v1/openapi.json")
    assert response.status == 200, response.raw
    return response.body


def route_template(pattern: str) -> str:
    """`/api/v1/accounts/([^/]+)/payments` -> `/api/v1/accounts/{}/payments`."""
    path = re.sub(r"\([^)]*\)", "{}", pattern.removesuffix("$").removesuffix("/?"))
    return path.replace("\\.", ".")


def doc_template(path: str) -> str:
    return re.sub(r"\{[^}/]+\}", "{}", path)


def implemented_methods(handler: type) -> dict[str, str | None]:
    """Method name -> the scope its guard requires (None when public)."""
    found = {}
    for name in HTTP_METHODS:
        method = getattr(handler, name.lower(), None)
        if method is not None and method is not getattr(RequestHandler, name.lower(), None):
            found[name.lower()] = method.required_scope
    return found


def routed_api() -> dict[tuple[str, str], str | None]:
    """(path template, method) -> scope, for every JSON API route: paths under
    /api and any other path an APIHandler serves (the health probes)."""
    table = {}
    for route in routes():
        pattern, handler = route[0], route[1]
        if pattern.startswith("/api") or issubclass(handler, APIHandler):
            for method, needed in implemented_methods(handler).items():
                table[(route_template(pattern), method)] = needed
    return table


def documented(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (doc_template(path), method): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {m.lower() for m in HTTP_METHODS}
    }


def test_openapi_document_is_public_and_valid_openapi_3_1(anonymous, document):
    response = anonymous.get("/api/v1/openapi.json")
    assert response.status == 200
    assert response.header("Content-Type").startswith("application/json")
    assert document["openapi"].startswith("3.1.")
    validate_openapi(document)


def test_every_routed_api_operation_is_documented_with_exactly_its_methods(document):
    routed = set(routed_api())
    described = set(documented(document))
    assert routed - described == set(), "routed but not documented"
    assert described - routed == set(), "documented but not routed"


def test_every_operation_states_the_scope_its_handler_requires(document):
    operations = documented(document)
    for route, needed in routed_api().items():
        operation = operations[route]
        assert operation["x-scope"] == needed, route
        assert operation["security"] == ([] if needed is None else [{"bearer": [needed]}]), route
        stated = "Public: no token needed." if needed is None else f"with the `{needed}` scope"
        assert stated in operation["description"], route
        assert ("401" in operation["responses"]) == (needed is not None), route
        assert ("403" in operation["responses"]) == (needed is not None), route


def test_every_operation_says_whether_customer_tokens_may_call_it_as_its_handler_does(document):
    operations = documented(document)
    open_to_customers = {
        (route_template(route[0]), method): getattr(route[1], method).open_to_customers
        for route in routes()
        if route[0].startswith("/api")
        for method in implemented_methods(route[1])
    }
    assert {route for route, is_open in open_to_customers.items() if is_open} == {
        route for route, operation in operations.items() if operation.get("x-customer-tokens")
    }
    # The feed checks its token itself: a customer token follows its own account.
    assert operations[("/api/v1/stream", "get")]["x-customer-tokens"] is True


def test_every_post_takes_an_idempotency_key_and_payment_posts_take_prefer_wait(document):
    for (path, method), operation in documented(document).items():
        names = {ref["$ref"].rsplit("/", 1)[-1] for ref in operation["parameters"]}
        assert "RequestId" in names, (path, method)
        if method == "post":
            assert "IdempotencyKey" in names, path
            assert "409" in operation["responses"], path
        # A retried webhook delivery is accepted (202) too, and settles nothing.
        settles = "202" in operation["responses"] and operation["tags"] != ["Webhooks"]
        ends_hold = path.endswith(("/capture", "/void"))
        assert ("PreferWait" in names) == (settles or ends_hold), path
        if path.endswith("/capture"):
            assert {"200", "202"} <= set(operation["responses"]), path
        elif settles:
            assert {"200", "201", "202"} <= set(operation["responses"]), path


def test_request_bodies_refuse_unknown_fields(document, writer):
    schemas = document["components"]["schemas"]
    for (path, method), operation in documented(document).items():
        if "requestBody" in operation:
            name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schemas[name]["additionalProperties"] is False, (path, method, name)
    refused = writer.post("/api/v1/accounts", {"owner": "Ann", "nickname": "a"})
    assert refused.status == 400 and refused.body["error"]["code"] == "invalid_request"
    assert_matches_documentation(document, "/api/v1/accounts", "post", refused)


def test_account_responses_match_their_documented_schemas(document, writer, admin, anonymous, reader):
    account_id = unique()
    body = {"id": account_id, "owner": "Docs Owner", "email": "docs@example.com", "currencies": ["PHP", "JPY"]}
    created = writer.post("/api/v1/accounts", body, headers={"Idempotency-Key": account_id})
    assert created.status == 201
    assert_matches_documentation(document, "/api/v1/accounts", "post", created)
    replayed = writer.post("/api/v1/accounts", body, headers={"Idempotency-Key": account_id})
    assert replayed.status == 200 and replayed.header("Idempotent-Replayed") == "true"
    assert_matches_documentation(document, "/api/v1/accounts", "post", replayed)
    conflict = writer.post("/api/v1/accounts", {**body, "owner": "Other"}, headers={"Idempotency-Key": account_id})
    assert_matches_documentation(document, "/api/v1/accounts", "post", conflict)

    path = "/api/v1/accounts/{account_id}"
    assert_matches_documentation(document, path, "get", reader.get(f"/api/v1/accounts/{account_id}"))
    assert_matches_documentation(document, path, "get", reader.get("/api/v1/accounts/no-such-account"))
    assert_matches_documentation(document, path, "patch", admin.patch(f"/api/v1/accounts/{account_id}", {"owner": "B"}))
    assert_matches_documentation(document, path, "patch", writer.patch(f"/api/v1/accounts/{account_id}", {}))
    assert_matches_documentation(document, path, "patch", admin.patch("/api/v1/accounts/@system", {"owner": "X"}))
    assert_matches_documentation(
        document, "/api/v1/accounts", "get", reader.get("/api/v1/accounts", params={"limit": 2})
    )
    assert_matches_documentation(document, "/api/v1/accounts", "get", anonymous.get("/api/v1/accounts"))
    assert_matches_documentation(document, "/api/v1/accounts", "get", reader.get("/api/v1/accounts?limit=0"))

    balance = writer.post(f"/api/v1/accounts/{account_id}/balances", {"currency": "USD"})
    assert balance.status == 201
    assert_matches_documentation(document, "/api/v1/accounts/{account_id}/balances", "post", balance)
    again = writer.post(f"/api/v1/accounts/{account_id}/balances", {"currency": "USD"})
    assert again.status == 409
    assert_matches_documentation(document, "/api/v1/accounts/{account_id}/balances", "post", again)
    balance_path = "/api/v1/balances/{balance_id}"
    assert_matches_documentation(document, balance_path, "get", reader.get(f"/api/v1/balances/{balance.body['id']}"))
    changed = admin.patch(f"/api/v1/balances/{balance.body['id']}", {"active": False})
    assert_matches_documentation(document, balance_path, "patch", changed)


def test_payment_responses_match_their_documented_schemas(document, writer, admin, reader):
    bob = open_account(writer, admin, {"PHP": "10.00"})
    alice = open_account(writer, admin, currencies=["PHP"])
    settled = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": "2.50"}, wait=20)
    assert settled.status == 201 and len(settled.body["entries"]) == 2
    assert_matches_documentation(document, "/api/v1/payments", "post", settled)
    pending = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": 1})
    assert_matches_documentation(document, "/api/v1/payments", "post", pending)
    refused = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": "-1"})
    assert refused.status == 422 and "amount" in refused.body["error"]["fields"]
    assert_matches_documentation(document, "/api/v1/payments", "post", refused)
    assert_matches_documentation(
        document, "/api/v1/payments", "post", writer.post("/api/v1/payments", raw=b"{not json")
    )
    assert_matches_documentation(
        document, "/api/v1/deposits", "post", writer.post("/api/v1/deposits", {"account": bob, "currency": "PHP"})
    )
    withdrawal = admin.post("/api/v1/withdrawals", {"account": bob, "currency": "PHP", "amount": "99"}, wait=20)
    assert withdrawal.body["status"] == "failed"
    assert_matches_documentation(document, "/api/v1/withdrawals", "post", withdrawal)

    assert_matches_documentation(
        document, "/api/v1/payments/{payment_id}", "get", reader.get(f"/api/v1/payments/{settled.body['id']}")
    )
    assert_matches_documentation(
        document, "/api/v1/payments", "get", reader.get("/api/v1/payments", params={"limit": 1})
    )
    assert_matches_documentation(document, "/api/v1/payments", "get", reader.get("/api/v1/payments?cursor=zzz"))
    history = reader.get(f"/api/v1/accounts/{alice}/payments")
    assert {line["direction"] for line in history.body["data"]} == {"incoming"}
    assert_matches_documentation(document, "/api/v1/accounts/{account_id}/payments", "get", history)
    outgoing = reader.get(f"/api/v1/accounts/{bob}/payments", params={"kind": "transfer"})
    assert_matches_documentation(document, "/api/v1/accounts/{account_id}/payments", "get", outgoing)
    balance_id = settled.body["entries"][0]["balance"]
    statement = reader.get(f"/api/v1/balances/{balance_id}/entries")
    assert_matches_documentation(document, "/api/v1/balances/{balance_id}/entries", "get", statement)


def test_reference_and_probe_responses_match_their_documented_schemas(document, admin, reader, anonymous):
    assert_matches_documentation(document, "/api/v1/currencies", "get", reader.get("/api/v1/currencies"))
    code = "D" + unique("").replace("-", "")[:8].upper()
    added = admin.post("/api/v1/currencies", {"code": code, "name": "Docs coin", "exponent": 8})
    assert added.status == 201
    assert_matches_documentation(document, "/api/v1/currencies", "post", added)
    assert_matches_documentation(
        document, "/api/v1/currencies", "post", reader.post("/api/v1/currencies", {"code": "X"})
    )
    assert_matches_documentation(document, "/api/v1/events", "get", reader.get("/api/v1/events", params={"limit": 5}))
    assert_matches_documentation(document, "/api/v1/audit", "get", admin.get("/api/v1/audit"))
    assert_matches_documentation(document, "/api/v1/audit", "get", reader.get("/api/v1/audit"))
    for path in ("/api", "/api/v1", "/healthz", "/readyz"):
        assert_matches_documentation(document, path, "get", anonymous.get(path))


def test_docs_page_renders_the_document_with_nothing_from_another_host(anonymous):
    page = anonymous.get("/docs")
    assert page.status == 200
    assert page.header("Content-Type").startswith("text/html")
    html = page.raw.decode()
    assert '<script src="/static/docs.js"' in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], "inline script"
    for asset in ("/static/docs.js", "/static/docs.css"):
        served = anonymous.get(asset)
        assert served.status == 200, asset
        html += served.raw.decode()
    assert "/api/v1/openapi.json" in html
    assert re.findall(r"https?://[^\s\"'<>)]+", html) == []


def test_every_operation_that_takes_an_id_in_its_path_is_linked_from_an_answer_that_hands_it_out(document):
    linked = {
        name
        for item in document["paths"].values()
        for operation in item.values()
        for response in operation["responses"].values()
        for name in response.get("links", {})
    }
    taking_ids = {
        operation["operationId"]
        for path, item in document["paths"].items()
        for operation in item.values()
        if "{" in path
    }
    assert taking_ids - linked == set(), "no answer links to these"


def test_a_link_fills_the_path_of_its_operation_from_the_answer_it_comes_with(writer, admin, document):
    account = open_account(writer, admin, currencies=["PHP"])
    answer = writer.get(f"/api/v1/accounts/{account}").body
    links = document["paths"]["/api/v1/accounts/{account_id}"]["get"]["responses"]["200"]["links"]
    entries = links["listBalanceEntries"]["parameters"]["balance_id"].removeprefix("$response.body#")
    balance = answer
    for part in entries.strip("/").split("/"):
        balance = balance[int(part)] if isinstance(balance, list) else balance[part]
    assert writer.get(f"/api/v1/balances/{balance}/entries").status == 200


@pytest.mark.parametrize(
    ("method", "path", "status", "reached"),
    [
        ("get", "/api/v1/balances/{balance_id}", "200", {"getBalanceStatement", "getAccount"}),
        ("get", "/api/v1/balances/{balance_id}/statement", "200", {"getBalance", "listBalanceEntries"}),
        ("get", "/api/v1/search", "200", {"getAccount", "updatePayment"}),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/deliveries/{delivery}/retry", "202", {"listWebhookDeliveries"}),
    ],
)
def test_operators_and_webhooks_answers_link_to_what_their_ids_reach(document, method, path, status, reached):
    links = document["paths"][path][method]["responses"][status].get("links", {})
    assert reached <= set(links)
