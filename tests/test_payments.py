"""Payments through the API: the lifecycle of SPEC section 4."""

from __future__ import annotations

from tests.support.events import events_after, head_seq
from tests.support.ledger import open_account, unique
from tests.support.waiting import wait_until


def balance_of(api, account_id: str, currency: str) -> str:
    body = api.get(f"/api/v1/accounts/{account_id}").body
    return next(b["amount"] for b in body["balances"] if b["currency"] == currency)


def test_transfer_moves_money_and_writes_two_entries(writer, admin):
    bob = open_account(writer, admin, {"PHP": "100.00"})
    alice = open_account(writer, admin, {"PHP": "0.01"})
    response = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": "30.50"}, wait=20)
    assert response.status == 201
    payment = response.body
    assert payment["status"] == "completed" and payment["kind"] == "transfer"
    assert payment["amount"] == "30.50" and payment["currency"] == "PHP"
    assert [(e["account"], e["direction"], e["amount"], e["balance_after"]) for e in payment["entries"]] == [
        (bob, "outgoing", "30.50", "69.50"),
        (alice, "incoming", "30.50", "30.51"),
    ]
    assert balance_of(writer, bob, "PHP") == "69.50"
    assert balance_of(writer, alice, "PHP") == "30.51"


def test_transfer_without_wait_is_accepted_pending_then_settles(writer, admin):
    bob = open_account(writer, admin, {"PHP": "10.00"})
    alice = open_account(writer, admin, currencies=["PHP"])
    response = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": "1"})
    assert response.status == 202
    assert response.body["status"] == "pending" and response.body["settled_at"] is None
    from tests.support.waiting import wait_until

    settled = wait_until(lambda: writer.get(f"/api/v1/payments/{response.body['id']}").body["status"] != "pending")
    assert settled
    assert writer.get(f"/api/v1/payments/{response.body['id']}").body["status"] == "completed"
    assert balance_of(writer, alice, "PHP") == "1.00"


def test_payment_short_of_funds_fails_insufficient_funds_and_moves_nothing(writer, admin):
    bob = open_account(writer, admin, {"PHP": "5.00"})
    alice = open_account(writer, admin, currencies=["PHP"])
    response = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": "5.01"}, wait=20)
    assert response.status == 201
    assert response.body["status"] == "failed"
    assert response.body["failure_code"] == "insufficient_funds"
    assert response.body["entries"] == []
    assert balance_of(writer, bob, "PHP") == "5.00"
    assert balance_of(writer, alice, "PHP") == "0.00"


def test_currency_may_be_omitted_when_sender_has_one_active_balance(writer, admin):
    bob = open_account(writer, admin, {"USD": "3.00"})
    alice = open_account(writer, admin, currencies=["USD"])
    response = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": 1.25}, wait=20)
    assert response.body["currency"] == "USD" and response.body["status"] == "completed"


def test_deposit_and_withdrawal_move_money_through_system(writer, admin):
    account = open_account(writer, admin, currencies=["JPY"])
    deposit = admin.post("/api/v1/deposits", {"account": account, "currency": "JPY", "amount": "5000"}, wait=20)
    assert deposit.status == 201 and deposit.body["kind"] == "deposit"
    assert deposit.body["from_account"] == "@system" and deposit.body["amount"] == "5000"
    withdrawal = admin.post("/api/v1/withdrawals", {"account": account, "currency": "JPY", "amount": "1200"}, wait=20)
    assert withdrawal.body["status"] == "completed" and withdrawal.body["to_account"] == "@system"
    assert balance_of(writer, account, "JPY") == "3800"
    overdraw = admin.post("/api/v1/withdrawals", {"account": account, "currency": "JPY", "amount": "3801"}, wait=20)
    assert overdraw.body["status"] == "failed" and overdraw.body["failure_code"] == "insufficient_funds"


def test_statement_lists_entries_with_balance_after(writer, admin):
    account = open_account(writer, admin, {"EUR": "10.00"})
    other = open_account(writer, admin, currencies=["EUR"])
    for amount in ("1.00", "2.50"):
        writer.post("/api/v1/payments", {"from_account": account, "to_account": other, "amount": amount}, wait=20)
    balance_id = next(b["id"] for b in writer.get(f"/api/v1/accounts/{account}").body["balances"])
    lines = writer.get(f"/api/v1/balances/{balance_id}/entries").body["data"]
    assert [(line["direction"], line["amount"], line["balance_after"]) for line in lines] == [
        ("incoming", "10.00", "10.00"),
        ("outgoing", "1.00", "9.00"),
        ("outgoing", "2.50", "6.50"),
    ]


def test_account_payments_show_each_side_newest_first(writer, admin):
    bob = open_account(writer, admin, {"PHP": "50.00"})
    alice = open_account(writer, admin, {"PHP": "50.00"})
    writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": "5"}, wait=20)
    writer.post("/api/v1/payments", {"from_account": alice, "to_account": bob, "amount": "7"}, wait=20)
    history = writer.get(f"/api/v1/accounts/{bob}/payments").body["data"]
    assert [(h["direction"], h["amount"], h.get("to_account"), h.get("from_account")) for h in history[:2]] == [
        ("incoming", "7.00", None, alice),
        ("outgoing", "5.00", alice, None),
    ]
    assert history[2]["kind"] == "deposit" and history[2]["from_account"] == "@system"


