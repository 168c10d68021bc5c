"""Exchange rates (SPEC section 5): set by admins, read by anyone with a
token, exact decimal text, kept with their history and announced by a
`rate.updated` event."""

from __future__ import annotations

import pytest

from tests.support.currencies import delete_rate, new_currency, put_rate
from tests.support.events import events_after, head_seq
from tests.support.openapi import assert_matches_documentation
from tests.support.refusals import assert_error
from tests.support.waiting import wait_until


@pytest.fixture(scope="module")
def document(anonymous) -> dict:
    return anonymous.get("/api/v1/openapi.json").body


@pytest.fixture
def pair(admin) -> tuple[str, str]:
    return new_currency(admin, 8), new_currency(admin, 2)


def test_admin_sets_a_rate_that_any_reader_can_get(admin, writer, reader, pair, document):
    base, quote = pair
    response = admin.put(f"/api/v1/rates/{base}/{quote}", {"rate": "3500000.25"})
    assert response.status == 200
    assert response.body["base"] == base and response.body["quote"] == quote
    assert response.body["rate"] == "3500000.25" and response.body["set_by"].startswith("token #")
    assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}", "put", response)
    got = reader.get(f"/api/v1/rates/{base}/{quote}")
    assert got.status == 200 and got.body == response.body
    assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}", "get", got)
    for api in (writer, reader):
        refused = api.put(f"/api/v1/rates/{base}/{quote}", {"rate": "1"})
        assert refused.status == 403 and refused.body["error"]["code"] == "forbidden"
        assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}", "put", refused)
    assert reader.get(f"/api/v1/rates/{base}/{quote}").body["rate"] == "3500000.25"


def test_a_rate_is_one_direction_of_a_pair(admin, reader, pair, document):
    base, quote = pair
    put_rate(admin, base, quote, "2")
    other_way = reader.get(f"/api/v1/rates/{quote}/{base}")
    assert other_way.status == 404 and other_way.body["error"]["code"] == "not_found"
    assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}", "get", other_way)


@pytest.mark.parametrize(
    ("given", "stored"),
    [("56.2500", "56.25"), ("007", "7"), ("0.000000000000000000000000000001", "0.000000000000000000000000000001")],
)
def test_a_rate_is_kept_as_exact_canonical_decimal_text(admin, pair, given, stored):
    base, quote = pair
    assert put_rate(admin, base, quote, given)["rate"] == stored


def test_a_rate_given_as_a_json_number_is_read_exactly(admin, pair):
    base, quote = pair
    response = admin.request("PUT", f"/api/v1/rates/{base}/{quote}", raw=b'{"rate": 0.100000000000000005551115123125}')
    assert response.status == 200 and response.body["rate"] == "0.100000000000000005551115123125"


@pytest.mark.parametrize(
    "rate",
    ["0", "0.000", "-1", "abc", "1e5", " 1", "1.", "1000000000000000000", "0.0000000000000000000000000000001", ""],
)
def test_a_rate_that_is_not_a_positive_decimal_in_range_is_422(admin, reader, pair, rate):
    base, quote = pair
    response = admin.put(f"/api/v1/rates/{base}/{quote}", {"rate": rate})
    assert response.status == 422, response.body
    assert response.body["error"]["code"] == "validation_error" and "rate" in response.body["error"]["fields"]
    assert reader.get(f"/api/v1/rates/{base}/{quote}").status == 404


@pytest.mark.parametrize("body", [{"rate": True}, {"rate": ["1"]}, {}, {"rate": "1", "spread": "0.1"}, ["1"]])
def test_a_rate_body_of_the_wrong_shape_is_400_invalid_request(admin, pair, body):
    response = admin.put(f"/api/v1/rates/{pair[0]}/{pair[1]}", body)
    assert response.status == 400 and response.body["error"]["code"] == "invalid_request"


def test_a_rate_between_unknown_or_equal_currencies_is_422(admin, pair, document):
    base, _ = pair
    unknown = admin.put(f"/api/v1/rates/{base}/NOPE1", {"rate": "1"})
    assert unknown.status == 422 and unknown.body["error"]["code"] == "unknown_currency"
    assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}", "put", unknown)
    same = admin.put(f"/api/v1/rates/{base}/{base}", {"rate": "1"})
    assert same.status == 422 and same.body["error"]["fields"] == {"quote": "must differ from the base currency"}


