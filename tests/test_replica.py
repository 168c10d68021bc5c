"""Reads from a PostgreSQL streaming replica (SPEC section 9, rules in
`models.replica`): a caller's reads go to a fresh replica, its own writes are
seen at once, and a replica that lags or is down is not read from: never an
answer that is wrong without saying so.

The replica is real: a base backup of this machine's PostgreSQL, streaming
from it, on a second port (`deploy.replica`)."""

from __future__ import annotations

import os
import time
from urllib.parse import urlparse

import pytest

from deploy.processes import answers_ready, free_port, spawn
from deploy.replica import StreamingReplica
from tests.support.client import Api
from tests.support.environment import CONFIG, required_database_url
from tests.support.ledger import open_account
from tests.support.metrics import scrape
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.skipif(
        not CONFIG.database_url, reason="a streaming replica is of PostgreSQL: needs DATABASE_URL and REDIS_URL"
    ),
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.server,
]

MAX_LAG = 1.0


@pytest.fixture(scope="module")
def replica(gateway):
    standby = StreamingReplica(free_port()).start()
    yield standby
    standby.stop()


@pytest.fixture(scope="module")
def replica_web(replica):
    """A web process reading from the replica."""
    port = free_port()
    database = urlparse(required_database_url()).path.lstrip("/")
    env = dict(os.environ, PORT=str(port), READ_REPLICA_URL=replica.url(database), REPLICA_MAX_LAG=str(MAX_LAG))
    process = spawn(["serve"], env)
    url = f"http://127.0.0.1:{port}"
    assert wait_until(lambda: answers_ready(url), timeout=30)
    yield url
    process.terminate()
    process.wait(30)


def reads_on(url: str, where: str) -> float:
    return scrape(url + "/metrics").get(("gateway_routed_reads_total", (("database", where),)), 0.0)


def read_from_replica(api: Api, path: str, replica_web: str) -> bool:
    before = reads_on(replica_web, "replica")
    assert api.get(path).status == 200
    return reads_on(replica_web, "replica") > before


def test_reads_of_a_caller_without_recent_writes_are_served_by_the_fresh_replica(replica_web, reader):
    via_replica = reader.at(replica_web)
    assert wait_until(lambda: read_from_replica(via_replica, "/api/v1/currencies", replica_web), timeout=30)
    before = reads_on(replica_web, "replica")
    for _ in range(5):
        assert via_replica.get("/api/v1/currencies").body == reader.get("/api/v1/currencies").body
    assert reads_on(replica_web, "replica") - before >= 5


def test_a_caller_sees_its_own_write_at_once_even_while_the_replica_lags(replica, replica_web, admin, writer, reader):
    writer_there, reader_there = writer.at(replica_web), reader.at(replica_web)
    replica.pause_replay()
    try:
        account = open_account(writer_there, admin.at(replica_web), {"PHP": "10.00"})
        # At once, from the primary: the replica has not even replayed it.
        mine = writer_there.get(f"/api/v1/accounts/{account}")
        assert mine.status == 200 and mine.body["balances"][0]["amount"] == "10.00"
        time.sleep(MAX_LAG + 0.5)
        # The replica is now provably too far behind: everybody reads the primary.
        before = reads_on(replica_web, "replica")
        for api in (writer_there, reader_there):
            seen = api.get(f"/api/v1/accounts/{account}")
            assert seen.status == 200 and seen.body["balances"][0]["amount"] == "10.00"
        assert reads_on(replica_web, "replica") == before
    finally:
        replica.resume_replay()
    assert wait_until(lambda: read_from_replica(reader_there, f"/api/v1/accounts/{account}", replica_web), timeout=30)


def test_an_operator_sees_their_own_change_on_the_next_page_while_the_replica_lags(replica, replica_web, admin):
    from tests.support.pages import logged_in

    account = open_account(admin, admin, {"PHP": "1.00"})
    session = logged_in(replica_web)
    assert 'name="active" value="false"' in session.get(f"/accounts/{account}").html
    replica.pause_replay()
    try:
        done = session.post(f"/accounts/{account}/state", {"active": "false"})
        assert done.status == 303 and done.location == f"/accounts/{account}"
        assert 'name="active" value="true"' in session.get(f"/accounts/{account}").html
        time.sleep(MAX_LAG + 0.5)
        assert 'name="active" value="true"' in session.get(f"/accounts/{account}").html
    finally:
        replica.resume_replay()


def test_reads_go_to_the_primary_while_the_replica_is_down(replica, replica_web, admin, writer, reader):
    reader_there = reader.at(replica_web)
    account = open_account(writer, admin, {"PHP": "2.00"})
    assert wait_until(lambda: read_from_replica(reader_there, f"/api/v1/accounts/{account}", replica_web), timeout=30)
    replica.halt()
    try:
        other = open_account(writer, admin, {"PHP": "3.00"})
        before = reads_on(replica_web, "replica")
        for _ in range(5):
            seen = reader_there.get(f"/api/v1/accounts/{other}")
            assert seen.status == 200 and seen.body["balances"][0]["amount"] == "3.00"
        assert reads_on(replica_web, "replica") == before
    finally:
        replica.resume()
    assert wait_until(lambda: read_from_replica(reader_there, f"/api/v1/accounts/{other}", replica_web), timeout=30)


def test_the_whole_ledger_audit_with_a_replica_answers_and_sets_the_checkpoint_on_the_primary(replica, admin, writer):
    import json
    import subprocess
    import sys

    from tests.support.environment import ROOT

    open_account(writer, admin, {"PHP": "3.00"})
    database = urlparse(required_database_url()).path.lstrip("/")
    env = dict(os.environ, READ_REPLICA_URL=replica.url(database), REPLICA_MAX_LAG="30", LOG_LEVEL="warning")
    done = subprocess.run(
        [sys.executable, "server.py", "audit", "--full", "--replica"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["ok"] and report["to_seq"] > 0, done.stderr
    assert admin.get("/api/v1/audit").body["from_seq"] >= report["to_seq"]
