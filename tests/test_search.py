"""Search (GET /api/v1/search?q=): payments by id or its prefix, reference
or description words; accounts by id, owner's words or email."""

from __future__ import annotations

import uuid

import pytest

from tests.support.ledger import open_account, pay, unique
from tests.support.openapi import assert_matches_documentation
from tests.support.refusals import assert_error


def word() -> str:
    """A word no other test uses."""
    return "w" + uuid.uuid4().hex[:10]


def found(api, text: str, **params) -> tuple[list[str], list[str]]:
    response = api.get("/api/v1/search", params={"q": text, **params})
    assert response.status == 200, response.body
    return [a["id"] for a in response.body["accounts"]], [p["id"] for p in response.body["payments"]]


@pytest.fixture(scope="module")
def payments(writer, admin):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    tag = word()
    made = []
    for n, description in enumerate([f"Invoice {tag} March", f"invoice {tag} April", "nothing to see"]):
        body = {"from_account": sender, "to_account": receiver, "amount": "1.00", "description": description}
        made.append(pay(writer, {**body, "reference": f"{tag}-ref-{n}"}).body)
    return tag, made


def test_a_payment_is_found_by_its_id_and_by_a_prefix_of_at_least_six_characters(reader, payments):
    _, made = payments
    payment_id = made[0]["id"]
    assert found(reader, payment_id)[1] == [payment_id]
    assert found(reader, payment_id[:-1])[1] == [payment_id]
    assert payment_id not in found(reader, payment_id[:5], limit=100)[1]


def test_a_payment_is_found_by_its_reference(reader, payments):
    tag, made = payments
    assert found(reader, f"{tag}-ref-1")[1] == [made[1]["id"]]


def test_payments_are_found_by_the_words_of_their_description_newest_first(reader, payments):
    tag, made = payments
    assert found(reader, tag)[1] == [made[1]["id"], made[0]["id"]]
    assert found(reader, f"{tag} april")[1] == [made[1]["id"]]
    assert found(reader, f"INVOICE {tag[:-3]} mar")[1] == [made[0]["id"]]
    assert found(reader, tag, limit=1)[1] == [made[1]["id"]]


def test_a_changed_description_is_found_by_its_new_words_only(reader, admin, payments):
    _, made = payments
    old, new = word(), word()
    admin.patch(f"/api/v1/payments/{made[2]['id']}", {"description": f"first {old}"})
    admin.patch(f"/api/v1/payments/{made[2]['id']}", {"description": f"second {new}"})
    assert found(reader, new)[1] == [made[2]["id"]]
    assert found(reader, old)[1] == []


def test_accounts_are_found_by_id_owner_words_and_email_in_any_case(writer, admin, reader):
    surname = word()
    account_id = unique("srch")
    body = {"id": account_id, "owner": f"Maria {surname.capitalize()} Santos", "email": f"{surname}@Example.com"}
    assert writer.post("/api/v1/accounts", body).status == 201
    assert found(reader, account_id)[0] == [account_id]
    assert found(reader, account_id[:-2])[0] == [account_id]
    assert found(reader, f"maria {surname}")[0] == [account_id]
    assert found(reader, surname[:-2])[0] == [account_id]
    assert found(reader, f"{surname.upper()}@EXAMPLE.COM")[0] == [account_id]
    renamed = word()
    assert admin.patch(f"/api/v1/accounts/{account_id}", {"owner": f"Maria {renamed}"}).status == 200
    assert found(reader, renamed)[0] == [account_id]
    assert found(reader, f"maria {surname}")[0] == []


def test_text_that_finds_nothing_answers_two_empty_lists(reader):
    assert found(reader, word()) == ([], [])
    assert found(reader, "%_\\'\"*:&|!()") == ([], [])


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 201}, {"q": "x", "limit": "0"}, {"q": "x", "limit": "101"}],
    ids=["no q", "empty", "spaces", "201 characters", "limit 0", "limit 101"],
)
def test_bad_search_parameters_are_bad_requests(reader, params):
    assert_error(reader.get("/api/v1/search", params=params), 400, "invalid_request")


def test_search_needs_a_token_and_answers_as_documented(anonymous, reader, payments):
    document = anonymous.get("/api/v1/openapi.json").body
    tag, _ = payments
    for response in (
        reader.get("/api/v1/search", params={"q": tag}),
        reader.get("/api/v1/search", params={"q": " "}),
        anonymous.get("/api/v1/search", params={"q": tag}),
    ):
        assert_matches_documentation(document, "/api/v1/search", "get", response)


def test_currencies_are_found_by_code_or_name(reader):
    pesos = reader.get("/api/v1/currencies", params={"q": "peso", "limit": 500}).body["data"]
    assert "PHP" in [c["code"] for c in pesos]
    assert all("peso" in c["name"].lower() for c in pesos)
    assert [c["code"] for c in reader.get("/api/v1/currencies", params={"q": "usd"}).body["data"]] == ["USD"]
