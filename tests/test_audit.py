"""The audit (SPEC section 15): `GET /api/v1/audit` checks what changed
since the last checkpoint and says what it covered; a problem among those
changes is found and keeps being reported; `server.py audit --full` checks
the whole ledger, reading it a batch of rows at a time, and finds what no
event announced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from tests.support.environment import CONFIG, ROOT
from tests.support.ledger import completed_transfer, open_account, pay, unique


def audit(admin) -> dict:
    response = admin.get("/api/v1/audit")
    assert response.status == 200, response.body
    return response.body


@contextmanager
def tampered(sql: str, undo: str, *params, values: tuple = ()):
    """A change made behind the gateway's back (no event), undone after;
    `values`: the change's first parameter, then the undoing's."""
    from models.connection import database
    from models.retry import retried_transaction

    def run(statement: str, first: tuple) -> None:
        retried_transaction(lambda: database.execute_sql(statement.replace("?", database.param), first + params))

    run(sql, values[:1])
    try:
        yield
    finally:
        run(undo, values[1:])


def test_each_audit_starts_where_the_last_sound_one_ended_and_says_so(writer, admin):
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    first = audit(admin)
    assert first["ok"], first["problems"]
    assert pay(writer, {"from_account": sender, "to_account": receiver, "amount": "4.00"}).body["status"] == "completed"
    second = audit(admin)
    assert second["ok"], second["problems"]
    assert second["from_seq"] == first["to_seq"] and second["checkpoint_at"] is not None
    assert second["to_seq"] > second["from_seq"]
    assert [(row["currency"], row["total"], row["ok"]) for row in second["currencies"]] == [("PHP", "0.00", True)]
    third = audit(admin)
    assert (third["from_seq"], third["to_seq"], third["currencies"]) == (second["to_seq"], second["to_seq"], [])


def problems_on_metrics(gateway) -> float:
    from tests.support.metrics import scrape

    return scrape(gateway.url + "/metrics")[("gateway_audit_problems", ())]


def test_a_balance_changed_apart_from_its_entries_since_the_checkpoint_is_found_until_it_is_put_right(
    gateway, writer, admin
):
    assert audit(admin)["ok"]
    _, receiver, payment = completed_transfer(writer, admin)
    balance = payment["to_balance"]
    with tampered(
        "UPDATE balance SET amount = amount + 1 WHERE id = ?",
        "UPDATE balance SET amount = amount - 1 WHERE id = ?",
        balance,
    ):
        found = audit(admin)
        assert not found["ok"]
        assert {(p["code"], p.get("balance")) for p in found["problems"]} == {("balance_mismatch", balance)}
        again = audit(admin)
        assert not again["ok"] and again["from_seq"] == found["from_seq"], "no checkpoint past a problem"
        assert problems_on_metrics(gateway) == 1
    assert audit(admin)["ok"]
    assert problems_on_metrics(gateway) == 0


def test_an_entry_changed_since_the_checkpoint_breaks_its_balance_and_its_currency(writer, admin):
    assert audit(admin)["ok"]
    _, _, payment = completed_transfer(writer, admin)
    with tampered(
        "UPDATE entry SET amount = amount + 1 WHERE payment_id = ? AND direction = 'incoming'",
        "UPDATE entry SET amount = amount - 1 WHERE payment_id = ? AND direction = 'incoming'",
        payment["id"],
    ):
        found = audit(admin)
        codes = {p["code"] for p in found["problems"]}
        assert not found["ok"] and codes == {"balance_mismatch", "currency_not_zero"}, found["problems"]
    assert audit(admin)["ok"]


def test_a_payment_whose_entries_do_not_match_its_status_is_found(writer, admin):
    assert audit(admin)["ok"]
    _, _, payment = completed_transfer(writer, admin)
    with tampered(
        "UPDATE payment SET status = 'failed' WHERE id = ?",
        "UPDATE payment SET status = 'completed' WHERE id = ?",
        payment["id"],
    ):
        found = audit(admin)
    assert not found["ok"]
    assert [(p["code"], p.get("payment")) for p in found["problems"]] == [("entry_count", payment["id"])]
    assert audit(admin)["ok"]


def test_an_entry_that_does_not_follow_the_one_before_it_is_named_with_what_they_make(writer, admin):
    """The break is in the middle of a balance's entries since the
    checkpoint: its balance still equals its newest entry."""
    sender = open_account(writer, admin, {"PHP": "10.00"})
    receiver = open_account(writer, admin, currencies=["PHP"])
    assert audit(admin)["ok"]
    first = pay(writer, {"from_account": sender, "to_account": receiver, "amount": "1.00"}).body
    pay(writer, {"from_account": sender, "to_account": receiver, "amount": "2.00"})
    entry = entry_of(first["id"], "incoming")
    with tampered(
        "UPDATE entry SET balance_after = balance_after + 5 WHERE id = ?",
        "UPDATE entry SET balance_after = balance_after - 5 WHERE id = ?",
        entry,
    ):
        found = audit(admin)
    assert not found["ok"]
    messages = {p["message"] for p in found["problems"] if p["code"] == "balance_mismatch"}
    assert (
        f"entry {entry} of balance {first['to_balance']} leaves 105 minor units but the entries before it and its own make 100"
        in messages
    )
    assert {p["code"] for p in found["problems"]} == {"balance_mismatch"} and found["problems_found"] == 2, found
    assert audit(admin)["ok"]


def entry_of(payment_id: str, direction: str) -> int:
    from models.ledger import Entry
    from models.retry import read_only

    return read_only(lambda: Entry.get((Entry.payment == payment_id) & (Entry.direction == direction)).id)


def test_amounts_beyond_64_bits_are_checked_to_the_last_minor_unit(writer, admin):
    """10^15 units of a currency with 18 decimals, twice: more minor units
    than 64 bits hold, which SQLite's arithmetic would round."""
    code = "W" + unique("")[-5:].upper()
    assert admin.post("/api/v1/currencies", {"code": code, "name": "Wide coin", "exponent": 18}).status == 201
    most = "1000000000000000"
    sender = open_account(writer, admin, {code: most})
    second = admin.post("/api/v1/deposits", {"account": sender, "currency": code, "amount": most}, wait=20)
    assert second.body["status"] == "completed", second.body
    receiver = open_account(writer, admin, currencies=[code])
    assert audit(admin)["ok"]
    paid = pay(
        writer, {"from_account": sender, "to_account": receiver, "amount": "999999999999999.999999999999999999"}
    ).body
    assert paid["status"] == "completed", paid
    assert audit(admin)["ok"]
    again = pay(writer, {"from_account": sender, "to_account": receiver, "amount": most}).body
    entry = entry_of(again["id"], "incoming")
    # Written as text (SQLite's arithmetic would round it): exact on both databases.
    one_more, exact = str(10**33 + 1), str(10**33)
    with tampered(
        "UPDATE entry SET amount = ? WHERE id = ?",
        "UPDATE entry SET amount = ? WHERE id = ?",
        entry,
        values=(one_more, exact),
    ):
        found = audit(admin)
        assert not found["ok"]
        assert {p["code"] for p in found["problems"]} == {"balance_mismatch", "currency_not_zero"}, found["problems"]
        (row,) = [row for row in found["currencies"] if row["currency"] == code]
        assert row["total"] == "0.000000000000000001" and not row["ok"]
    assert audit(admin)["ok"]


