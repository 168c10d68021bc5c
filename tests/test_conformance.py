"""The API takes exactly what its OpenAPI document says it takes (SPEC
section 5), in the corners an API fuzzer looks at: query parameters no
operation documents, methods a path does not have, numbers written with a
decimal point, request ids of any shape. (The fuzzer itself runs in
tests/test_fuzz.py.)"""

from __future__ import annotations

import re
import uuid

import pytest

from models.account import ACCOUNT_ID_PATTERN
from models.idempotency import MAX_KEY_LENGTH
from models.validation import NUL_FREE_PATTERN
from openapi.document import openapi_document
from tests.support.ledger import open_account
from tests.support.refusals import assert_error, newest_seq
from web.protocol import REQUEST_ID

DOCUMENT = openapi_document()
HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def concrete(path: str) -> str:
    """The documented path with every parameter filled (a currency code fits
    the rate pairs' pattern and is as unknown as any id)."""
    return re.sub(r"\{[^}]+\}", "XTS", path)


def documented_methods(path: str) -> set[str]:
    return {method.upper() for method in DOCUMENT["paths"][path] if method in HTTP_METHODS}


GETS = sorted(path for path, item in DOCUMENT["paths"].items() if "get" in item)
PATHS = sorted(DOCUMENT["paths"])


@pytest.mark.parametrize("path", GETS)
def test_a_query_parameter_the_operation_does_not_document_is_400_naming_it(admin, path):
    response = admin.get(concrete(path), params={"colour": "blue"})
    assert_error(response, 400, "invalid_request", "colour")


def test_a_parameter_of_another_operation_is_refused_too(admin):
    response = admin.get("/api/v1/accounts", params={"status": "pending", "limit": "5"})
    error = assert_error(response, 400, "invalid_request", "status")
    assert "limit" not in error["fields"]


def test_the_parameters_an_operation_documents_are_taken(admin):
    response = admin.get("/api/v1/payments", params={"status": "completed", "order": "asc", "limit": "2"})
    assert response.status == 200, response.body
    assert len(response.body["data"]) <= 2


@pytest.mark.parametrize("path", PATHS)
def test_every_path_answers_a_method_it_does_not_have_with_405_and_allow_naming_its_methods(admin, path):
    methods = documented_methods(path)
    missing = next(method for method in ("DELETE", "PUT", "PATCH", "POST", "GET") if method not in methods)
    before = newest_seq(admin)
    for method in ("TRACE", missing):
        response = admin.request(method, concrete(path), None if method in ("GET", "DELETE", "TRACE") else {})
        assert_error(response, 405, "method_not_allowed")
        assert set((response.header("allow") or "").replace(" ", "").split(",")) == methods, response.headers
    assert newest_seq(admin) == before


def test_a_dashboard_page_answers_a_method_it_does_not_have_with_405_and_allow(anonymous):
    response = anonymous.request("TRACE", "/login")
    assert response.status == 405
    assert set((response.header("allow") or "").replace(" ", "").split(",")) == {"GET", "POST"}


@pytest.mark.parametrize(("written", "meant"), [("5.0", 5), ("5.000", 5), ("2E0", 2), ("0.0", 0)])
def test_a_currency_exponent_written_with_a_decimal_point_is_the_whole_number_it_equals(admin, written, meant):
    code = "T" + uuid.uuid4().hex[:8].upper()
    raw = f'{{"code": "{code}", "name": "Coin", "exponent": {written}}}'.encode()
    response = admin.post("/api/v1/currencies", raw=raw)
    assert response.status == 201, response.body
    assert response.body["exponent"] == meant


@pytest.mark.parametrize("written", ["5.5", "1E-1", "true", '"5"'])
def test_a_currency_exponent_that_is_not_a_whole_number_is_400(admin, written):
    code = "T" + uuid.uuid4().hex[:8].upper()
    raw = f'{{"code": "{code}", "name": "Coin", "exponent": {written}}}'.encode()
    assert_error(admin.post("/api/v1/currencies", raw=raw), 400, "invalid_request", "exponent")


@pytest.mark.parametrize("request_id", ["has spaces", "x" * 129, "semi;colon", "\u00e9t\u00e9"])
def test_a_request_id_that_breaks_the_documented_pattern_is_answered_under_a_new_one(reader, request_id):
    response = reader.get("/api/v1/currencies", headers={"X-Request-Id": request_id.encode().decode("latin-1")})
    assert response.status == 200, response.body
    given = response.header("x-request-id")
    assert given != request_id and given is not None and REQUEST_ID.match(given)


