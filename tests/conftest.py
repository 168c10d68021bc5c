"""Test fixtures and hooks: a real server on a real port, on the backend the
environment names (the helpers tests share are in `tests.support`).

Without DATABASE_URL the suite runs embedded (SQLite, SQLite queue, consumer
inside the server). With DATABASE_URL and REDIS_URL it runs on PostgreSQL and
Redis with two separate worker processes, and fails, never skips, if either
is unreachable.

Every test that uses the `gateway` fixture, directly or through another
fixture, is marked `server` (and every test using `browser`, `browser`);
`make test-fast` leaves those out, and then no server starts. The ledger is
audited once at the end of any run that used the database.
"""

from __future__ import annotations

import os

import pytest

from config import Config
from deploy.processes import answers_ready, free_port, spawn
from tests.support.client import Api, issue_token
from tests.support.environment import CONFIG
from tests.support.faults import Stack, throwaway_services
from tests.support.ledger import assert_audit_ok
from tests.support.server import RunningServer, prepare_database, start_workers
from tests.support.waiting import wait_until


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`server` on every test that uses the session's server (directly or
    through another fixture), `browser` on every test that drives Chromium;
    `bulky` tests moved after all the others."""
    items.sort(key=lambda item: item.get_closest_marker("bulky") is not None)
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "gateway" in fixtures:
            item.add_marker(pytest.mark.server)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def database() -> None:
    """This process connected to the suite's database, migrated (emptied
    first with services): for tests that use the models without a server."""
    prepare_database(CONFIG)


@pytest.fixture(scope="session")
def gateway(database):
    """The running service: one web server (+ two workers with services)."""
    workers = start_workers(2) if CONFIG.database_url else []
    running = RunningServer(Config.from_env(port=free_port()))
    running.workers = workers
    yield running
    running.stop()
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)


@pytest.fixture
def second_web(gateway):
    """Another web process on its own port (services mode), or the same
    server again when embedded: there is only one process then."""
    if not CONFIG.database_url:
        yield gateway.url
        return
    port = free_port()
    env = dict(os.environ, PORT=str(port))
    process = spawn(["serve"], env)
    url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: answers_ready(url), timeout=30)
    yield url
    process.terminate()
    process.wait(30)


@pytest.fixture(scope="module")
def services():
    """A PostgreSQL and a Redis of the module's own, for the fault tests
    that stop, kill and restart them (services mode only)."""
    if not CONFIG.database_url:
        pytest.skip("embedded run")
    with throwaway_services() as pair:
        yield Stack(*pair)


@pytest.fixture
def stack(services):
    """The fault tests' processes on those services, all stopped after each test."""
    yield services
    services.stop_all()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for the dashboard tests of one module."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


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
def ledger_stays_balanced(request: pytest.FixtureRequest):
    """After the whole suite, every invariant must still hold. The server
    starts first, before any test, when any test of the run needs it; a run
    whose tests touch no database (`make test-fast` mostly) starts nothing
    and audits nothing."""
    needed = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    if "gateway" in needed:
        request.getfixturevalue("gateway")
    elif "database" in needed:
        request.getfixturevalue("database")
    else:
        yield
        return
    yield
    assert_audit_ok()
