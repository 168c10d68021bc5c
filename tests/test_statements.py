"""A balance in time (`?as_of=`) and its statement for a period: opening,
closing, money in and out, the entries between (paged), and the whole of
it as CSV; a filtered payment list as CSV too."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.support.ledger import balance_id, open_account, pay
from tests.support.openapi import assert_matches_documentation
from tests.support.refusals import assert_error


def micro_before(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(microseconds=1)
    return moment.isoformat().replace("+00:00", "Z")


def entry_on(api, payment_id: str, balance: str) -> dict:
    entries = api.get(f"/api/v1/payments/{payment_id}").body["entries"]
    return next(e for e in entries if e["balance"] == balance)


@pytest.fixture(scope="module")
def history(writer, admin):
    """A PHP balance that got 10.00, paid 3.00, got 5.00 and paid 1.00:
    (account, balance, [its four entries])."""
    account = open_account(writer, admin, currencies=["PHP"])
    other = open_account(writer, admin, {"PHP": "50.00"})
    balance = balance_id(writer, account, "PHP")
    made = [
        admin.post("/api/v1/deposits", {"account": account, "currency": "PHP", "amount": "10.00"}, wait=20),
        pay(writer, {"from_account": account, "to_account": other, "amount": "3.00", "reference": "stmt-1"}),
        pay(writer, {"from_account": other, "to_account": account, "amount": "5.00", "description": "back"}),
        pay(writer, {"from_account": account, "to_account": other, "amount": "1.00"}),
    ]
    assert all(m.body["status"] == "completed" for m in made), [m.body for m in made]
    return account, balance, [entry_on(writer, m.body["id"], balance) for m in made]


def test_a_balance_as_of_a_moment_is_what_it_held_then(reader, history):
    account, balance, entries = history
    expected = ["10.00", "7.00", "12.00", "11.00"]
    for entry, amount in zip(entries, expected, strict=True):
        shown = reader.get(f"/api/v1/balances/{balance}", params={"as_of": entry["created_at"]})
        assert shown.status == 200, shown.body
        assert shown.body == {
            "id": balance,
            "account": account,
            "currency": "PHP",
            "as_of": entry["created_at"],
            "amount": amount,
        }
    before = reader.get(f"/api/v1/balances/{balance}", params={"as_of": micro_before(entries[0]["created_at"])})
    assert before.body["amount"] == "0.00"
    assert reader.get(f"/api/v1/balances/{balance}", params={"as_of": "2999-01-01T00:00:00Z"}).body["amount"] == "11.00"


def test_a_statement_has_opening_closing_totals_and_the_entries_between(reader, history):
    _, balance, entries = history
    params = {"from": entries[1]["created_at"], "to": entries[3]["created_at"]}
    statement = reader.get(f"/api/v1/balances/{balance}/statement", params=params).body
    assert {k: statement[k] for k in ("opening", "closing", "total_in", "total_out")} == {
        "opening": "10.00",
        "closing": "12.00",
        "total_in": "5.00",
        "total_out": "3.00",
    }
    assert [e["id"] for e in statement["data"]] == [entries[1]["id"], entries[2]["id"]]
    assert statement["next_cursor"] is None and statement["currency"] == "PHP"
    whole = reader.get(f"/api/v1/balances/{balance}/statement").body
    assert (whole["opening"], whole["closing"], whole["total_in"], whole["total_out"]) == (
        "0.00",
        "11.00",
        "15.00",
        "4.00",
    )
    assert whole["from"] is None


def test_a_statements_entries_come_a_page_at_a_time(reader, history):
    _, balance, entries = history
    seen, cursor = [], None
    while True:
        params = {"limit": 3, "to": "2999-01-01T00:00:00Z", **({"cursor": cursor} if cursor else {})}
        page = reader.get(f"/api/v1/balances/{balance}/statement", params=params).body
        seen += [e["id"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in entries]


@pytest.mark.parametrize("how", [{"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}])
def test_a_statement_as_csv_opens_with_the_csv_module_and_sums_to_its_totals(reader, history, how):
    _, balance, entries = history
    response = reader.get(f"/api/v1/balances/{balance}/statement", **how)
    assert response.status == 200
    assert response.header("content-type").startswith("text/csv")
    assert "attachment" in response.header("content-disposition")
    rows = list(csv.DictReader(io.StringIO(response.raw.decode())))
    assert [int(r["entry_id"]) for r in rows] == [e["id"] for e in entries]
    assert [r["direction"] for r in rows] == ["incoming", "outgoing", "incoming", "outgoing"]
    assert rows[1]["reference"] == "stmt-1" and rows[2]["description"] == "back"
    assert [r["balance_after"] for r in rows] == ["10.00", "7.00", "12.00", "11.00"]
    total_in = sum(Decimal(r["amount"]) for r in rows if r["direction"] == "incoming")
    assert total_in == Decimal("15.00")


def test_a_filtered_payment_list_as_csv_holds_every_match_whatever_the_limit(writer, admin, reader, history):
    account, _, _ = history
    listed = reader.get("/api/v1/payments", params={"account": account}).body["data"]
    response = reader.get("/api/v1/payments", params={"account": account, "format": "csv", "limit": 1})
    assert response.status == 200 and response.header("content-type").startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.raw.decode())))
    assert [r["id"] for r in rows] == [p["id"] for p in listed]
    assert [r["amount"] for r in rows] == ["1.00", "5.00", "3.00", "10.00"]
    assert rows[2]["reference"] == "stmt-1"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("", {"as_of": "yesterday"}),
        ("/statement", {"from": "not a time"}),
        ("/statement", {"to": "2024-13-01"}),
        ("/statement", {"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}),
        ("/statement", {"format": "xml"}),
        ("/statement", {"cursor": "nonsense"}),
        ("/statement", {"limit": "0"}),
    ],
    ids=["as_of", "from", "to", "from after to", "format", "cursor", "limit"],
)
def test_bad_times_formats_and_cursors_are_bad_requests(reader, history, path, params):
    _, balance, _ = history
    response = reader.get(f"/api/v1/balances/{balance}{path}", params=params)
    assert_error(response, 400, ("invalid_request", "invalid_cursor"))


def test_an_unknown_balance_has_no_statement(reader):
    assert_error(reader.get("/api/v1/balances/bal_nothing/statement"), 404, "not_found")
    assert_error(reader.get("/api/v1/balances/bal_nothing", params={"as_of": "2025-01-01T00:00:00Z"}), 404, "not_found")
    assert_error(reader.get("/api/v1/payments", params={"format": "pdf"}), 400, "invalid_request")


def test_balances_in_time_and_statements_answer_as_documented(anonymous, reader, history):
    document = anonymous.get("/api/v1/openapi.json").body
    _, balance, entries = history
    path = "/api/v1/balances/{balance_id}"
    for response in (
        reader.get(f"/api/v1/balances/{balance}", params={"as_of": entries[0]["created_at"]}),
        reader.get(f"/api/v1/balances/{balance}"),
        reader.get(f"/api/v1/balances/{balance}", params={"as_of": "x"}),
    ):
        assert_matches_documentation(document, path, "get", response)
    for response in (
        reader.get(f"/api/v1/balances/{balance}/statement", params={"limit": 2}),
        reader.get(f"/api/v1/balances/{balance}/statement", params={"from": "x"}),
        reader.get("/api/v1/balances/bal_nothing/statement"),
    ):
        assert_matches_documentation(document, path + "/statement", "get", response)