def test_the_document_says_that_a_request_id_of_another_shape_is_replaced():
    parameter = DOCUMENT["components"]["parameters"]["RequestId"]
    assert "pattern" not in parameter["schema"]
    assert REQUEST_ID.pattern in parameter["description"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/accounts", {"owner": "Newline", "id": "ends-in-newline\n"}, "id"),
        ("/api/v1/accounts", {"owner": "Newline", "email": "a@example.com\n"}, "email"),
        ("/api/v1/currencies", {"code": "NEWLINE\n", "name": "Coin", "exponent": 2}, "code"),
    ],
)
def test_a_pattern_is_matched_by_the_whole_value_a_final_newline_included(admin, path, body, field):
    assert_error(admin.post(path, body), 422, "validation_error", field)


def test_null_for_an_optional_field_is_the_same_as_leaving_it_out(writer, admin):
    account = admin.post("/api/v1/accounts", {"owner": "Keeps Her Name", "email": None, "id": None}).body["id"]
    changed = admin.patch(f"/api/v1/accounts/{account}", {"owner": None, "active": None, "email": "k@example.com"})
    assert changed.status == 200, changed.body
    assert (changed.body["owner"], changed.body["active"], changed.body["email"]) == (
        "Keeps Her Name",
        True,
        "k@example.com",
    )


@pytest.mark.parametrize(("path", "param"), [("/api/v1/accounts", "q"), ("/api/v1/payments", "currency")])
def test_a_nul_character_in_a_query_value_is_400_not_silently_dropped(reader, path, param):
    assert_error(reader.get(path, params={param: "PH\u0000P"}), 400, "invalid_request", param)


@pytest.mark.parametrize("prefer", ["", "return=minimal", "respond-async, handling=lenient"])
def test_a_prefer_header_without_wait_is_ignored_as_rfc_7240_asks(writer, admin, prefer):
    payer, payee = open_account(writer, admin, {"PHP": "1.00"}), open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": payer, "to_account": payee, "amount": "0.01"}
    response = writer.post("/api/v1/payments", body, headers={"Prefer": prefer})
    assert response.status == 202 and response.body["status"] == "pending", response.body
    assert response.header("preference-applied") is None


def test_a_payment_change_must_name_a_field_as_the_document_says(admin):
    assert DOCUMENT["components"]["schemas"]["PaymentChange"]["minProperties"] == 1
    assert_error(admin.patch("/api/v1/payments/pay_none", {}), 400, "invalid_request", "body")


@pytest.mark.parametrize("schema", ["NewWebhookEndpoint", "WebhookEndpointChange"])
def test_a_webhook_endpoints_account_is_documented_with_the_account_id_pattern(admin, schema):
    account = DOCUMENT["components"]["schemas"][schema]["properties"]["account"]
    assert account["pattern"] == ACCOUNT_ID_PATTERN.pattern
    for refused in ("", "-starts-with-a-dash", "x" * 65):
        body = {"url": "https://hooks.example.com/gateway", "account": refused}
        assert_error(admin.post("/api/v1/webhook-endpoints", body), 422, "validation_error", "account")


def test_a_metadata_filters_value_is_documented_free_of_nul_as_the_api_refuses_one(reader):
    value = DOCUMENT["components"]["parameters"]["MetadataFilter"]["schema"]["additionalProperties"]
    assert value["pattern"] == NUL_FREE_PATTERN
    assert_error(reader.get("/api/v1/payments", params={"metadata[k]": "a\u0000b"}), 400, "invalid_request")


@pytest.mark.parametrize("action", ["rotate-secret", "deliveries/att_none/retry"])
def test_a_webhook_post_refuses_an_idempotency_key_of_another_shape_as_every_post_does(admin, action):
    endpoint = admin.post("/api/v1/webhook-endpoints", {"url": "https://hooks.example.com/gateway"}).body["id"]
    response = admin.post(
        f"/api/v1/webhook-endpoints/{endpoint}/{action}", None, headers={"Idempotency-Key": "k" * (MAX_KEY_LENGTH + 1)}
    )
    assert_error(response, 400, "invalid_idempotency_key")


def test_search_text_is_documented_free_of_nul_as_the_api_refuses_one(reader):
    assert re.search(DOCUMENT["components"]["parameters"]["SearchText"]["schema"]["pattern"], "a\u0000b") is None
    assert_error(reader.get("/api/v1/search", params={"q": "a\u0000b"}), 400, "invalid_request", "q")


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/stream"])
def test_after_is_taken_up_to_its_documented_maximum_and_refused_past_it(reader, path):
    (after,) = [p for p in DOCUMENT["paths"][path]["get"]["parameters"] if p["$ref"].endswith("After")]
    maximum = DOCUMENT["components"]["parameters"][after["$ref"].rsplit("/", 1)[1]]["schema"]["maximum"]
    if path == "/api/v1/events":
        assert reader.get(path, params={"after": str(maximum)}).status == 200
    assert_error(reader.get(path, params={"after": str(maximum + 1)}), 400, "invalid_request", "after")
