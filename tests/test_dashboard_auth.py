"""Who may use the dashboard (SPEC section 7): operators log in with email
and password, sessions live in signed cookies, every form carries a CSRF
token, a viewer sees everything and changes nothing, and every page is
served with security headers."""

from __future__ import annotations

import pytest

from tests.support.ledger import open_account, unique
from tests.support.pages import PASSWORD, logged_in, new_operator
from tools.dashboard import Session

PAGES = ("/", "/accounts", "/payments", "/currencies", "/rates", "/tokens", "/audit")


@pytest.fixture(scope="module")
def account(writer, admin) -> str:
    return open_account(writer, admin, {"PHP": "50.00"})


@pytest.fixture(scope="module")
def payment(writer, account) -> str:
    receiver = open_account(writer, writer, currencies=["PHP"])
    response = writer.post(
        "/api/v1/payments", {"from_account": account, "to_account": receiver, "amount": "1.00"}, wait=20
    )
    assert response.body["status"] == "completed", response.body
    return response.body["id"]


@pytest.mark.parametrize("path", [*PAGES, "/payments/new", "/accounts/bob123", "/payments/pay_x"])
def test_every_page_sends_an_operator_who_is_not_logged_in_to_the_login_page(gateway, path):
    page = Session(gateway.url).get(path)
    assert page.status == 302
    assert page.location is not None and page.location.startswith("/login?next="), page.location


def test_the_login_page_asks_for_email_and_password_with_labels(gateway):
    page = Session(gateway.url).get("/login")
    assert page.status == 200
    assert '<label for="email"' in page.html and '<label for="password"' in page.html
    assert 'type="password"' in page.html
    assert 'name="_xsrf"' in page.html


def test_pages_are_served_with_a_strict_content_security_policy_and_no_framing(gateway):
    for page in (Session(gateway.url).get("/login"), logged_in(gateway.url).get("/")):
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.html and " style=" not in page.html and "onclick" not in page.html


def test_a_wrong_password_is_refused_with_a_message_and_no_session(gateway):
    email = new_operator()
    session = Session(gateway.url)
    page = session.login(email, "not the password")
    assert page.status == 422
    assert "Wrong email or password" in page.text
    assert "operator" not in session.cookies
    assert session.get("/").status == 302


def test_an_unknown_email_is_refused_with_the_same_message(gateway):
    page = Session(gateway.url).login("nobody@example.com", PASSWORD)
    assert page.status == 422
    assert "Wrong email or password" in page.text


