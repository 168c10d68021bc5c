"""The feed client as a command (`python -m tools.feed`): its help, the token
taken from GATEWAY_TOKEN only, and events printed one a line as they happen."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

from tests.support.client import issue_token
from tests.support.environment import ROOT
from tests.support.events import head_seq
from tests.support.ledger import open_account

COMMAND = [sys.executable, "-m", "tools.feed"]


def run_to_completion(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


class Following:
    """`python -m tools.feed` running, what it prints read as it comes."""

    def __init__(self, *args: str, token: str) -> None:
        env = dict(os.environ, GATEWAY_TOKEN=token)
        self.process = subprocess.Popen(
            [*COMMAND, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr)):
            threading.Thread(target=lambda s=stream, q=lines: [q.put(line) for line in s], daemon=True).start()

    def line(self, lines: queue.Queue[str], timeout: float = 30) -> str:
        try:
            return lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing printed within {timeout} s") from None

    def connected(self) -> str:
        """Its first message: that it is connected."""
        message = self.line(self.stderr)
        assert "connected" in message, message
        return message

    def events_until(self, done, timeout: float = 30) -> list[dict]:
        """The events it prints until `done(events)` holds."""
        events: list[dict] = []
        while not done(events):
            events.append(json.loads(self.line(self.stdout, timeout)))
        return events

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def test_the_feed_command_explains_itself():
    done = run_to_completion("--help")
    assert done.returncode == 0, done.stderr
    for option in ("--url", "--after SEQ", "--live", "--account ID", "--types"):
        assert option in done.stdout, option
    assert "GATEWAY_TOKEN" in done.stdout
    assert "http://127.0.0.1:8000" in done.stdout


def test_the_feed_command_refuses_to_start_without_gateway_token():
    env = {name: value for name, value in os.environ.items() if name != "GATEWAY_TOKEN"}
    done = run_to_completion("--url", "http://127.0.0.1:9", env=env)
    assert done.returncode != 0
    assert "GATEWAY_TOKEN" in done.stderr
    assert done.stdout == ""


def test_the_feed_command_prints_a_payment_made_after_it_started_live(gateway, admin, writer):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    before = head_seq(admin)
    follower = Following("--url", gateway.url, "--live", token=issue_token("read"))
    try:
        follower.connected()
        body = {"from_account": payer, "to_account": payee, "amount": "2.50"}
        payment = writer.post("/api/v1/payments", body, wait=20).body
        assert payment["status"] == "completed", payment

        def completed(events: list[dict]) -> bool:
            return any(e["type"] == "payment.completed" and e["data"]["id"] == payment["id"] for e in events)

        events = follower.events_until(completed)
    finally:
        follower.stop()
    assert all(event["seq"] > before for event in events), "--live replays nothing"
    ours = [event["type"] for event in events if event["type"].startswith("payment.")]
    assert ours[:1] == ["payment.created"] and ours[-1] == "payment.completed", ours
    seqs = [event["seq"] for event in events]
    assert seqs == sorted(set(seqs))


def test_the_feed_command_replays_after_a_number_with_the_filters_it_is_given(gateway, admin, writer):
    payer = open_account(writer, admin, {"PHP": "10.00"})
    payee = open_account(writer, admin, currencies=["PHP"])
    start = head_seq(admin)
    body = {"from_account": payer, "to_account": payee, "amount": "1.00"}
    paid = [writer.post("/api/v1/payments", body, wait=20).body["id"] for _ in range(2)]
    args = ["--url", gateway.url, "--after", str(start), "--account", payee, "--types", "payment.completed"]
    follower = Following(*args, token=issue_token("read"))
    try:
        follower.connected()
        events = follower.events_until(lambda events: len(events) == 2)
    finally:
        follower.stop()
    assert [(e["type"], e["data"]["id"]) for e in events] == [("payment.completed", p) for p in paid]


def test_the_feed_command_stops_saying_why_when_the_gateway_refuses_its_token(gateway):
    env = dict(os.environ, GATEWAY_TOKEN="pgw_" + "x" * 43)
    done = run_to_completion("--url", gateway.url, "--live", env=env)
    assert done.returncode == 1
    assert "refused" in done.stderr and "401" in done.stderr, done.stderr
