"""High availability (SPEC section 16): the service on PostgreSQL under
Patroni (three nodes, synchronous replication) and Redis under Sentinel,
behind nginx with two web processes and two workers, rides through losing
the PostgreSQL leader, losing the Redis master and a switchover, with
clients sending payments all along: every payment answered 2xx settles
exactly once, no Idempotency-Key makes two payments, the feed has no gap and
the audit holds. How long intake, settlement and the feed stopped is
measured and printed. And each log line of a payment's life, in every
process, carries its request id and its id."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import pytest

from deploy.ha import HaServices
from deploy.local import LocalTopology
from deploy.processes import server_command
from tests.support.client import Api
from tests.support.environment import HA_MARKS, RECEIVER_CERTIFICATE
from tests.support.events import events_after, head_seq
from tests.support.faults import rows_of
from tests.support.ledger import open_account
from tests.support.metrics import scrape
from tests.support.receiver import Receiver
from tests.support.traffic import Traffic, longest_gap, monotonic_of
from tools.feed import FeedClient

pytestmark = HA_MARKS

# The sweeper re-queues what a lost queue held; quick here, as in the fault tests.
FAST_SWEEPER = {"STALE_AFTER_SECONDS": "2", "SWEEP_SECONDS": "2"}
# Intake stops for at most this long when the leader is lost (Patroni's TTL
# is 10 s: the leader's lock must expire before another node takes over).
INTAKE_GOAL_SECONDS = 15.0


class Cluster:
    def __init__(self, services: HaServices, topology: LocalTopology, log_dir: Path) -> None:
        self.services, self.topology, self.log_dir = services, topology, log_dir
        self.admin = Api(topology.url, self.token("admin"))
        self.read_token = self.token("read")

    def token(self, scope: str) -> str:
        return server_command(self.topology.env, "create-token", "--name", f"ha {scope}", "--scope", scope).split()[-1]

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        return rows_of(self.services.database_url, sql, args)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "READ_REPLICA_URL")}
    with HaServices() as services:
        env.update(services.environment(), LOG_LEVEL="info", LOG_FORMAT="json", **FAST_SWEEPER)
        logs = tmp_path_factory.mktemp("ha-logs")
        with LocalTopology(web=2, workers=2, env=env, log_dir=logs) as topology:
            yield Cluster(services, topology, logs)


def report(capsys: pytest.CaptureFixture, what: str, figures: dict) -> None:
    """Print the figures, even under -q and output capture."""
    with capsys.disabled():
        print(f"\nfailover figures, {what}: {json.dumps(figures)}", flush=True)


def through(cluster: Cluster, fault: Callable[[], None], recovered: Callable[[], bool] | None = None) -> dict:
    """Send payments, do `fault` in the middle, go on until intake is back
    and a few seconds more; check that nothing was lost or repeated, and
    return the figures."""
    accounts = [open_account(cluster.admin, cluster.admin, {"PHP": "100000.00"}) for _ in range(8)]
    start = head_seq(cluster.admin)
    feed_times: list[float] = []
    follower = FeedClient(
        cluster.topology.url, cluster.read_token, after=start, on_event=lambda _: feed_times.append(time.monotonic())
    ).start()
    traffic = Traffic(cluster.admin, accounts).start()
    try:
        assert traffic.wait_for_more(60), "no intake before the fault"
        fault_wall = datetime.now(UTC).replace(tzinfo=None)
        fault_at = time.monotonic()
        fault()
        assert traffic.wait_for_more(150, timeout=90), "intake did not resume: " + "; ".join(traffic.refusals[:3])
        if recovered is not None:
            assert wait(recovered, 60), "the services did not recover"
        time.sleep(2)
    finally:
        traffic.stop()
    ended = time.monotonic()
    assert traffic.refusals == []

    ids = traffic.ids
    # One payment per key, and no payment but those answered.
    assert len(set(ids)) == len(ids) == len({sent.key for sent in traffic.sent})
    transfers = cluster.query("SELECT id FROM payment WHERE kind = 'transfer' AND from_account = ANY(%s)", (accounts,))
    assert sorted(row[0] for row in transfers) == sorted(ids)
    # Each settles exactly once: final, two entries if completed, one final event.
    assert wait(
        lambda: (
            cluster.query("SELECT count(*) FROM payment WHERE id = ANY(%s) AND status = 'pending'", (ids,)) == [(0,)]
        ),
        90,
    ), "payments still pending"
    statuses = dict(cluster.query("SELECT id, status FROM payment WHERE id = ANY(%s)", (ids,)))
    entries = dict(
        cluster.query("SELECT payment_id, count(*) FROM entry WHERE payment_id = ANY(%s) GROUP BY 1", (ids,))
    )
    finals = dict(
        cluster.query(
            "SELECT data::json->>'id', count(*) FROM event WHERE type IN ('payment.completed', 'payment.failed')"
            " AND data::json->>'id' = ANY(%s) GROUP BY 1",
            (ids,),
        )
    )
    for payment_id in ids:
        assert entries.get(payment_id, 0) == (2 if statuses[payment_id] == "completed" else 0), payment_id
        assert finals.get(payment_id) == 1, payment_id
    # The feed went on without a gap: every event once, in order.
    head = head_seq(cluster.admin)
    assert follower.wait_for(head, timeout=60), f"feed stopped at {follower.last_seq} of {head}"
    follower.stop()
    assert follower.problems == []
    assert [e["seq"] for e in follower.events] == [e["seq"] for e in events_after(cluster.admin, start)]
    audit = cluster.admin.get("/api/v1/audit").body
    assert audit["ok"], audit["problems"][:10]

    settled = [
        monotonic_of(row[0], fault_wall, fault_at)
        for row in cluster.query("SELECT settled_at FROM payment WHERE id = ANY(%s)", (ids,))
    ]
    return {
        "payments_answered": len(ids),
        "payments_retried": traffic.retried,
        "payments_lost": 0,
        "seconds_without_intake": round(longest_gap([s.answered_at for s in traffic.sent], fault_at, ended), 2),
        "seconds_without_settlement": round(longest_gap(settled, fault_at, ended), 2),
        "seconds_without_feed": round(longest_gap(feed_times, fault_at, ended), 2),
    }


def wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def json_lines(folder: Path) -> dict[str, list[dict]]:
    """Every JSON line of every process's log in `folder`, by file name."""
    found: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.log")):
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.startswith("{")]
        found[path.name] = [json.loads(line) for line in lines]
    return found


