"""Each filter a list offers is served by an index made for it, which gives
the page in the list's own order (no sort of every match), so a filtered
page costs the same however large the ledger."""

from __future__ import annotations

import pytest

from models.queries import accounts_query, payments_query
from tests.support.plans import assert_read_in_order_from, assert_searched_through_an_index


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_payments_by_metadata_are_read_from_the_metadata_index(database, order):
    query = payments_query({"metadata[order]": "A-1", "order": order}, None).limit(51)
    assert_read_in_order_from(query, "payment_metadata_lookup")


def test_payments_by_reference_are_read_from_the_reference_index(database):
    assert_read_in_order_from(payments_query({"reference": "A-1"}, None).limit(51), "payment_reference")


def test_accounts_by_metadata_are_read_from_the_metadata_index(database):
    assert_read_in_order_from(accounts_query({"metadata[crm]": "C-1"}, None).limit(51), "account_metadata_lookup")


def test_accounts_by_reference_are_read_from_the_reference_index(database):
    assert_read_in_order_from(accounts_query({"reference": "crm-1"}, None).limit(51), "account_reference")


@pytest.mark.parametrize("text", ["pay_01JD3ZK6Q8", "order-1042", "invoice march", "maria@example.com"])
def test_every_way_search_looks_is_an_index_search(database, text):
    from models.search import account_searches, payment_searches

    for query in payment_searches(text, 20) + account_searches(text, 20):
        assert_searched_through_an_index(query)
