"""Who did what: every change records its actor (token, operator or the
system) with the client's address and the request's id; payments show
who created them; events carry the actor; GET /api/v1/activity lists every
change and every log-in (refused ones too) and log-out; nothing changes or
deletes a line."""

from __future__ import annotations

import json
import uuid

import pytest

from models.event import frames_after
from tests.support.events import events_about, head_seq
from tests.support.ledger import open_account, pay, unique
from tests.support.openapi import assert_matches_documentation
from tests.support.pages import PASSWORD, logged_in, new_operator
from tests.support.refusals import assert_error
from tools.dashboard import Session


def token_id(api) -> int:
    from models.auth import ApiToken
    from models.retry import read_only

    token = read_only(lambda: ApiToken.authenticate(api.token))
    assert token is not None
    return token.id


def operator_id(email: str) -> int:
    from models.auth import Operator
    from models.retry import read_only

    return read_only(lambda: Operator.get(Operator.email == email)).id


def activity(admin, **params) -> list[dict]:
    response = admin.get("/api/v1/activity", params={"limit": 500, **params})
    assert response.status == 200, response.body
    return response.body["data"]


def test_a_tokens_change_is_its_own_with_its_address_and_request_id(writer, admin):
    request_id = uuid.uuid4().hex
    account_id = unique()
    made = writer.post("/api/v1/accounts", {"id": account_id, "owner": "Actor"}, headers={"X-Request-Id": request_id})
    assert made.status == 201
    me = token_id(writer)
    lines = [line for line in activity(admin, actor=f"token:{me}") if line["subject"] == account_id]
    assert len(lines) == 1
    line = lines[0]
    assert line["type"] == "account.created" and line["source"] == "change"
    assert line["actor"] == {"type": "token", "id": me, "name": "test write"}
    assert line["client_ip"] == "127.0.0.1" and line["request_id"] == request_id
    assert line["created_at"].endswith("Z")


def test_a_payment_shows_who_created_it_and_its_events_who_made_each_change(writer, admin, reader):
    sender = open_account(writer, admin, {"PHP": "5.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    seq = head_seq(reader)
    paid = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "1.00"}).body
    me = {"type": "token", "id": token_id(writer), "name": "test write"}
    assert paid["created_by"] == me
    assert reader.get(f"/api/v1/payments/{paid['id']}").body["created_by"] == me
    events = {e["type"]: e for e in events_about(reader, seq, paid["id"], count=2)}
    assert events["payment.created"]["actor"] == me
    assert events["payment.completed"]["actor"] == {"type": "system"}
    assert events["payment.completed"]["data"]["created_by"] == me
    from models.retry import read_only

    frames = read_only(lambda: frames_after(events["payment.created"]["seq"] - 1, 1))
    assert json.loads(frames[0].text)["actor"] == me


def test_an_operators_changes_log_ins_and_log_outs_are_theirs(gateway, admin):
    email = new_operator("admin")
    session = Session(gateway.url)
    assert session.login(email, PASSWORD).status == 303
    made = session.post("/accounts", {"owner": "Made On The Dashboard", "id": unique("dash")})
    assert made.status == 303 and made.location, made.text[:300]
    account_id = made.location.rsplit("/", 1)[-1]
    assert session.post("/logout").status == 303
    me = operator_id(email)
    lines = activity(admin, actor=f"operator:{me}")
    assert [line["type"] for line in lines] == ["operator.logged_out", "account.created", "operator.logged_in"]
    assert lines[1]["subject"] == account_id
    assert all(line["actor"] == {"type": "operator", "id": me, "email": email} for line in lines)
    assert lines[0]["subject"] == email and lines[0]["client_ip"] == "127.0.0.1" and lines[0]["request_id"]


def test_a_refused_log_in_is_logged_with_the_email_tried(gateway, admin):
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    assert Session(gateway.url).login(email, "wrong password").status == 422
    refused = [line for line in activity(admin, type="operator.login_refused") if line["subject"] == email]
    assert len(refused) == 1
    assert refused[0]["actor"] == {"type": "anonymous"} and refused[0]["source"] == "access"
    anonymous = activity(admin, actor="anonymous", type="operator.login_refused")
    assert email in [line["subject"] for line in anonymous]


