"""Metadata and references (the operator's own data on accounts and
payments): set at creation and by PATCH, shown back, carried by events,
and found by list filters; bad input refused naming the field."""

from __future__ import annotations

import pytest

from tests.support.events import events_about, head_seq
from tests.support.ledger import open_account, pay, unique
from tests.support.openapi import assert_matches_documentation
from tests.support.refusals import assert_error


def new_account(writer, **fields):
    account_id = unique()
    response = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Meta Owner", **fields})
    assert response.status == 201, response.body
    return response.body


def test_an_account_takes_metadata_and_a_reference_at_creation_and_shows_them(writer, reader):
    made = new_account(writer, reference="crm-1", metadata={"segment": "gold", "crm.id": "C-9"})
    assert made["reference"] == "crm-1"
    assert made["metadata"] == {"segment": "gold", "crm.id": "C-9"}
    shown = reader.get(f"/api/v1/accounts/{made['id']}").body
    assert shown["reference"] == "crm-1" and shown["metadata"] == made["metadata"]


def test_an_account_without_metadata_shows_an_empty_object(writer):
    made = new_account(writer)
    assert made["metadata"] == {} and made["reference"] is None


def test_patching_an_accounts_metadata_merges_and_null_removes_a_key(writer, admin, reader):
    made = new_account(writer, metadata={"a": "1", "b": "2"})
    seq = head_seq(reader)
    changed = admin.patch(f"/api/v1/accounts/{made['id']}", {"metadata": {"b": None, "c": "3"}, "reference": "r-2"})
    assert changed.status == 200, changed.body
    assert changed.body["metadata"] == {"a": "1", "c": "3"} and changed.body["reference"] == "r-2"
    updated = events_about(reader, seq, made["id"], "account.updated")
    assert [e["data"]["metadata"] for e in updated] == [{"a": "1", "c": "3"}]
    # The filter follows the change: the removed key finds it no more.
    found = reader.get("/api/v1/accounts", params={"metadata[c]": "3", "reference": "r-2"}).body["data"]
    assert [a["id"] for a in found] == [made["id"]]
    assert reader.get("/api/v1/accounts", params={"metadata[b]": "2", "reference": "r-2"}).body["data"] == []


def test_account_events_carry_metadata_and_reference(writer, reader):
    seq = head_seq(reader)
    made = new_account(writer, reference="ev-ref", metadata={"k": "v"})
    created = events_about(reader, seq, made["id"], "account.created")
    assert created[0]["data"]["metadata"] == {"k": "v"} and created[0]["data"]["reference"] == "ev-ref"


def test_accounts_are_listed_by_metadata_oldest_first_a_page_at_a_time(writer, reader):
    tag = unique("tag")
    made = [new_account(writer, metadata={"batch": tag, "n": str(n)})["id"] for n in range(3)]
    new_account(writer, metadata={"batch": "other"})
    first = reader.get("/api/v1/accounts", params={"metadata[batch]": tag, "limit": 2}).body
    assert [a["id"] for a in first["data"]] == made[:2]
    rest = reader.get("/api/v1/accounts", params={"metadata[batch]": tag, "limit": 2, "cursor": first["next_cursor"]})
    assert [a["id"] for a in rest.body["data"]] == made[2:] and rest.body["next_cursor"] is None
    both = reader.get("/api/v1/accounts", params={"metadata[batch]": tag, "metadata[n]": "1"}).body["data"]
    assert [a["id"] for a in both] == [made[1]]