def run_full_audit() -> tuple[int, dict]:
    env = {**os.environ, "LOG_LEVEL": "warning"}
    done = subprocess.run(
        [sys.executable, "server.py", "audit", "--full"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, json.loads(done.stdout)


def test_the_whole_ledger_audit_finds_what_no_event_announced_and_becomes_the_checkpoint(writer, admin):
    account = open_account(writer, admin, {"PHP": "5.00"})
    balance = admin.get(f"/api/v1/accounts/{account}").body["balances"][0]["id"]
    assert audit(admin)["ok"]
    with tampered(
        "UPDATE balance SET amount = amount + 7 WHERE id = ?",
        "UPDATE balance SET amount = amount - 7 WHERE id = ?",
        balance,
    ):
        assert audit(admin)["ok"], "nothing announced the change"
        code, report = run_full_audit()
        assert code == 1 and not report["ok"]
        assert ("balance_mismatch", balance) in {(p["code"], p.get("balance")) for p in report["problems"]}
    code, report = run_full_audit()
    assert code == 0 and report["ok"] and report["from_seq"] == 0
    assert audit(admin)["from_seq"] >= report["to_seq"]


@pytest.mark.skipif(not CONFIG.database_url, reason="SQLite's cursor steps through its result by itself")
def test_the_whole_ledger_audit_reads_its_rows_a_batch_at_a_time(database):
    from models.connection import database as db
    from models.dialect import STREAMED_ROWS, snapshot, stream_rows
    from models.retry import read_only

    def reading() -> list[tuple]:
        with snapshot():
            rows = stream_rows("SELECT n FROM generate_series(1, %s) AS n", (STREAMED_ROWS * 40,))
            next(rows)
            cursors = db.execute_sql("SELECT statement FROM pg_cursors").fetchall()
            rows.close()
            return cursors

    cursors = read_only(reading)
    assert len(cursors) == 1 and "generate_series" in cursors[0][0], "the rest of the result waits in the database"


def test_a_list_of_keys_joined_in_sql_keeps_every_character_and_exact_sums_any_size(database):
    """`listed` (the table of keys the audit joins with) and the exact
    arithmetic the audit follows entries with, on both databases."""
    from models.connection import database as db
    from models.connection import is_sqlite
    from models.dialect import exact_arithmetic_sql, listed
    from models.retry import read_only

    keys = ["plain", 'with "quotes"', "back\\slash", "comma,brace{}", "ünïcode", "NULL", ""]
    sql, params = listed(keys)
    found = read_only(lambda: db.execute_sql(f"SELECT id FROM ({sql}) w", params).fetchall())
    assert sorted(key for (key,) in found) == sorted(keys)
    huge = str(10**33)
    # Minor units as the money columns hold them: NUMERIC(40,0) on PostgreSQL, text on SQLite.
    unit = f"CAST({db.param} AS {'TEXT' if is_sqlite() else 'NUMERIC(40, 0)'})"
    plus, minus = exact_arithmetic_sql(unit, "+", unit), exact_arithmetic_sql(unit, "-", unit)
    row = read_only(
        lambda: db.execute_sql(
            f"SELECT CAST({plus} AS TEXT), CAST({minus} AS TEXT), {minus} <> 0, {minus} <> 0",
            (huge, "1", huge, "1", huge, huge, huge, str(10**33 + 1)),
        ).fetchone()
    )
    assert (row[0], row[1]) == (str(10**33 + 1), str(10**33 - 1))
    assert (bool(row[2]), bool(row[3])) == (False, True)