def test_tokens_issued_and_revoked_on_the_dashboard_are_logged(gateway, admin):
    session = logged_in(gateway.url)
    name = f"ci-{uuid.uuid4().hex[:8]}"
    assert session.post("/tokens", {"name": name, "scope": "read"}).status == 201
    lines = [line for line in activity(admin, type="token.created") if name in (line["subject"] or "")]
    assert len(lines) == 1 and lines[0]["actor"]["type"] == "operator"
    token = int(lines[0]["subject"].split("token ")[1].split(",")[0])
    assert session.post(f"/tokens/{token}/revoke").status == 303
    revoked = [line for line in activity(admin, type="token.revoked") if name in (line["subject"] or "")]
    assert len(revoked) == 1


def test_the_activity_log_pages_newest_first_without_gaps_or_repeats(writer, admin):
    for _ in range(3):
        assert writer.post("/api/v1/accounts", {"owner": "Pager"}).status == 201
    whole = activity(admin, limit=60)
    seen: list[dict] = []
    cursor = None
    while len(seen) < 60:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/api/v1/activity", params=params).body
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [line["id"] for line in seen[:60]] == [line["id"] for line in whole[:60]]
    stamps = [line["created_at"] for line in whole]
    assert stamps == sorted(stamps, reverse=True)


def test_the_activity_log_filters_by_time(writer, admin):
    made = writer.post("/api/v1/accounts", {"owner": "Timed"}).body
    at = made["created_at"]
    around = activity(admin, created_after=at, created_before="2999-01-01T00:00:00Z", type="account.created")
    assert made["id"] in [line["subject"] for line in around]
    before = activity(admin, created_before=at, type="account.created")
    assert made["id"] not in [line["subject"] for line in before]


@pytest.mark.parametrize(
    "params",
    [
        {"actor": "someone"},
        {"actor": "token:abc"},
        {"type": "payment.eaten"},
        {"created_after": "yesterday"},
        {"cursor": "nonsense"},
        {"limit": "501"},
    ],
    ids=["actor", "actor id", "type", "time", "cursor", "limit"],
)
def test_bad_activity_filters_are_bad_requests(admin, params):
    assert_error(admin.get("/api/v1/activity", params=params), 400, ("invalid_request", "invalid_cursor"))


def test_only_admins_read_the_activity_log_and_nobody_changes_it(admin, writer):
    assert_error(writer.get("/api/v1/activity"), 403, "forbidden")
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert_error(admin.request(method, "/api/v1/activity", {}), 405, "method_not_allowed")


def test_the_database_refuses_to_change_or_delete_an_access_record(gateway):
    from peewee import DatabaseError

    from models.access import AccessRecord
    from models.retry import retried_transaction

    Session(gateway.url).login("nobody@example.com", "wrong password")
    with pytest.raises(DatabaseError):
        retried_transaction(lambda: AccessRecord.update(subject="rewritten").execute())
    with pytest.raises(DatabaseError):
        retried_transaction(lambda: AccessRecord.delete().execute())


def test_activity_answers_as_documented(anonymous, admin, reader):
    document = anonymous.get("/api/v1/openapi.json").body
    for response in (
        admin.get("/api/v1/activity", params={"limit": 20}),
        admin.get("/api/v1/activity", params={"actor": "x"}),
        reader.get("/api/v1/activity"),
        anonymous.get("/api/v1/activity"),
    ):
        assert_matches_documentation(document, "/api/v1/activity", "get", response)
    events = admin.get("/api/v1/events", params={"order": "desc", "limit": 5})
    assert_matches_documentation(document, "/api/v1/events", "get", events)


@pytest.mark.parametrize("keyed", [False, True], ids=["sent with others", "with an Idempotency-Key"])
def test_a_captures_settlement_is_recorded_as_the_change_of_whoever_asked_for_it(writer, admin, reader, keyed):
    sender = open_account(writer, admin, {"PHP": "5.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    held = writer.post(
        "/api/v1/payments",
        {"from_account": sender, "to_account": receiver, "amount": "2.00", "capture": "manual"},
        wait=20,
    ).body
    assert held["status"] == "authorized"
    seq = head_seq(reader)
    request_id = uuid.uuid4().hex
    headers = {"X-Request-Id": request_id, **({"Idempotency-Key": uuid.uuid4().hex} if keyed else {})}
    answer = writer.post(f"/api/v1/payments/{held['id']}/capture", {"amount": "1.50"}, headers=headers, wait=20)
    assert (answer.status, answer.body["status"]) == (200, "completed")
    (completed,) = events_about(reader, seq, held["id"], "payment.completed")
    assert completed["actor"] == {"type": "token", "id": token_id(writer), "name": "test write"}
    line = next(line for line in activity(admin, type="payment.completed") if line["subject"] == held["id"])
    assert line["request_id"] == request_id and line["client_ip"] == "127.0.0.1"