def test_every_log_line_of_a_payments_life_carries_its_request_id_and_payment_id(cluster):
    receiver = Receiver(RECEIVER_CERTIFICATE)
    made = cluster.admin.post("/api/v1/webhook-endpoints", {"url": receiver.url, "event_types": ["payment.completed"]})
    assert made.status == 201, made.body
    receiver.secrets = [made.body["secret"]]
    try:
        sender = open_account(cluster.admin, cluster.admin, {"PHP": "10.00"})
        receiver_account = open_account(cluster.admin, cluster.admin, currencies=["PHP"])
        request_id = f"trace-{uuid.uuid4().hex}"
        paid = cluster.admin.post(
            "/api/v1/payments",
            {"from_account": sender, "to_account": receiver_account, "amount": "2.50"},
            headers={"X-Request-Id": request_id},
            wait=20,
        )
        assert paid.status == 201 and paid.body["status"] == "completed", paid.body
        payment_id = paid.body["id"]
        receiver.wait_for(lambda got: any(payment_id in d.body.decode() for d in got))

        def traced() -> dict[str, list[dict]]:
            return {
                name: [
                    line
                    for line in lines
                    if payment_id in (line.get("payment_id"), line.get("request_id"))
                    or request_id in (line.get("payment_id"), line.get("request_id"))
                ]
                for name, lines in json_lines(cluster.log_dir).items()
            }

        def every_step_logged() -> bool:
            loggers = {line["logger"] for lines in traced().values() for line in lines}
            return {"tornado.access", "models.settlement", "events.relay", "webhooks.dispatcher"} <= loggers

        assert wait(every_step_logged, 20), traced()
        lines = traced()
        # Found by either id, every line carries both.
        for line in (line for found in lines.values() for line in found):
            assert (line.get("request_id"), line.get("payment_id")) == (request_id, payment_id), line
        # The web process that took it, and the workers that settled and published it.
        assert any(name.startswith("web-") and found for name, found in lines.items()), lines
        assert any(name.startswith("worker-") and found for name, found in lines.items()), lines
        messages = [line["message"] for found in lines.values() for line in found]
        assert any("payment.created published" in m for m in messages), messages
        assert any("payment.completed published" in m for m in messages), messages
    finally:
        cluster.admin.request("DELETE", f"/api/v1/webhook-endpoints/{made.body['id']}")
        receiver.stop()