def test_a_payment_takes_metadata_and_a_reference_and_lists_filter_by_them(writer, admin, reader):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    order = unique("order")
    seq = head_seq(reader)
    ids = []
    for n in range(3):
        metadata = {"order": order, "line": str(n)}
        body: dict[str, object] = {"from_account": sender, "to_account": receiver, "amount": "1.00"}
        body.update(reference=f"{order}-{n}", metadata=metadata)
        made = pay(writer, body)
        assert made.status == 201 and made.body["metadata"] == metadata, made.body
        ids.append(made.body["id"])
    by_reference = reader.get("/api/v1/payments", params={"reference": f"{order}-1"}).body["data"]
    assert [p["id"] for p in by_reference] == [ids[1]]
    newest = reader.get("/api/v1/payments", params={"metadata[order]": order, "limit": 2}).body
    assert [p["id"] for p in newest["data"]] == [ids[2], ids[1]]
    older = reader.get("/api/v1/payments", params={"metadata[order]": order, "cursor": newest["next_cursor"]})
    assert [p["id"] for p in older.body["data"]] == [ids[0]]
    oldest = reader.get("/api/v1/payments", params={"metadata[order]": order, "order": "asc"}).body["data"]
    assert [p["id"] for p in oldest] == ids
    history = reader.get(
        f"/api/v1/accounts/{sender}/payments", params={"metadata[line]": "2", "reference": f"{order}-2"}
    )
    assert [p["payment_id"] for p in history.body["data"]] == [ids[2]]
    events = events_about(reader, seq, ids[0], count=2)
    assert {e["type"] for e in events} == {"payment.created", "payment.completed"}
    assert all(e["data"]["metadata"] == {"order": order, "line": "0"} for e in events)
    assert all(e["data"]["reference"] == f"{order}-0" for e in events)


def test_deposits_and_group_payments_take_metadata(writer, admin, reader):
    account = open_account(writer, admin, currencies=["PHP"])
    deposit = admin.post(
        "/api/v1/deposits", {"account": account, "currency": "PHP", "amount": "5.00", "metadata": {"src": "bank"}}
    )
    assert deposit.status == 202 and deposit.body["metadata"] == {"src": "bank"}
    sender = open_account(writer, admin, {"PHP": "5.00"})
    tag = unique("grp")
    group = writer.post(
        "/api/v1/payment-groups",
        {
            "atomic": True,
            "payments": [{"from_account": sender, "to_account": account, "amount": "1.00", "metadata": {"g": tag}}],
        },
    )
    assert group.status == 202, group.body
    found = reader.get("/api/v1/payments", params={"metadata[g]": tag}).body["data"]
    assert [p["id"] for p in found] == [group.body["payments"][0]["id"]]


