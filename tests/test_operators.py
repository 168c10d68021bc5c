"""Operator accounts (/operators, admins only): add, change role, disable
(their sessions end at once, on every web process), reset a password;
each operator changes their own password; the last active admin can be
neither disabled nor demoted, even by two admins at once; tokens show when
they were last used."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.environment import CONFIG
from tests.support.ledger import assert_audit_ok
from tests.support.pages import PASSWORD, logged_in, new_operator
from tools.dashboard import Session


def operator(email: str):
    from models.auth import Operator
    from models.retry import read_only

    return read_only(lambda: Operator.get(Operator.email == email))


@contextlib.contextmanager
def sole_admins(*emails: str):
    """Within the block, the named operators are the only active admins
    (the others are made viewers, and admins again after)."""
    from models.auth import Operator
    from models.retry import retried_transaction

    others = Operator.select(Operator.id).where(
        Operator.role == "admin",
        Operator.active == True,  # noqa: E712
        Operator.email.not_in(emails),
    )
    demoted = [o.id for o in retried_transaction(lambda: list(others))]
    retried_transaction(lambda: Operator.update(role="viewer").where(Operator.id.in_(demoted)).execute())
    try:
        yield
    finally:
        retried_transaction(lambda: Operator.update(role="admin").where(Operator.id.in_(demoted)).execute())


def test_an_admin_adds_an_operator_who_can_then_log_in(gateway):
    admin = logged_in(gateway.url)
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    added = admin.post("/operators", {"email": email, "password": "a good passphrase", "role": "viewer"})
    assert added.status == 303, added.text[:300]
    listing = admin.get("/operators")
    assert email in listing.text and "never" in listing.text
    assert Session(gateway.url).login(email, "a good passphrase").status == 303
    assert operator(email).last_login_at is not None
    again = admin.post("/operators", {"email": email, "password": "a good passphrase", "role": "viewer"})
    assert again.status == 409 and "already exists" in again.text
    short = admin.post("/operators", {"email": f"x{email}", "password": "short", "role": "viewer"})
    assert short.status == 422 and "at least 8 characters" in short.text


def test_viewers_cannot_open_or_use_the_operators_page(gateway):
    viewer = logged_in(gateway.url, "viewer")
    assert viewer.get("/operators").status == 403
    target = operator(new_operator("viewer"))
    assert viewer.post(f"/operators/{target.id}/role", {"role": "admin"}).status == 403
    assert operator(target.email).role == "viewer"


def test_a_role_changes_and_a_disabled_operators_sessions_end_at_once_on_every_web_process(gateway, second_web):
    admin = logged_in(gateway.url)
    email = new_operator("viewer")
    here, there = Session(gateway.url), Session(second_web)
    assert here.login(email, PASSWORD).status == 303
    there.cookies = dict(here.cookies)
    assert there.get("/payments").status == 200
    target = operator(email)
    assert admin.post(f"/operators/{target.id}/role", {"role": "admin"}).status == 303
    assert operator(email).role == "admin"
    assert admin.post(f"/operators/{target.id}/state", {"active": "false"}).status == 303
    for session in (here, there):
        page = session.get("/payments")
        assert page.status == 302 and (page.location or "").startswith("/login"), page.status
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "Origin": gateway.url,
    }
    assert there.get("/api/v1/stream", headers=upgrade).status == 401
    refused = Session(gateway.url).login(email, PASSWORD)
    assert refused.status == 422 and "Wrong email or password" in refused.text
    assert admin.post(f"/operators/{target.id}/state", {"active": "true"}).status == 303
    assert Session(gateway.url).login(email, PASSWORD).status == 303


def test_disabling_an_operator_closes_their_open_live_feeds_on_every_web_process(gateway, second_web):
    admin = Session(second_web)
    admin.cookies = dict(logged_in(gateway.url).cookies)
    email = new_operator("viewer")
    session = Session(gateway.url)
    assert session.login(email, PASSWORD).status == 303
    cookie = "; ".join(f"{name}={value}" for name, value in session.cookies.items())
    ws_url = gateway.url.replace("http://", "ws://") + "/api/v1/stream"

    async def follow_then_disable() -> tuple[int | None, str | None]:
        connection = await websocket_connect(HTTPRequest(ws_url, headers={"Cookie": cookie}))
        hello = await asyncio.wait_for(connection.read_message(), 10)
        assert hello is not None and '"hello"' in hello
        disabled = await asyncio.to_thread(admin.post, f"/operators/{operator(email).id}/state", {"active": "false"})
        assert disabled.status == 303
        while await asyncio.wait_for(connection.read_message(), 30) is not None:
            pass
        return connection.close_code, connection.close_reason

    code, reason = asyncio.run(follow_then_disable())
    assert code == 4001 and reason is not None and reason.startswith("operator disabled"), (code, reason)


def test_an_admin_resets_a_password_and_the_old_one_stops_working(gateway):
    admin = logged_in(gateway.url)
    email = new_operator("viewer")
    target = operator(email)
    assert admin.post(f"/operators/{target.id}/password", {"password": "brand new secret"}).status == 303
    assert Session(gateway.url).login(email, PASSWORD).status == 422
    assert Session(gateway.url).login(email, "brand new secret").status == 303
    short = admin.post(f"/operators/{target.id}/password", {"password": "short"}, headers={})
    assert short.status == 303 and "at least 8 characters" in admin.get("/operators").text


def test_every_operator_changes_their_own_password_knowing_the_current_one(gateway):
    email = new_operator("viewer")
    session = Session(gateway.url)
    session.login(email, PASSWORD)
    wrong = session.post(
        "/password", {"current_password": "not it", "password": "another one!", "confirm": "another one!"}
    )
    assert wrong.status == 422 and "is not your current password" in wrong.text
    mismatch = session.post("/password", {"current_password": PASSWORD, "password": "another one!", "confirm": "other"})
    assert mismatch.status == 422 and "does not match" in mismatch.text
    changed = session.post(
        "/password", {"current_password": PASSWORD, "password": "another one!", "confirm": "another one!"}
    )
    assert changed.status == 303
    assert Session(gateway.url).login(email, "another one!").status == 303
    assert Session(gateway.url).login(email, PASSWORD).status == 422


def test_the_last_active_admin_can_be_neither_disabled_nor_demoted(gateway):
    email = new_operator("admin")
    session = Session(gateway.url)
    session.login(email, PASSWORD)
    me = operator(email)
    with sole_admins(email):
        demoted = session.post(f"/operators/{me.id}/role", {"role": "viewer"})
        assert demoted.status == 303
        assert "last active admin" in session.get("/operators").text
        disabled = session.post(f"/operators/{me.id}/state", {"active": "false"})
        assert disabled.status == 303
        assert (operator(email).role, operator(email).active) == ("admin", True)


@pytest.mark.services
@pytest.mark.skipif(not CONFIG.database_url, reason="two transactions at once need PostgreSQL; SQLite has one writer")
def test_two_admins_demoting_each_other_at_once_leave_one_admin(gateway):
    from models.errors import ApiError
    from models.operators import change_role
    from models.retry import retried_transaction

    def demote(operator_id: int, start: threading.Barrier, outcomes: list[str]) -> None:
        start.wait()
        try:
            retried_transaction(lambda: change_role(operator_id, "viewer"))
            outcomes.append("demoted")
        except ApiError as refusal:
            outcomes.append(refusal.code)

    for _ in range(5):
        first, second = new_operator("admin"), new_operator("admin")
        ids = [operator(first).id, operator(second).id]
        outcomes: list[str] = []
        start = threading.Barrier(2)

        with sole_admins(first, second):
            threads = [threading.Thread(target=demote, args=(operator_id, start, outcomes)) for operator_id in ids]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            roles = sorted(operator(email).role for email in (first, second))
        assert sorted(outcomes) == ["demoted", "last_admin"]
        assert roles == ["admin", "viewer"]
    assert_audit_ok()


def test_tokens_show_when_they_were_last_used(gateway, anonymous):
    from models.auth import ApiToken
    from models.retry import retried_transaction

    name = f"used-{uuid.uuid4().hex[:8]}"
    _, secret = retried_transaction(lambda: ApiToken.issue(name, "read"))

    def last_used() -> str:
        html = logged_in(gateway.url).get("/tokens").html
        row = html[html.index(f">{name}<") :]
        row = row[row.index("data-last-used>") :]
        return row[len("data-last-used>") : row.index("</td>")]

    assert last_used() == "never"
    assert anonymous.with_token(secret).get("/api/v1/currencies").status == 200
    assert "UTC</time>" in last_used()
