"""The OpenAPI document's limits are the ones the API enforces: for each
length limit a request body's field documents, a value at the limit is not
refused for its length, and one character more is refused naming the field.
The limits are read from the served document, so a limit that changes in
one place and not the other fails here."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.client import Api
from tests.support.ledger import open_account, unique

# How to send a body whose `field` is `value`, for each schema probed.
Send = Callable[[Api, Api, str, str], object]


def schema_of(document: dict, name: str) -> dict:
    return document["components"]["schemas"][name]


def max_length(document: dict, schema: str, field: str) -> int:
    """The documented maxLength of a body field (nullable ones included)."""
    return int(schema_of(document, schema)["properties"][field]["maxLength"])


def text_of(length: int, field: str) -> str:
    """A valid value of `field` exactly `length` characters long."""
    if field == "email":
        domain = "@example.com"
        return "a" * (length - len(domain)) + domain
    return "x" * length


@pytest.fixture(scope="module")
def document(anonymous: Api) -> dict:
    return anonymous.get("/api/v1/openapi.json").body


def new_account(writer: Api, admin: Api, field: str, value: str):
    body = {"id": unique(), "owner": "Limit Owner", field: value}
    return writer.post("/api/v1/accounts", body)


def change_account(writer: Api, admin: Api, field: str, value: str):
    account = open_account(writer, admin)
    return admin.patch(f"/api/v1/accounts/{account}", {field: value})


def new_currency(writer: Api, admin: Api, field: str, value: str):
    code = "L" + unique("")[-8:].upper().replace("-", "")
    return admin.post("/api/v1/currencies", {"code": code, "name": value, "exponent": 2})


def new_transfer(writer: Api, admin: Api, field: str, value: str):
    sender = open_account(writer, admin, {"PHP": "1.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    return writer.post(
        "/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": "0.01", field: value}
    )


def new_deposit(writer: Api, admin: Api, field: str, value: str):
    account = open_account(writer, admin, currencies=["PHP"])
    return admin.post("/api/v1/deposits", {"account": account, "currency": "PHP", "amount": "0.01", field: value})


PROBES: list[tuple[str, str, Send]] = [
    ("NewAccount", "owner", new_account),
    ("NewAccount", "email", new_account),
    ("NewAccount", "reference", new_account),
    ("AccountChange", "reference", change_account),
    ("AccountChange", "owner", change_account),
    ("AccountChange", "email", change_account),
    ("NewCurrency", "name", new_currency),
    ("NewTransfer", "description", new_transfer),
    ("NewTransfer", "reference", new_transfer),
    ("NewCashPayment", "description", new_deposit),
]


@pytest.mark.parametrize(("schema", "field", "send"), PROBES, ids=[f"{s}.{f}" for s, f, _ in PROBES])
def test_a_documented_length_limit_is_the_enforced_one(document, writer, admin, schema, field, send):
    limit = max_length(document, schema, field)
    at_limit = send(writer, admin, field, text_of(limit, field))
    assert at_limit.status in (200, 201, 202), (limit, at_limit.status, at_limit.body)
    over = send(writer, admin, field, text_of(limit + 1, field))
    assert over.status == 422 and field in over.body["error"]["fields"], (limit, over.status, over.body)


def test_the_documented_idempotency_key_limit_is_the_enforced_one(document, writer):
    header = document["components"]["parameters"]["IdempotencyKey"]["schema"]
    limit = int(header["maxLength"])
    body = {"owner": "Keyed Owner"}
    at_limit = writer.post("/api/v1/accounts", body, headers={"Idempotency-Key": "k" * (limit - 12) + unique("")[-12:]})
    assert at_limit.status == 201, at_limit.body
    over = writer.post("/api/v1/accounts", body, headers={"Idempotency-Key": "k" * (limit + 1)})
    assert over.status == 400 and over.body["error"]["code"] == "invalid_idempotency_key"