def test_an_admin_changes_a_payments_description_and_metadata_only(writer, admin, reader):
    sender = open_account(writer, admin, {"PHP": "5.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    made = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "1.00", "metadata": {"a": "1"}}).body
    seq = head_seq(reader)
    changed = admin.patch(f"/api/v1/payments/{made['id']}", {"description": "refund ticket 7", "metadata": {"b": "2"}})
    assert changed.status == 200, changed.body
    assert changed.body["description"] == "refund ticket 7" and changed.body["metadata"] == {"a": "1", "b": "2"}
    assert changed.body["status"] == "completed" and len(changed.body["entries"]) == 2
    updated = events_about(reader, seq, made["id"], "payment.updated")
    assert [e["data"]["metadata"] for e in updated] == [{"a": "1", "b": "2"}]
    assert (
        reader.get("/api/v1/payments", params={"metadata[b]": "2", "account": sender}).body["data"][0]["id"]
        == made["id"]
    )
    assert_error(writer.patch(f"/api/v1/payments/{made['id']}", {"description": "x"}), 403, "forbidden")
    assert_error(admin.patch(f"/api/v1/payments/{made['id']}", {"amount": "9.00"}), 400, "invalid_request")
    assert_error(admin.patch(f"/api/v1/payments/{made['id']}", {}), 400, "invalid_request")
    assert_error(admin.patch("/api/v1/payments/pay_nothing", {"description": "x"}), 404, "not_found")


TOO_MANY = {f"k{n}": "v" for n in range(21)}


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        (TOO_MANY, "metadata"),
        ({"k" * 41: "v"}, "metadata"),
        ({"bad key": "v"}, "metadata"),
        ({"": "v"}, "metadata"),
        ({"k": "v" * 501}, "metadata.k"),
        ({"k": 5}, "metadata.k"),
        ({"k": None}, "metadata.k"),
    ],
    ids=["21 keys", "key of 41", "key with a space", "empty key", "value of 501", "number value", "null value"],
)
def test_bad_metadata_is_refused_naming_the_field(writer, admin, metadata, field):
    refused = writer.post("/api/v1/accounts", {"owner": "Bad Meta", "metadata": metadata})
    assert_error(refused, 422, "validation_error")
    assert field in refused.body["error"]["fields"], refused.body
    sender = open_account(writer, admin, {"PHP": "1.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": sender, "to_account": receiver, "amount": "0.01", "metadata": metadata}
    refused = writer.post("/api/v1/payments", body)
    assert_error(refused, 422, "validation_error")
    assert field in refused.body["error"]["fields"], refused.body


def test_metadata_at_its_limits_is_accepted(writer):
    metadata = {f"{'k' * 38}{n:02d}": "v" * 500 for n in range(20)}
    assert new_account(writer, metadata=metadata)["metadata"] == metadata


def test_metadata_that_is_not_an_object_is_malformed(writer):
    assert_error(writer.post("/api/v1/accounts", {"owner": "X", "metadata": ["a"]}), 400, "invalid_request")
    assert_error(writer.post("/api/v1/accounts", {"owner": "X", "metadata": "a=1"}), 400, "invalid_request")


def test_a_merge_past_twenty_keys_is_refused_and_changes_nothing(writer, admin, reader):
    made = new_account(writer, metadata={f"k{n}": "v" for n in range(20)})
    refused = admin.patch(f"/api/v1/accounts/{made['id']}", {"metadata": {"one_more": "v"}})
    assert_error(refused, 422, "validation_error")
    assert len(reader.get(f"/api/v1/accounts/{made['id']}").body["metadata"]) == 20


def test_references_longer_than_128_characters_are_refused(writer):
    assert_error(writer.post("/api/v1/accounts", {"owner": "X", "reference": "r" * 129}), 422, "validation_error")
    assert new_account(writer, reference="r" * 128)["reference"] == "r" * 128


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/payments"])
def test_a_metadata_filter_with_a_bad_key_is_a_bad_request(reader, path):
    refused = reader.get(path, params={"metadata[no good]": "x"})
    assert_error(refused, 400, "invalid_request")
    assert "metadata[no good]" in refused.body["error"]["fields"]


def test_metadata_answers_match_the_document(anonymous, writer, admin, reader):
    document = anonymous.get("/api/v1/openapi.json").body
    sender = open_account(writer, admin, {"PHP": "5.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    made = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "1.00", "metadata": {"a": "1"}}).body
    path = "/api/v1/payments/{payment_id}"
    for response in (
        admin.patch(f"/api/v1/payments/{made['id']}", {"metadata": {"a": None, "b": "2"}}),
        admin.patch(f"/api/v1/payments/{made['id']}", {"metadata": {"b": "x" * 501}}),
        admin.patch("/api/v1/payments/pay_nothing", {"description": "x"}),
        admin.patch(f"/api/v1/payments/{made['id']}", {"status": "failed"}),
    ):
        assert_matches_documentation(document, path, "patch", response)
    listed = reader.get("/api/v1/payments", params={"metadata[b]": "2", "reference": "none"})
    assert_matches_documentation(document, "/api/v1/payments", "get", listed)
    account = new_account(writer, metadata={"x": "y"}, reference="doc-ref")
    assert_matches_documentation(
        document, "/api/v1/accounts", "get", reader.get("/api/v1/accounts", params={"metadata[x]": "y", "limit": 1})
    )
    assert_matches_documentation(
        document,
        "/api/v1/accounts/{account_id}",
        "patch",
        admin.patch(f"/api/v1/accounts/{account['id']}", {"metadata": {"x": None}}),
    )