def test_payments_list_filters_and_paginates_with_cursor(writer, admin):
    bob = open_account(writer, admin, {"PHP": "100.00"})
    alice = open_account(writer, admin, currencies=["PHP"])
    ids = [
        writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": str(n)}, wait=20).body[
            "id"
        ]
        for n in range(1, 6)
    ]
    seen, cursor = [], None
    while True:
        params = {"account": alice, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = writer.get("/api/v1/payments", params=params).body
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    ascending = writer.get("/api/v1/payments", params={"account": alice, "order": "asc"}).body["data"]
    assert [p["id"] for p in ascending] == ids
    completed = writer.get("/api/v1/payments", params={"account": bob, "status": "completed", "kind": "deposit"}).body
    assert len(completed["data"]) == 1 and completed["data"][0]["kind"] == "deposit"


def test_accounts_are_listed_oldest_first_with_filters(writer, admin):
    owner = unique("owner")
    first = writer.post("/api/v1/accounts", {"owner": owner, "currencies": ["PHP"]}).body
    second = writer.post("/api/v1/accounts", {"owner": owner, "email": "x@example.com", "currencies": ["USD"]}).body
    assert first["id"].startswith("acc_")
    listed = writer.get("/api/v1/accounts", params={"owner": owner}).body["data"]
    assert [a["id"] for a in listed] == [first["id"], second["id"]]
    by_currency = writer.get("/api/v1/accounts", params={"owner": owner, "currency": "USD"}).body["data"]
    assert [a["id"] for a in by_currency] == [second["id"]]
    admin.patch(f"/api/v1/accounts/{first['id']}", {"active": False})
    active = writer.get("/api/v1/accounts", params={"owner": owner, "active": "true"}).body["data"]
    assert [a["id"] for a in active] == [second["id"]]


def test_a_description_comes_back_exactly_as_sent_in_the_payment_and_its_events(writer, admin):
    # Characters JSON and SQL text escape (tabs, newlines, backslashes,
    # quotes), a literal \N (bulk loaders' NULL) and text beyond ASCII.
    description = 'tab\there\nnew line\r\\back\\slash \\N "quoted" ünïcødé €'
    bob = open_account(writer, admin, {"PHP": "10.00"})
    alice = open_account(writer, admin, currencies=["PHP"])
    body = {"from_account": bob, "to_account": alice, "amount": "1.00", "description": description}
    start = head_seq(admin)
    payment = writer.post("/api/v1/payments", body, wait=20).body
    assert payment["status"] == "completed" and payment["description"] == description
    assert writer.get(f"/api/v1/payments/{payment['id']}").body["description"] == description

    def logged():
        events = events_after(admin, start)
        mine = {e["type"]: e["data"]["description"] for e in events if e["data"].get("id") == payment["id"]}
        return mine if len(mine) == 2 else None

    assert wait_until(logged) == {"payment.created": description, "payment.completed": description}


def test_the_answer_to_a_new_payment_is_its_created_event_with_no_entries_yet(writer, admin):
    bob = open_account(writer, admin, {"PHP": "10.00"})
    alice = open_account(writer, admin, currencies=["PHP"])
    transfer = {"from_account": bob, "to_account": alice, "amount": "1.00", "description": 'a "quoted" ünïcødé\n'}
    start = head_seq(admin)
    answers = [
        writer.post("/api/v1/payments", transfer),
        admin.post("/api/v1/deposits", {"account": bob, "currency": "PHP", "amount": "2.00"}),
        admin.post("/api/v1/withdrawals", {"account": bob, "currency": "PHP", "amount": "0.50"}),
        writer.post("/api/v1/payments", transfer, headers={"Idempotency-Key": unique("key")}),
    ]
    assert [answer.status for answer in answers] == [202] * 4

    def created():
        found = {e["data"]["id"]: e["data"] for e in events_after(admin, start) if e["type"] == "payment.created"}
        return found if {answer.body["id"] for answer in answers} <= found.keys() else None

    events = wait_until(created)
    assert events, "the payments' created events never reached the log"
    for answer in answers:
        assert answer.body["status"] == "pending"
        assert answer.body == {**events[answer.body["id"]], "reversals": [], "entries": []}


def test_a_payment_without_a_description_has_none_rather_than_an_empty_one(writer, admin):
    bob = open_account(writer, admin, {"PHP": "10.00"})
    alice = open_account(writer, admin, currencies=["PHP"])
    payment = writer.post("/api/v1/payments", {"from_account": bob, "to_account": alice, "amount": "1.00"}, wait=20)
    assert payment.body["description"] is None
    assert writer.get(f"/api/v1/payments/{payment.body['id']}").body["description"] is None


def test_each_payment_event_shows_the_balances_it_touched_right_after_it(writer, admin):
    from models.intake import submit_transfer
    from models.settlement import settle_pending
    from tests.support.ledger import pending

    sender, receiver = open_account(writer, admin, {"PHP": "100.00"}), open_account(writer, admin, currencies=["PHP"])
    after = head_seq(admin)
    for amount in ("10.00", "20.00", "30.00"):
        pending(submit_transfer, {"from_account": sender, "to_account": receiver, "amount": amount, "currency": "PHP"})
    settle_pending()  # in one batch

    def completed() -> list[dict]:
        return [e for e in events_after(admin, after) if e["type"] == "payment.completed"]

    assert wait_until(lambda: len(completed()) == 3, timeout=10)  # once numbered, with services
    events = completed()
    shown = [{b["account"]: (b["amount"], b["held"], b["available"]) for b in e["data"]["balances"]} for e in events]
    assert [s[sender] for s in shown] == [
        ("90.00", "0.00", "90.00"),
        ("70.00", "0.00", "70.00"),
        ("40.00", "0.00", "40.00"),
    ]
    assert [s[receiver] for s in shown] == [
        ("10.00", "0.00", "10.00"),
        ("30.00", "0.00", "30.00"),
        ("60.00", "0.00", "60.00"),
    ]
    for shown_last in events[-1]["data"]["balances"]:
        assert shown_last == writer.get(f"/api/v1/balances/{shown_last['id']}").body
