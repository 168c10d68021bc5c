"""Test fixtures: a real server on a real port, on the backend the
environment names.

Without DATABASE_URL the suite runs embedded (SQLite, SQLite queue, consumer
inside the server). With DATABASE_URL and REDIS_URL it runs on PostgreSQL and
Redis with two separate worker processes, and fails, never skips, if either
is unreachable.
"""

from __future__ import annotations

import os
import tempfile

if not os.environ.get("DATABASE_URL"):
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="gateway-test-")
os.environ.setdefault("LOG_LEVEL", "warning")
os.environ.setdefault("FEED_SEND_TIMEOUT", "2")

import asyncio  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from bench.services import spawn  # noqa: E402
from config import Config  # noqa: E402
from tests.client import Api  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Config.from_env()
SERVICES = not CONFIG.embedded or bool(CONFIG.database_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reset_services() -> None:
    """Empty the PostgreSQL schema and the Redis queue left by an earlier run."""
    import psycopg2
    import redis

    if not CONFIG.redis_url:
        raise RuntimeError("DATABASE_URL is set but REDIS_URL is not: services mode needs both")
    with psycopg2.connect(CONFIG.database_url) as conn, conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()
    client = redis.Redis.from_url(CONFIG.redis_url)
    for key in client.scan_iter("huey.*payment-gateway*"):
        client.delete(key)


def start_workers(count: int) -> list[subprocess.Popen]:
    return [spawn(["worker", "--workers", "4"], dict(os.environ)) for _ in range(count)]


class RunningServer:
    def __init__(self, config: Config) -> None:
        from web.process import serve

        self.config = config
        self.started = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.stop_event = asyncio.Event()
            await serve(config, on_ready=self.started.set, stop=self.stop_event)

        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self.thread.start()
        if not self.started.wait(30):
            raise RuntimeError("server did not start")
        self.url = f"http://127.0.0.1:{config.port}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


@pytest.fixture(scope="session")
def gateway():
    """The running service: one web server (+ two workers with services)."""
    from models.connection import connect as connect_database
    from models.schema import migrate

    workers = []
    if CONFIG.database_url:
        reset_services()
    connect_database(CONFIG.database_url, CONFIG.sqlite_path)
    migrate()
    if CONFIG.database_url:
        workers = start_workers(2)
    running = RunningServer(Config.from_env(port=free_port()))
    yield running
    running.stop()
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the dashboard tests of one module."""
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def issue_token(scope: str) -> str:
    from models.auth import ApiToken
    from models.retry import retried_transaction

    return retried_transaction(lambda: ApiToken.issue(f"test {scope}", scope))[1]


@pytest.fixture(scope="session")
def admin(gateway) -> Api:
    return Api(gateway.url, issue_token("admin"))


@pytest.fixture(scope="session")
def writer(gateway) -> Api:
    return Api(gateway.url, issue_token("write"))


@pytest.fixture(scope="session")
def reader(gateway) -> Api:
    return Api(gateway.url, issue_token("read"))


@pytest.fixture(scope="session")
def anonymous(gateway) -> Api:
    return Api(gateway.url, None)


@pytest.fixture(scope="session", autouse=True)
def ledger_stays_balanced(gateway):
    """After the whole suite, every invariant must still hold."""
    yield
    assert_audit_ok()


def assert_audit_ok() -> dict:
    from models.audit import run_audit
    from models.retry import read_only

    report = read_only(run_audit)
    assert report["ok"], report["problems"][:10]
    return report


def unique(prefix: str = "acct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def open_account(api: Api, admin_api: Api, funds: dict[str, str] | None = None, currencies=None) -> str:
    """A new account holding `funds` ({"PHP": "100.00"}), deposited and settled."""
    account_id = unique()
    codes = sorted(set(currencies or []) | set(funds or {}))
    response = api.post("/api/v1/accounts", {"id": account_id, "owner": "Test Owner", "currencies": codes})
    assert response.status == 201, response.body
    for currency, amount in (funds or {}).items():
        deposit = admin_api.post(
            "/api/v1/deposits", {"account": account_id, "currency": currency, "amount": amount}, wait=20
        )
        assert deposit.status == 201 and deposit.body["status"] == "completed", deposit.body
    return account_id


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