def test_every_change_is_kept_in_the_history_with_who_and_when(admin, reader, pair, document):
    base, quote = pair
    put_rate(admin, base, quote, "1.10")
    put_rate(admin, base, quote, "1.20")
    put_rate(admin, base, quote, "1.2")  # the rate already in force: no change
    removed = delete_rate(admin, base, quote)
    assert removed.status == 200 and removed.body["rate"] is None
    assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}", "delete", removed)
    history = reader.get(f"/api/v1/rates/{base}/{quote}/history")
    assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}/history", "get", history)
    lines = history.body["data"]
    assert [line["rate"] for line in lines] == [None, "1.2", "1.1"]
    assert all(line["set_by"] == removed.body["set_by"] for line in lines)
    assert lines[0]["set_at"] >= lines[1]["set_at"] >= lines[2]["set_at"]
    first_page = reader.get(f"/api/v1/rates/{base}/{quote}/history", params={"limit": 2}).body
    second_page = reader.get(
        f"/api/v1/rates/{base}/{quote}/history", params={"limit": 2, "cursor": first_page["next_cursor"]}
    ).body
    assert [line["rate"] for line in first_page["data"] + second_page["data"]] == [None, "1.2", "1.1"]


def test_a_removed_rate_is_gone_and_removing_it_again_is_404(admin, reader, pair, document):
    base, quote = pair
    put_rate(admin, base, quote, "3")
    assert delete_rate(admin, base, quote).status == 200
    assert reader.get(f"/api/v1/rates/{base}/{quote}").status == 404
    again = delete_rate(admin, base, quote)
    assert again.status == 404 and again.body["error"]["code"] == "not_found"
    assert_matches_documentation(document, "/api/v1/rates/{base}/{quote}", "delete", again)
    assert delete_rate(reader, base, quote).status == 403


def test_setting_and_removing_a_rate_are_rate_updated_events(admin, reader, pair):
    base, quote = pair
    start = head_seq(reader)
    put_rate(admin, base, quote, "4.5")
    put_rate(admin, base, quote, "4.50")  # no change, no event
    delete_rate(admin, base, quote)

    def announced():
        mine = [e for e in events_after(reader, start) if e["type"] == "rate.updated" and e["data"]["base"] == base]
        return mine if len(mine) >= 2 else None

    events = wait_until(announced)
    assert [(e["data"]["quote"], e["data"]["rate"]) for e in events] == [(quote, "4.5"), (quote, None)]


def test_rates_in_force_are_listed_by_pair_with_filters_and_pages(admin, reader, document):
    base = new_currency(admin, 2)
    quotes = sorted(new_currency(admin, 2) for _ in range(3))
    for n, quote in enumerate(quotes, start=1):
        put_rate(admin, base, quote, str(n))
    delete_rate(admin, base, quotes[1])
    listed = reader.get("/api/v1/rates", params={"base": base})
    assert_matches_documentation(document, "/api/v1/rates", "get", listed)
    assert [(r["quote"], r["rate"]) for r in listed.body["data"]] == [(quotes[0], "1"), (quotes[2], "3")]
    first = reader.get("/api/v1/rates", params={"base": base, "limit": 1}).body
    second = reader.get("/api/v1/rates", params={"base": base, "limit": 1, "cursor": first["next_cursor"]}).body
    assert [r["quote"] for r in first["data"] + second["data"]] == [quotes[0], quotes[2]]
    assert second["next_cursor"] is None
    by_quote = reader.get("/api/v1/rates", params={"quote": quotes[2]}).body["data"]
    assert [(r["base"], r["rate"]) for r in by_quote] == [(base, "3")]


@pytest.mark.parametrize("param", ["base", "quote"])
@pytest.mark.parametrize("value", ["php", "P", "\u00c9UR", ""])
def test_a_rates_filter_that_is_no_currency_code_is_400_naming_it(reader, param, value):
    response = reader.get("/api/v1/rates", params={param: value})
    assert_error(response, 400, "invalid_request", param)


@pytest.mark.parametrize(("base", "quote"), [("php", "USD"), ("PHP", "U"), ("PH%C3%89", "USD")])
def test_the_rate_and_history_of_a_pair_that_is_no_pair_of_codes_are_404(reader, base, quote):
    assert_error(reader.get(f"/api/v1/rates/{base}/{quote}"), 404, "not_found")
    assert_error(reader.get(f"/api/v1/rates/{base}/{quote}/history"), 404, "not_found")


def test_the_dashboard_sets_rates_through_the_same_rule(admin, reader, pair):
    from models.errors import ApiError
    from models.rates import set_rate
    from models.retry import retried_transaction

    base, quote = pair
    retried_transaction(lambda: set_rate(base, quote, {"rate": "9.75"}, "operator ops@example.com"))
    got = reader.get(f"/api/v1/rates/{base}/{quote}").body
    assert got["rate"] == "9.75" and got["set_by"] == "operator ops@example.com"
    with pytest.raises(ApiError) as refused:
        retried_transaction(lambda: set_rate(base, quote, {"rate": "-1"}, "operator ops@example.com"))
    assert refused.value.status == 422 and refused.value.fields == {
        "rate": 'must be a decimal string greater than 0 such as "56.25"'
    }
