"""Each handler that declares the query parameters of its GET takes exactly
those its OpenAPI operation documents (`metadata[key]` being the document's
deepObject `metadata`), so the declaration and the document cannot drift."""

from __future__ import annotations

import re

import pytest

from handlers.base import APIHandler
from openapi.document import openapi_document
from tests.support.routes import route_table

DECLARING = [
    (pattern, handler)
    for pattern, handler in route_table()
    if isinstance(handler, type) and issubclass(handler, APIHandler) and handler.query_parameters
]


def documented_path(pattern: str) -> str:
    """The document's path for a route's pattern: the one whose `{name}`s
    stand where the pattern's groups do."""
    shape = re.compile("^" + re.escape(pattern).replace(re.escape("([^/]+)"), r"\{[a-z_]+\}") + "$")
    (path,) = [path for path in openapi_document()["paths"] if shape.match(path)]
    return path


@pytest.mark.parametrize(("pattern", "handler"), DECLARING, ids=[p for p, _ in DECLARING])
def test_a_handlers_declared_query_parameters_are_its_documented_ones(pattern, handler):
    operation = openapi_document()["paths"][documented_path(pattern)]["get"]
    components = openapi_document()["components"]["parameters"]
    documented = set()
    for parameter in operation["parameters"]:
        found = components[parameter["$ref"].rsplit("/", 1)[-1]]
        if found["in"] == "query":
            documented.add("metadata[key]" if found.get("style") == "deepObject" else found["name"])
    assert set(handler.query_parameters) == documented


def test_the_new_reads_declare_their_query_parameters():
    declared = {pattern for pattern, _ in DECLARING}
    assert {"/api/v1/search", "/api/v1/activity", "/api/v1/payments", "/api/v1/accounts"} <= declared
    assert {"/api/v1/balances/([^/]+)", "/api/v1/balances/([^/]+)/statement"} <= declared