def test_logging_in_sets_a_signed_httponly_samesite_session_cookie_that_expires(gateway):
    session = Session(gateway.url)
    page = session.login(new_operator(), PASSWORD)
    assert page.status == 303 and page.location == "/"
    cookie = next(line for line in page.set_cookies if line.startswith("operator="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "expires=" in flags and "path=/" in flags
    assert "|" in session.cookies["operator"], "the session cookie is signed"
    overview = session.get("/")
    assert overview.status == 200 and "Overview" in overview.text


def test_logging_in_replaces_the_csrf_token(gateway):
    session = Session(gateway.url)
    session.get("/login")
    before = session.cookies["_xsrf"]
    session.login(new_operator(), PASSWORD)
    session.get("/accounts")
    assert session.cookies["_xsrf"] != before


def test_a_forged_session_cookie_is_not_a_session(gateway):
    session = Session(gateway.url)
    session.cookies["operator"] = "1"
    assert session.get("/").status == 302


def test_logging_in_leads_back_to_the_page_asked_for_and_never_off_site(gateway):
    email = new_operator()
    session = Session(gateway.url)
    form = session.get("/login?next=/payments?status=failed")
    assert 'value="/payments?status=failed"' in form.html
    page = session.post("/login", {"email": email, "password": PASSWORD, "next": "/payments?status=failed"})
    assert page.location == "/payments?status=failed"
    for outside in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        page = Session(gateway.url).post("/login", {"email": email, "password": PASSWORD, "next": outside})
        assert page.location == "/", outside


def test_logging_out_ends_the_session(gateway):
    session = logged_in(gateway.url)
    confirm = session.get("/logout")
    assert confirm.status == 200 and session.get("/").status == 200, "a link alone does not log out"
    page = session.post("/logout")
    assert page.status == 303 and page.location == "/login"
    assert "operator" not in session.cookies
    assert session.get("/").status == 302


def test_a_form_posted_without_the_csrf_token_is_refused_403_and_changes_nothing(gateway, admin):
    session = logged_in(gateway.url)
    account_id = unique()
    page = session.post("/accounts", {"owner": "Forged", "id": account_id}, csrf=False)
    assert page.status == 403
    assert "Form expired" in page.text
    page = session.post("/accounts", {"owner": "Forged", "id": account_id, "_xsrf": "2|00|00|0"}, csrf=False)
    assert page.status == 403
    assert admin.get(f"/api/v1/accounts/{account_id}").status == 404


def test_the_api_still_takes_bearer_token_posts_without_a_csrf_token(admin):
    response = admin.post("/api/v1/accounts", {"owner": "API caller"})
    assert response.status == 201, response.body


def test_a_viewer_sees_every_page(gateway, account, payment):
    session = logged_in(gateway.url, "viewer")
    for path in (*PAGES, f"/accounts/{account}", f"/payments/{payment}"):
        page = session.get(path)
        assert page.status == 200, (path, page.text[:300])
        assert page.html.count('method="post"') == 1, f"{path}: a viewer gets no form but the one to log out"


def test_a_viewer_is_refused_every_change_403_and_nothing_changes(gateway, admin, account, payment):
    session = logged_in(gateway.url, "viewer")
    before = admin.get(f"/api/v1/accounts/{account}").body
    changes = {
        "/accounts": {"owner": "Viewer made this", "id": unique()},
        f"/accounts/{account}/state": {"active": "false"},
        f"/accounts/{account}/balances": {"currency": "USD"},
        f"/balances/{before['balances'][0]['id']}/state": {"active": "false"},
        f"/accounts/{account}/deposit": {"currency": "PHP", "amount": "5.00"},
        f"/accounts/{account}/withdraw": {"currency": "PHP", "amount": "5.00"},
        "/payments/new": {"from_account": account, "to_account": account, "amount": "1.00"},
        f"/payments/{payment}/reverse": {},
        "/currencies": {"code": "V" + unique()[-6:].upper(), "name": "Viewer coin", "exponent": "2"},
        "/rates": {"base": "USD", "quote": "PHP", "rate": "1"},
        "/rates/USD/PHP/remove": {},
        "/tokens": {"name": "viewer token", "scope": "admin"},
        "/tokens/1/revoke": {},
    }
    for path, form in changes.items():
        page = session.post(path, form)
        assert page.status == 403, (path, page.status, page.text[:300])
        assert "ask an admin" in page.text, path
    assert session.get("/payments/new").status == 403
    assert admin.get(f"/api/v1/accounts/{account}").body == before
    assert admin.get(f"/api/v1/payments/{payment}").body["reversed_by"] is None
    assert admin.get(f"/api/v1/accounts/{changes['/accounts']['id']}").status == 404


def test_an_unknown_page_is_an_html_404_and_an_unknown_api_path_stays_json(gateway, anonymous):
    page = logged_in(gateway.url).get("/no/such/page")
    assert page.status == 404
    assert page.headers["content-type"].startswith("text/html") and "Not found" in page.text
    api = anonymous.get("/api/v1/no/such/thing")
    assert api.status == 404 and api.body["error"]["code"] == "not_found"


def test_a_page_for_an_account_or_payment_that_does_not_exist_is_a_404_page(gateway):
    session = logged_in(gateway.url)
    for path in ("/accounts/no-such-account", "/payments/pay_nosuchpayment"):
        page = session.get(path)
        assert page.status == 404, path
        assert "not found" in page.text.lower()
