"""What a refused request must look like: the documented error body, and nothing changed behind it."""

from __future__ import annotations

import re
from contextlib import contextmanager

from tests.support.waiting import wait_until

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def assert_error(response, status: int, code: str | tuple[str, ...], *fields: str) -> dict:
    """The response is `status` with exactly `{"error": {"code", "message",
    "fields"?}}`, the given `code` (or one of them), and (when named) those
    `fields`."""
    assert response.status == status, (response.status, response.body or response.raw[:300])
    assert (response.header("content-type") or "").startswith("application/json"), response.headers
    assert response.header("x-request-id"), response.headers
    assert isinstance(response.body, dict) and set(response.body) == {"error"}, response.body
    error = response.body["error"]
    # `status`: with invalid_state only, the payment's status now.
    assert {"code", "message"} <= set(error) <= {"code", "message", "fields", "status"}, error
    assert ("status" in error) == (error["code"] == "invalid_state"), error
    assert SNAKE_CASE.match(error["code"]), error
    assert error["code"] in ((code,) if isinstance(code, str) else code), error
    assert isinstance(error["message"], str) and error["message"], error
    if "fields" in error:
        assert error["fields"] and all(
            isinstance(name, str) and isinstance(problem, str) and problem for name, problem in error["fields"].items()
        ), error
    for name in fields:
        assert name in error.get("fields", {}), error
    return error


def newest_seq(api) -> int:
    """How many events the log holds, numbered yet or not. (The API only shows
    numbered ones, and an event committed just before a refused request may
    be numbered just after it: counting rows is what "no event was written"
    means.)"""
    from models.event import Event
    from models.retry import read_only

    return read_only(lambda: Event.select().count())


def world(api, account_ids) -> dict:
    return {
        "accounts": [api.get(f"/api/v1/accounts/{a}").body for a in account_ids],
        "payments": [api.get(f"/api/v1/accounts/{a}/payments").body for a in account_ids],
        "newest_event": newest_seq(api),
    }


def pending_payments(api, account_ids) -> list:
    lists = [api.get(f"/api/v1/accounts/{a}/payments").body.get("data", []) for a in account_ids]
    return [p for payments in lists for p in payments if p["status"] == "pending"]


@contextmanager
def leaves_nothing_behind(api, *account_ids: str):
    """What the requests inside may not change: these accounts (with their
    balances), their payment lists and the newest event."""
    before = world(api, account_ids)
    try:
        yield
    finally:
        # A request accepted by mistake may still be settling: let it finish,
        # so that it fails this test and not whichever runs next.
        wait_until(lambda: not pending_payments(api, account_ids))
    assert world(api, account_ids) == before