def test_reads_go_to_a_standby_of_the_cluster_the_monitor_measures(cluster):
    # READ_REPLICA_URL names every node with prefer-standby: a reader's
    # reads are answered by a standby, and show its latest data once the
    # lag rules allow (the reader sent no write).
    reader = Api(cluster.topology.url, cluster.read_token)
    account = open_account(cluster.admin, cluster.admin, {"PHP": "3.00"})
    standby_ports = {m["port"] for m in cluster.services.members() if m.get("role") in ("replica", "sync_standby")}

    def replica_reads() -> float:
        return sum(
            scrape(url + "/metrics").get(("gateway_routed_reads_total", (("database", "replica"),)), 0.0)
            for _, url in cluster.topology.web
        )

    before = replica_reads()
    assert wait(lambda: reader.get(f"/api/v1/accounts/{account}").status == 200 and replica_reads() > before, 30)
    # Those reads ran on a standby: besides each web process's monitor
    # connection, the standbys hold the connections the reads ran on.
    on_standbys = 0
    for port in standby_ports:
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'gateway' AND usename = 'gateway'"
                    " AND backend_type = 'client backend'"
                )
                on_standbys += cur.fetchone()[0]  # type: ignore[index]
        finally:
            conn.close()
    assert on_standbys > len(cluster.topology.web)


def test_killing_the_postgresql_leader_mid_traffic_loses_no_answered_payment(cluster, capsys):
    leader = cluster.services.leader()
    assert leader is not None
    figures = through(cluster, leader.kill, recovered=lambda: cluster.services.leader() not in (None, leader))
    report(capsys, "PostgreSQL leader killed -9", figures)
    assert figures["seconds_without_intake"] < INTAKE_GOAL_SECONDS, figures


def test_killing_the_redis_master_mid_traffic_promotes_the_replica_and_loses_nothing(cluster, capsys):
    killed: list[int] = []
    figures = through(
        cluster,
        lambda: killed.append(cluster.services.kill_redis_master()),
        recovered=lambda: cluster.services.redis_master_port() != killed[0],
    )
    report(capsys, "Redis master killed -9", figures)
    # Workers waiting on the queue when the master went read from the new one.
    assert figures["seconds_without_settlement"] < INTAKE_GOAL_SECONDS, figures


def test_a_switchover_under_load_loses_nothing_and_fails_no_request_a_retry_does_not_recover(cluster, capsys):
    # After a failover, Patroni names a synchronous standby again within a few of its loops.
    assert wait(cluster.services.has_sync_standby, 60), cluster.services.members()
    leader = cluster.services.leader()
    members = cluster.services.members()
    candidate = next(m["name"] for m in members if m.get("role") == "sync_standby")

    def switchover() -> None:
        assert leader is not None
        cluster.services.patronictl("switchover", "--leader", leader.name, "--candidate", candidate, "--force")

    figures = through(
        cluster, switchover, recovered=lambda: getattr(cluster.services.leader(), "name", None) == candidate
    )
    report(capsys, "patronictl switchover", figures)
