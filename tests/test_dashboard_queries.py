"""Every dashboard page reads the database a small, fixed number of times,
however many rows it shows (no N+1), and renders on an empty database.

Queries are counted by wrapping the database's `execute_sql` while the test
server (which runs in this process) answers: those run on its database
threads ("db_*"). The event hub's own reads of the log, which run there too
every few seconds, are left out. Speed itself is measured by
`bench/pages.py`, not here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest

from deploy.processes import free_port
from tests.support.environment import CONFIG, ROOT
from tests.support.ledger import open_account
from tests.support.pages import PASSWORD, logged_in
from tests.support.waiting import wait_until
from tools.dashboard import Session

# The most a page reads, whatever its rows: the account page, which also
# lists its customer tokens, reads seven.
MOST_QUERIES_PER_PAGE = 7


def reads_the_event_log(sql: str) -> bool:
    """The hub's reads of the log: through Peewee ("event") or its raw
    statement for frames (FROM event)."""
    return '"event"' in sql or "FROM event " in sql


def watches_access(sql: str) -> bool:
    """The access watch's looks (`web.access_watch`), twice a second while
    any feed is open in the process, a dashboard's left by an earlier test
    included: revoked tokens, disabled operators."""
    return sql.startswith(('SELECT "t1"."id" FROM "api_token"', 'SELECT "t1"."id" FROM "operator"'))


@contextmanager
def counted_queries():
    """The SQL the server's request threads run inside the block."""
    from models.connection import database

    db = database.obj
    run = db.execute_sql
    seen: list[str] = []

    def counting(sql, params=None):
        if threading.current_thread().name.startswith("db_") and not (reads_the_event_log(sql) or watches_access(sql)):
            seen.append(sql)
        return run(sql, params)

    db.execute_sql = counting
    try:
        yield seen
    finally:
        del db.execute_sql


def queries_for(session: Session, path: str) -> list[str]:
    session.get(path)  # warm the per-process caches (currency exponents)
    with counted_queries() as seen:
        page = session.get(path)
    assert page.status == 200, (path, page.status, page.text[:300])
    return list(seen)


@pytest.fixture(scope="module")
def few_and_many(writer, admin):
    """Two of everything a page lists: one with a single row, one with more
    rows than a page holds."""
    tag = uuid.uuid4().hex[:8]
    lonely = writer.post("/api/v1/accounts", {"owner": f"Lonely {tag}", "currencies": ["PHP"]}).body["id"]
    for n in range(55):
        assert writer.post("/api/v1/accounts", {"owner": f"Crowd {tag} {n}", "currencies": ["PHP"]}).status == 201
    few = open_account(writer, admin, {"PHP": "1.00"})
    many = open_account(writer, admin, {"PHP": "1000.00"})
    for _ in range(59):
        response = writer.post("/api/v1/payments", {"from_account": many, "to_account": lonely, "amount": "1.00"})
        assert response.status == 202, response.body
    payment = admin.get(f"/api/v1/accounts/{few}/payments").body["data"][0]["payment_id"]
    balances = {
        name: admin.get(f"/api/v1/accounts/{account}").body["balances"][0]["id"]
        for name, account in (("few", few), ("many", many))
    }
    return {
        "tag": tag,
        "few": few,
        "many": many,
        "payment": payment,
        "few_balance": balances["few"],
        "many_balance": balances["many"],
    }


def test_list_pages_read_the_same_few_times_for_one_row_as_for_a_full_page(gateway, few_and_many):
    session = logged_in(gateway.url)
    data = few_and_many
    pairs = {
        "accounts": (f"/accounts?q=Lonely+{data['tag']}", f"/accounts?q=Crowd+{data['tag']}"),
        "account": (f"/accounts/{data['few']}", f"/accounts/{data['many']}"),
        "payments": (f"/payments?account={data['few']}", f"/payments?account={data['many']}"),
        "statement": (f"/balances/{data['few_balance']}/statement", f"/balances/{data['many_balance']}/statement"),
    }
    for name, (one_row, full_page) in pairs.items():
        few, many = queries_for(session, one_row), queries_for(session, full_page)
        assert len(few) == len(many), (name, few, many)
        assert len(many) <= MOST_QUERIES_PER_PAGE, (name, many)
    assert session.get(pairs["payments"][1]).html.count("data-payment-id=") == 50


def test_the_search_page_reads_once_per_way_it_looks_whatever_it_finds(gateway, few_and_many):
    session = logged_in(gateway.url)
    tag = few_and_many["tag"]
    few, many = queries_for(session, f"/search?q=Lonely+{tag}"), queries_for(session, f"/search?q=Crowd+{tag}")
    assert len(few) == len(many), (few, many)
    # The operator, four ways to find payments, four to find accounts, their balances.
    assert len(many) <= 10, many


@pytest.mark.parametrize(
    "path", ["/", "/payments", "/payments/new", "/currencies", "/rates", "/tokens", "/audit", "/payments/{payment}"]
)
def test_every_other_page_reads_a_small_fixed_number_of_times(gateway, few_and_many, path):
    session = logged_in(gateway.url)
    seen = queries_for(session, path.format(**few_and_many))
    assert len(seen) <= MOST_QUERIES_PER_PAGE, seen


@contextmanager
def empty_database():
    """The environment of a server on a database of its own, just created
    (a new PostgreSQL database when the suite runs on services; dropped
    after)."""
    env = dict(os.environ, DATA_DIR=tempfile.mkdtemp(prefix="gateway-empty-"), PORT=str(free_port()))
    if not CONFIG.database_url:
        yield env
        return
    import psycopg2

    name = "gateway_empty_" + uuid.uuid4().hex[:10]
    admin_url = CONFIG.database_url
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        env["DATABASE_URL"] = urlparse(admin_url)._replace(path="/" + name).geturl()
        yield env
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.close()


def test_every_page_renders_on_an_empty_database(gateway):
    with empty_database() as env:
        run = [sys.executable, "server.py"]
        subprocess.run([*run, "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
        made = subprocess.run(
            [*run, "create-admin", "--email", "first@example.com", "--password", PASSWORD],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        assert "created admin first@example.com" in made.stdout
        server = subprocess.Popen([*run, "serve"], cwd=ROOT, env=env)
        try:
            session = Session(f"http://127.0.0.1:{env['PORT']}")

            def up() -> bool:
                try:
                    return session.get("/login").status == 200
                except OSError:
                    return False

            assert wait_until(up, timeout=30)
            assert session.login("first@example.com", PASSWORD).status == 303
            expected = {
                "/": "No payments yet.",
                "/accounts": "No accounts yet.",
                "/payments": "No payments yet.",
                "/payments/new": "Send payment",
                "/currencies": "PHP",
                "/rates": "No rates set",
                "/tokens": "No tokens yet.",
                "/audit": "The ledger balances",
            }
            for path, text in expected.items():
                page = session.get(path)
                assert page.status == 200, (path, page.text[:300])
                assert text in page.text, path
        finally:
            server.terminate()
            server.wait(30)
