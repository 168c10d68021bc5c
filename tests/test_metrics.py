"""Observability (SPEC section 9): `/metrics` in Prometheus text, one JSON
object per log line carrying the request id, and errors sent to Sentry when
SENTRY_DSN is set."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploy.processes import free_port, spawn
from tests.support.client import Api, issue_token
from tests.support.environment import CONFIG, ROOT
from tests.support.ledger import open_account
from tests.support.metrics import scrape
from tests.support.waiting import wait_until
from tools.feed import FeedClient


def requests_counted(samples, handler: str, status: str) -> float:
    key = ("gateway_http_requests_total", (("handler", handler), ("method", "GET"), ("status", status)))
    return samples.get(key, 0.0)


def test_metrics_count_requests_by_handler_and_status_with_latencies(gateway, reader):
    before = scrape(gateway.url + "/metrics")
    for _ in range(3):
        assert reader.get("/api/v1/accounts", params={"limit": 1}).status == 200
    assert reader.get("/api/v1/accounts/no-such-account").status == 404
    after = scrape(gateway.url + "/metrics")
    assert requests_counted(after, "AccountsHandler", "200") - requests_counted(before, "AccountsHandler", "200") == 3
    assert requests_counted(after, "AccountHandler", "404") - requests_counted(before, "AccountHandler", "404") == 1
    latency = ("gateway_http_request_duration_seconds_count", (("handler", "AccountsHandler"), ("method", "GET")))
    assert after[latency] - before.get(latency, 0.0) == 3


def test_metrics_report_queue_depth_and_pending_payments(gateway):
    samples = scrape(gateway.url + "/metrics")
    assert samples[("gateway_queue_depth", ())] >= 0
    assert samples[("gateway_pending_payments", ())] >= 0


def test_metrics_count_open_feed_clients(gateway):
    def clients() -> float:
        return scrape(gateway.url + "/metrics")[("gateway_feed_clients", ())]

    before = clients()
    followers = [FeedClient(gateway.url, issue_token("read")).start() for _ in range(3)]
    assert wait_until(lambda: clients() == before + 3, timeout=20)
    for follower in followers:
        follower.stop()
    assert wait_until(lambda: clients() == before, timeout=20)


def settled_count(url: str) -> float:
    return scrape(url).get(("gateway_settled_payments_total", ()), 0.0)


def test_settlement_is_counted_and_timed_where_it_runs(gateway, admin, writer):
    """Embedded, the server settles and reports it; with services each
    worker reports its own settlements on its METRICS_PORT."""
    payer = open_account(writer, admin, {"PHP": "100.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    worker = None
    url = gateway.url + "/metrics"
    if CONFIG.database_url:
        port = free_port()
        worker = spawn(["worker", "--workers", "2"], dict(os.environ, METRICS_PORT=str(port)))
        url = f"http://127.0.0.1:{port}/metrics"

        def answering() -> bool:
            try:
                return settled_count(url) >= 0
            except OSError:
                return False

        assert wait_until(answering, timeout=30)
    try:
        before = settled_count(url)
        for _ in range(30):
            body = {"from_account": payer, "to_account": payee, "amount": "0.01"}
            assert writer.post("/api/v1/payments", body, wait=10).body["status"] == "completed"
            if settled_count(url) > before:
                break
        samples = scrape(url)
        assert samples[("gateway_settled_payments_total", ())] > before
        assert samples[("gateway_settlement_batch_seconds_count", ())] >= 1
        assert samples[("gateway_settlement_batch_seconds_sum", ())] > 0
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)


def test_access_log_lines_are_json_objects_with_the_request_id(gateway):
    port = free_port()
    env = dict(os.environ, PORT=str(port), LOG_FORMAT="json", LOG_LEVEL="info")
    if not CONFIG.database_url:
        env["DATA_DIR"] = tempfile.mkdtemp(prefix="gateway-log-")
    process = spawn(["serve"], env, stderr=subprocess.PIPE, text=True)
    stderr = process.stderr
    assert stderr is not None  # a pipe: stderr=PIPE
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")), daemon=True)
    reader.start()
    try:
        api = Api(f"http://127.0.0.1:{port}", None)

        def answers() -> bool:
            try:
                return api.get("/healthz", headers={"X-Request-Id": "trace-42"}).status == 200
            except OSError:
                return False

        assert wait_until(answers, timeout=30)

        def logged() -> list[dict]:
            return [json.loads(line) for line in list(lines) if '"trace-42"' in line]

        assert wait_until(logged, timeout=10)
        entry = logged()[0]
        assert entry["request_id"] == "trace-42"
        assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/healthz", 200)
        assert entry["level"] == "info" and entry["duration_ms"] >= 0
        assert all(json.loads(line) for line in list(lines) if line.strip())
    finally:
        process.terminate()
        process.wait(30)


class FakeSentry(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        FakeSentry.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.server  # a process of its own, reporting to a fake Sentry
def test_errors_are_sent_to_sentry_when_sentry_dsn_is_set():
    ingest = ThreadingHTTPServer(("127.0.0.1", 0), FakeSentry)
    threading.Thread(target=ingest.serve_forever, daemon=True).start()
    script = (
        "import logging, sentry_sdk, server\n"
        "from config import Config\n"
        "config = Config.from_env()\n"
        "server.configure_logging(config)\n"
        "server.report_errors(config)\n"
        "logging.getLogger('gateway').error('settlement exploded')\n"
        "sentry_sdk.flush(5)\n"
    )
    env = dict(os.environ, SENTRY_DSN=f"http://publickey@127.0.0.1:{ingest.server_port}/1")
    try:
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)
        assert any(b"settlement exploded" in body for body in FakeSentry.received)
    finally:
        ingest.shutdown()
