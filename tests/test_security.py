"""Nobody gets in where they do not belong (SPEC sections 5 and 7): the app
refuses to start with an unguarded handler; every API route refuses a revoked
token; whatever a user types renders inert on every page; forms need their
CSRF token; a login replaces any session planted before it; secrets never
reach the logs; tokens and passwords are checked in constant time.

(Missing and bad tokens and too-small scopes on every route are in
tests/test_auth.py; rate limits in tests/test_ratelimit.py.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import cast

import pytest

from handlers.base import APIHandler, check_every_method_is_guarded, public, scope
from handlers.dashboard.base import PageHandler, admin_only, anonymous, viewer
from tests.support.client import issue_token
from tests.support.ledger import open_account, unique
from tests.support.pages import PASSWORD, logged_in, new_operator
from tests.support.routes import API_CALLS, CALL_IDS, assert_unauthorized, call
from tools.dashboard import Session

# What an attacker types into every free-text field: a script element, a tag
# that breaks out of an attribute, and a quote that starts a new attribute.
ATTACK = "<script>alert('xss')</script>\"><img src=x onerror=alert(1)>' onmouseover='alert(2)"
DANGEROUS = ("<script>alert", "<img src=x", "onmouseover='alert", '"><img')


# -- start-up guard -------------------------------------------------------------


def test_the_app_refuses_to_start_with_an_api_method_that_is_neither_scoped_nor_public():
    class Forgotten(APIHandler):
        @scope("read")
        async def get(self) -> None: ...

        async def delete(self) -> None: ...

    with pytest.raises(RuntimeError, match=r"Forgotten\.delete"):
        check_every_method_is_guarded([Forgotten])


def test_the_app_refuses_to_start_with_a_page_method_that_has_no_role():
    class Unchecked(PageHandler):
        @viewer
        async def get(self) -> None: ...

        async def post(self) -> None: ...

    with pytest.raises(RuntimeError, match=r"Unchecked\.post"):
        check_every_method_is_guarded([Unchecked])


def test_guarded_and_deliberately_public_methods_pass_the_start_up_check():
    class Guarded(APIHandler):
        @public
        async def get(self) -> None: ...

        @scope("admin")
        async def post(self) -> None: ...

    class Page(PageHandler):
        @anonymous
        async def get(self) -> None: ...

        @admin_only
        async def post(self) -> None: ...

    check_every_method_is_guarded([Guarded, Page])


# -- revoked tokens ---------------------------------------------------------------


@pytest.fixture(scope="module")
def revoked_token(gateway) -> str:
    from models.auth import ApiToken
    from models.retry import read_only, retried_transaction

    secret = issue_token("admin")
    token = read_only(lambda: ApiToken.authenticate(secret))
    assert token is not None  # just issued
    retried_transaction(lambda: token.revoke())
    return secret


@pytest.mark.parametrize(("method", "path", "websocket"), API_CALLS, ids=CALL_IDS)
def test_every_api_route_refuses_a_revoked_token_401(anonymous, revoked_token, method, path, websocket):
    assert_unauthorized(call(anonymous.with_token(revoked_token), method, path, websocket))


# -- stored and reflected XSS -------------------------------------------------------


def assert_inert(page, marker: str | None) -> None:
    assert page.status == 200, (page.status, page.text[:200])
    if marker is not None:
        assert marker in page.html, "the field should be shown (escaped)"
    for fragment in DANGEROUS:
        assert fragment not in page.html, fragment
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


@pytest.fixture(scope="module")
def hostile_records(gateway, admin, writer):
    """An account, payments, a currency and a token whose every free-text
    field carries ATTACK after a marker."""
    from models.auth import ApiToken
    from models.retry import retried_transaction

    marker = unique("xss")
    payer = writer.post("/api/v1/accounts", {"owner": f"{marker} {ATTACK}", "currencies": ["PHP"]}).body["id"]
    deposit = admin.post(
        "/api/v1/deposits",
        {"account": payer, "currency": "PHP", "amount": "10", "description": f"{marker} {ATTACK}"},
        wait=20,
    ).body
    payee = open_account(writer, admin, currencies=["PHP"])
    payment = writer.post(
        "/api/v1/payments",
        {"from_account": payer, "to_account": payee, "amount": "1", "description": f"{marker} {ATTACK}"},
        wait=20,
    ).body
    code = "00" + unique("")[-6:].upper()  # sorts first: on the first page of /currencies
    created = admin.post("/api/v1/currencies", {"code": code, "name": f"{marker} {ATTACK}"[:100], "exponent": 2})
    assert created.status == 201, created.body
    retried_transaction(lambda: ApiToken.issue(f"{marker} {ATTACK}"[:100], "read"))
    return {"marker": marker, "payer": payer, "deposit": deposit["id"], "payment": payment["id"]}


# (page, whether it shows the typed text itself: lists of payments show ids)
HOSTILE_PAGES = [
    ("/", False),
    ("/accounts", False),  # oldest first: a long-running suite's first page has older ones
    ("/accounts?q={marker}", True),
    ("/accounts/{payer}", True),
    ("/payments", False),
    ("/payments?account={payer}", False),
    ("/payments/{deposit}", True),
    ("/payments/{payment}", True),
    ("/currencies", True),
    ("/tokens", True),
]


@pytest.mark.parametrize(("page", "shown"), HOSTILE_PAGES, ids=[p for p, _ in HOSTILE_PAGES])
def test_what_users_typed_renders_inert_on_every_page(gateway, hostile_records, page, shown):
    session = logged_in(gateway.url)
    marker = hostile_records["marker"] if shown else None
    assert_inert(session.get(page.format(**hostile_records)), marker)


@pytest.mark.parametrize(
    "page",
    [
        "/accounts?q={attack}",
        "/accounts?owner={attack}",
        "/payments?account={attack}",
        "/payments?status={attack}",
        "/login?next={attack}",
        "/accounts/{attack}",
    ],
)
def test_what_an_address_carries_is_never_reflected_as_markup(gateway, page):
    from urllib.parse import quote

    session = logged_in(gateway.url)
    answer = session.get(page.format(attack=quote(ATTACK, safe="")))
    assert answer.status in (200, 302, 404), answer.status
    for fragment in DANGEROUS:
        assert fragment not in answer.html, (page, fragment)


def test_a_refused_form_shows_what_was_typed_back_escaped(gateway):
    session = logged_in(gateway.url)
    page = session.post(
        "/payments/new", {"from_account": ATTACK, "to_account": "x", "amount": "1", "description": ATTACK}
    )
    assert page.status in (200, 422), page.status
    for fragment in DANGEROUS:
        assert fragment not in page.html, fragment


# -- CSRF and sessions --------------------------------------------------------------


ADMIN_FORMS = ["/accounts", "/payments/new", "/currencies", "/rates", "/tokens"]


@pytest.mark.parametrize("path", ADMIN_FORMS)
def test_every_admin_form_refuses_a_post_without_its_csrf_token_403(gateway, path):
    page = logged_in(gateway.url).post(path, {"name": "forged"}, csrf=False)
    assert page.status == 403 and "Form expired" in page.text


def test_a_csrf_token_from_another_session_is_refused_403(gateway, admin):
    victim, attacker = logged_in(gateway.url), logged_in(gateway.url)
    attacker.get("/accounts")
    victim.get("/accounts")
    account_id = unique()
    page = victim.post(
        "/accounts", {"owner": "Forged", "id": account_id, "_xsrf": attacker.cookies["_xsrf"]}, csrf=False
    )
    assert page.status == 403
    assert admin.get(f"/api/v1/accounts/{account_id}").status == 404


def test_logging_in_replaces_a_session_planted_before_it(gateway):
    attacker_email, victim_email = new_operator("viewer"), new_operator("admin")
    attacker = Session(gateway.url)
    attacker.login(attacker_email, PASSWORD)
    planted = attacker.cookies["operator"]
    victim = Session(gateway.url)
    victim.cookies["operator"] = planted  # fixed in the victim's browser beforehand
    page = victim.post("/login", {"email": victim_email, "password": PASSWORD, "next": "/"})
    assert page.status == 303
    assert victim.cookies["operator"] != planted
    assert victim_email in victim.get("/").text
    assert victim_email not in attacker.get("/").text


# -- secrets in logs ------------------------------------------------------------------


def test_tokens_and_passwords_never_reach_the_logs(gateway, admin, caplog):
    from tools.feed import FeedClient

    caplog.set_level(logging.DEBUG)
    secret = issue_token("read")
    api = admin.with_token(secret)
    api.get("/api/v1/accounts", params={"limit": 1})
    api.get("/api/v1/audit")  # 403
    admin.with_token(secret + "x").get("/api/v1/accounts")  # 401
    api.get("/api/v1/accounts", params={"token": secret})
    feed = FeedClient(gateway.url, secret, token_in_query=True).start()
    assert feed.connections or _wait(lambda: feed.connections)
    feed.stop()
    password = "hunter2 " + unique("pw")
    Session(gateway.url).login(new_operator("viewer"), password)
    Session(gateway.url).login("nobody-" + unique() + "@example.com", password)
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert logged, "expected the access log to have lines"
    assert secret not in logged and secret[4:] not in logged
    assert password not in logged


def _wait(predicate) -> bool:
    from tests.support.waiting import wait_until

    return bool(wait_until(predicate, timeout=10))


# -- constant-time checks ------------------------------------------------------------


def test_a_token_is_found_by_its_digest_and_compared_in_constant_time(gateway, monkeypatch):
    import hmac

    from models import auth
    from models.retry import read_only

    secret = issue_token("read")
    compared = []
    original = hmac.compare_digest

    def compare_digest(a, b):
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", compare_digest)
    assert read_only(lambda: auth.ApiToken.authenticate(secret)) is not None
    assert compared and all(secret not in pair for pair in compared)
    # .tuples() gives tuples of the columns; Peewee's stubs keep the model's type.
    stored = read_only(
        lambda: [tuple(map(str, row)) for row in cast("Iterable[tuple]", auth.ApiToken.select().tuples())]
    )
    assert not any(secret in value for row in stored for value in row), "only the digest is stored"


def test_a_wrong_email_costs_a_password_check_like_a_wrong_password(gateway, monkeypatch):
    from models import auth
    from models.retry import read_only

    checked = []
    original = auth._check

    def counted_check(digest: str, password: str) -> bool:
        checked.append(digest)
        return original(digest, password)

    monkeypatch.setattr(auth, "_check", counted_check)
    email = new_operator("viewer")
    assert read_only(lambda: auth.Operator.authenticate(email, "wrong password")) is None
    assert read_only(lambda: auth.Operator.authenticate("nobody-" + unique() + "@example.com", PASSWORD)) is None
    assert len(checked) == 2 and all(re.match(r"^\$argon2id\$", digest) for digest in checked)
