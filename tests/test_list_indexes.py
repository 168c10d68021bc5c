"""Each filter a list offers is served by an index made for it, which gives
the page in the list's own order (no sort of every match), so a filtered
page costs the same however large the ledger."""

from __future__ import annotations

import pytest

from models.queries import accounts_query, payment_queries
from tests.support.environment import CONFIG
from tests.support.plans import assert_read_in_order_from, assert_searched_through_an_index, assert_served_by


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_payments_by_metadata_are_read_from_the_metadata_index(database, order):
    (query,) = payment_queries({"metadata[order]": "A-1", "order": order}, None)
    assert_read_in_order_from(query.limit(51), "payment_metadata_lookup")


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_one_accounts_payments_are_read_in_order_from_the_paying_and_receiving_indexes(database, order):
    for args in ({"order": order}, {"order": order, "status": "completed"}):
        paying, receiving = payment_queries(args, None, account="acct-1")
        assert_read_in_order_from(paying.limit(51), "payment_from_account_id")
        assert_read_in_order_from(receiving.limit(51), "payment_to_account_id")


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_payments_in_a_time_range_are_read_from_where_the_range_starts(database, order):
    from tests.support.plans import plan_of

    for args, bound in (
        ({"created_before": "2026-01-01T00:00:00Z"}, "<"),
        ({"created_after": "2026-01-01T00:00:00Z"}, ">"),
    ):
        (query,) = payment_queries({**args, "order": order}, None)
        plan = plan_of(query.limit(51), in_order=True)
        # The list's own index (by id), entered at the range's start: the
        # bound on ids is its condition.
        assert f"(id{bound}" in plan or f"(id)::text {bound}" in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan


def test_accounts_are_read_in_order_from_the_creation_index(database):
    for args in ({}, {"active": "true"}):
        assert_read_in_order_from(accounts_query(args, None).limit(51), "account_created_id")


def test_inactive_accounts_are_read_in_order_from_their_own_index(database):
    assert_read_in_order_from(accounts_query({"active": "false"}, None).limit(51), "account_inactive")


@pytest.mark.skipif(not CONFIG.database_url, reason="SQLite's planner, with no statistics, prefers the list's order")
def test_accounts_by_email_are_found_through_the_email_index(database):
    assert_served_by(accounts_query({"email": "Maria@example.com"}, None).limit(51), "account_email_lower")


def test_payments_by_reference_are_read_from_the_reference_index(database):
    (query,) = payment_queries({"reference": "A-1"}, None)
    assert_read_in_order_from(query.limit(51), "payment_reference")


def test_accounts_by_metadata_are_read_from_the_metadata_index(database):
    assert_read_in_order_from(accounts_query({"metadata[crm]": "C-1"}, None).limit(51), "account_metadata_lookup")


def test_accounts_by_reference_are_read_from_the_reference_index(database):
    assert_read_in_order_from(accounts_query({"reference": "crm-1"}, None).limit(51), "account_reference")


@pytest.mark.parametrize("text", ["pay_01JD3ZK6Q8", "order-1042", "invoice march", "maria@example.com"])
def test_every_way_search_looks_is_an_index_search(database, text):
    from models.search import account_searches, payment_searches

    for query in payment_searches(text, 20) + account_searches(text, 20):
        assert_searched_through_an_index(query)


def test_a_statements_entries_are_read_from_the_balance_time_index(database):
    from datetime import datetime

    from models.statements import Period, period_entries

    period = Period(datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert_served_by(period_entries("bal_x", period).limit(51), "entry_balance_time")
    assert_served_by(period_entries("bal_x", Period(None, period.end)).limit(51), "entry_balance_time")


@pytest.mark.parametrize(
    ("actor", "indexes"),
    [(None, ("event_time", "access_log_time")), ("operator:3", ("event_actor", "access_log_actor"))],
    ids=["everyone", "one actor"],
)
def test_the_activity_log_is_read_newest_first_from_its_indexes(database, actor, indexes):
    from datetime import datetime

    from models.activity import activity_queries

    for filters in ({}, {"after": datetime(2026, 1, 1), "before": datetime(2026, 2, 1)}):
        queries = activity_queries(actor, None, filters.get("after"), filters.get("before"), None)
        for (_, query), index in zip(queries, indexes, strict=True):
            assert_served_by(query.limit(51), index)
