"""Active state (SPEC sections 2 and 4): a deactivated account or balance can
neither send nor receive, refused at intake and failed at settlement when it
changed in between; it stays listed with `active: false`, is hidden by
`?active=true`, and can be reactivated."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.currencies import new_currency, put_rate
from tests.support.events import events_after, head_seq
from tests.support.ledger import assert_audit_ok, balance_id, balances, open_account, pay, pending, unique
from tests.support.waiting import wait_until

FINAL = ("payment.completed", "payment.failed")


def transfer(sender: str, receiver: str, amount: str = "1.00", **more) -> dict:
    return {"from_account": sender, "to_account": receiver, "amount": amount, "currency": "PHP", **more}


def refused_with(response, code: str) -> bool:
    return response.status == 422 and response.body["error"]["code"] == code


def test_deactivated_account_can_neither_send_nor_receive_until_reactivated(writer, admin, reader):
    account = open_account(writer, admin, {"PHP": "10.00"})
    other = open_account(writer, admin, {"PHP": "10.00"})
    assert admin.patch(f"/api/v1/accounts/{account}", {"active": False}).body["active"] is False
    assert refused_with(writer.post("/api/v1/payments", transfer(account, other)), "account_inactive")
    assert refused_with(writer.post("/api/v1/payments", transfer(other, account)), "account_inactive")
    cash = {"account": account, "currency": "PHP", "amount": "1.00"}
    assert refused_with(admin.post("/api/v1/deposits", cash), "account_inactive")
    assert refused_with(admin.post("/api/v1/withdrawals", cash), "account_inactive")
    assert admin.patch(f"/api/v1/accounts/{account}", {"active": True}).body["active"] is True
    assert pay(writer, transfer(account, other)).body["status"] == "completed"
    assert pay(writer, transfer(other, account, "2.00")).body["status"] == "completed"
    assert balances(reader, account) == {"PHP": "11.00"}


def test_deactivated_balance_can_neither_send_nor_receive_until_reactivated(writer, admin, reader):
    yen = new_currency(admin, 0)
    put_rate(admin, "PHP", yen, "2.5")
    account = open_account(writer, admin, {"PHP": "10.00"}, currencies=[yen])
    other = open_account(writer, admin, {"PHP": "10.00"})
    php = balance_id(reader, account, "PHP")
    assert admin.patch(f"/api/v1/balances/{php}", {"active": False}).body["active"] is False
    assert refused_with(writer.post("/api/v1/payments", transfer(account, other)), "balance_inactive")
    assert refused_with(writer.post("/api/v1/payments", transfer(other, account)), "balance_inactive")
    own_exchange = transfer(account, account, to_currency=yen)
    assert refused_with(writer.post("/api/v1/payments", own_exchange), "balance_inactive")
    assert admin.patch(f"/api/v1/balances/{php}", {"active": True}).body["active"] is True
    completed = pay(writer, own_exchange).body
    assert (completed["status"], completed["target_amount"]) == ("completed", "2")
    assert balances(reader, account) == {"PHP": "9.00", yen: "2"}


def test_inactive_ones_stay_listed_with_active_false_and_are_hidden_by_active_true(writer, admin, reader):
    owner = unique("owner")
    kept = writer.post("/api/v1/accounts", {"owner": owner, "currencies": ["PHP", "USD"]}).body
    closed = writer.post("/api/v1/accounts", {"owner": owner, "currencies": ["PHP"]}).body
    usd = next(b["id"] for b in kept["balances"] if b["currency"] == "USD")
    admin.patch(f"/api/v1/balances/{usd}", {"active": False})
    admin.patch(f"/api/v1/accounts/{closed['id']}", {"active": False})

    def listed(**params):
        rows = reader.get("/api/v1/accounts", params={"owner": owner, **params}).body["data"]
        return [(a["id"], a["active"], [(b["currency"], b["active"]) for b in a["balances"]]) for a in rows]

    assert listed() == [
        (kept["id"], True, [("PHP", True), ("USD", False)]),
        (closed["id"], False, [("PHP", True)]),
    ]
    assert listed(active="true") == [(kept["id"], True, [("PHP", True)])]
    assert listed(active="false") == [(closed["id"], False, [("PHP", True)])]
    assert listed(active="true", currency="USD") == []
    assert listed(currency="USD") == [(kept["id"], True, [("PHP", True), ("USD", False)])]
    assert reader.get(f"/api/v1/accounts/{closed['id']}").body["active"] is False
    assert reader.get(f"/api/v1/balances/{usd}").body["active"] is False
    admin.patch(f"/api/v1/balances/{usd}", {"active": True})
    admin.patch(f"/api/v1/accounts/{closed['id']}", {"active": True})
    assert [row[0] for row in listed(active="true")] == [kept["id"], closed["id"]]


@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_account_deactivated_while_its_payment_is_pending_fails_it_account_inactive(writer, admin, reader, side):
    from models.intake import submit_transfer
    from models.settlement import settle_payment

    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    payment = pending(submit_transfer, transfer(sender, receiver))
    admin.patch(f"/api/v1/accounts/{sender if side == 'sender' else receiver}", {"active": False})
    assert settle_payment(payment.id) == "failed"
    failed = reader.get(f"/api/v1/payments/{payment.id}").body
    assert (failed["failure_code"], failed["entries"]) == ("account_inactive", [])
    assert balances(reader, sender) == {"PHP": "10.00"} and balances(reader, receiver) == {"PHP": "0.00"}


@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_balance_deactivated_while_an_exchange_is_pending_fails_it_balance_inactive(writer, admin, reader, side):
    from models.intake import submit_transfer
    from models.settlement import settle_payment

    yen = new_currency(admin, 0)
    put_rate(admin, "PHP", yen, "2.5")
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=[yen])
    payment = pending(submit_transfer, transfer(sender, receiver, to_currency=yen))
    balance = balance_id(reader, sender, "PHP") if side == "sender" else balance_id(reader, receiver, yen)
    admin.patch(f"/api/v1/balances/{balance}", {"active": False})
    assert settle_payment(payment.id) == "failed"
    assert reader.get(f"/api/v1/payments/{payment.id}").body["failure_code"] == "balance_inactive"
    assert balances(reader, sender) == {"PHP": "10.00"} and balances(reader, receiver) == {yen: "0"}


@pytest.mark.parametrize("what", ["account", "balance"])
def test_no_payment_completes_after_a_deactivation_racing_it_commits(writer, admin, reader, what):
    """Settlements on four threads race a deactivation: in the event log every
    payment completes before the deactivation or fails after it."""
    from models.intake import submit_transfer
    from models.settlement import settle_payment

    sender = open_account(writer, admin, {"PHP": "100.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    waiting = [pending(submit_transfer, transfer(sender, receiver)) for _ in range(60)]
    target = sender if what == "account" else balance_id(reader, sender, "PHP")
    start = head_seq(reader)
    some_settled = threading.Event()
    done = Counter(dict.fromkeys(range(4), 0))  # keys fixed up front: threads only bump values

    def settle_share(n: int) -> list[str | None]:
        outcomes = []
        for payment in waiting[n::4]:
            outcomes.append(settle_payment(payment.id))
            done[n] += 1
            if sum(done.values()) >= 6:
                some_settled.set()
            # Leave the deactivation room to land mid-way (on SQLite a writer
            # that finds the lock taken backs off, and short gaps starve it).
            time.sleep(0.02)
        return outcomes

    def deactivate() -> None:
        some_settled.wait(30)
        response = admin.patch(f"/api/v1/{what}s/{target}", {"active": False})
        assert response.status == 200, response.body

    with ThreadPoolExecutor(5) as pool:
        deactivation = pool.submit(deactivate)
        outcomes = Counter(o for share in pool.map(settle_share, range(4)) for o in share)
        deactivation.result()
    assert outcomes["completed"] >= 6 and outcomes["failed"] >= 1, outcomes

    ids = {p.id for p in waiting}

    def logged():
        events = events_after(reader, start)
        finals = [e for e in events if e["type"] in FINAL and e["data"]["id"] in ids]
        return events if len(finals) == len(ids) else None

    events = wait_until(logged)
    assert events, "the payments' final events never reached the log"
    switch = next(e["seq"] for e in events if e["type"] == f"{what}.updated" and e["data"]["id"] == target)
    for event in events:
        if event["type"] in FINAL and event["data"]["id"] in ids:
            if event["seq"] < switch:
                assert event["type"] == "payment.completed", event
            else:
                assert (event["type"], event["data"]["failure_code"]) == ("payment.failed", f"{what}_inactive"), event
    assert_audit_ok()
