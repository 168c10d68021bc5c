"""The live feed (SPEC section 6): every event once, in order, across
processes, resumable, and no client able to hold up another."""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import time
from base64 import b64encode
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.client import issue_token
from tests.support.events import events_after, head_seq
from tests.support.ledger import all_final, assert_audit_ok, open_account
from tests.support.waiting import wait_until
from tools.feed import FeedClient


def database_balances() -> dict[str, str]:
    from models.account import Balance
    from models.retry import read_only
    from models.serialize import balance_json

    return read_only(lambda: {b.id: balance_json(b)["amount"] for b in Balance.select()})


@pytest.mark.slow
def test_every_event_reaches_clients_of_every_web_process_once_in_order(gateway, second_web, admin, writer):
    accounts = [open_account(writer, admin, {"PHP": "1000.00"}) for _ in range(20)]
    start = head_seq(admin)
    token = issue_token("read")
    steady = FeedClient(gateway.url, token, after=start).start()
    resumed = FeedClient(second_web, token, after=start).start()
    rebuilding = FeedClient(second_web, token, after=0).start()
    apis = [writer, writer.at(second_web)]
    rng = random.Random(5000)
    orders = [(rng.sample(accounts, 2), f"{rng.randint(1, 5000) / 100:.2f}") for _ in range(5000)]

    def pay(n: int) -> str:
        (sender, receiver), amount = orders[n]
        if n == 2500:
            resumed.drop_connection()
        response = apis[n % 2].post(
            "/api/v1/payments", {"from_account": sender, "to_account": receiver, "amount": amount}
        )
        assert response.status == 202, response.body
        return response.body["id"]

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(pay, range(5000)))
    all_final(writer, ids)
    head = head_seq(admin)
    expected = events_after(admin, start)
    assert len(expected) == head - start >= 10_000
    for client in (steady, resumed, rebuilding):
        assert client.wait_for(head), f"client stopped at {client.last_seq} of {head}"
    for client in (steady, resumed, rebuilding):
        client.stop()
        assert client.problems == []
    assert [e["seq"] for e in steady.events] == list(range(start + 1, head + 1))
    assert steady.events == expected
    assert resumed.events == expected and resumed.connections >= 2
    assert [e["seq"] for e in rebuilding.events] == list(range(1, head + 1))
    in_database = database_balances()
    assert rebuilding.balances == {k: v for k, v in in_database.items() if k in rebuilding.balances}
    assert all(balance in rebuilding.balances for balance, amount in in_database.items() if amount.strip("0.") != "")
    assert_audit_ok()


def test_filters_send_exactly_the_matching_events_in_log_order(gateway, admin, writer):
    payer = open_account(writer, admin, {"USD": "50.00"})
    payee = open_account(writer, admin, currencies=["USD"])
    start = head_seq(admin)
    client = FeedClient(gateway.url, issue_token("read"), after=start, account=payee, types="payment.completed").start()
    ids = [
        writer.post("/api/v1/payments", {"from_account": payer, "to_account": payee, "amount": "1.00"}).body["id"]
        for _ in range(5)
    ]
    all_final(writer, ids)
    other = open_account(writer, admin, {"USD": "1.00"})
    assert wait_until(lambda: len(client.events) == 5, timeout=30)
    everything = FeedClient(gateway.url, issue_token("read"), after=start).start()
    assert everything.wait_for(head_seq(admin), timeout=30)
    everything.stop()
    client.stop()
    matching = [
        e
        for e in everything.events
        if e["type"] == "payment.completed" and payee in (e["data"]["from_account"], e["data"]["to_account"])
    ]
    assert client.events == matching
    assert sorted(e["data"]["id"] for e in client.events) == sorted(ids)
    assert other not in json.dumps(client.events)


def test_stream_refuses_missing_bad_and_foreign_origin_credentials(gateway, reader):
    from tornado.httpclient import HTTPClient, HTTPClientError, HTTPRequest

    url = gateway.url + "/api/v1/stream"
    headers = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": b64encode(os.urandom(16)).decode(),
    }
    client = HTTPClient()
    try:
        for extra, expected in (
            ({}, 401),
            ({"Authorization": "Bearer pgw_wrong"}, 401),
            ({"Authorization": f"Bearer {reader.token}", "Origin": "https://evil.example"}, 403),
        ):
            with pytest.raises(HTTPClientError) as refused:
                client.fetch(HTTPRequest(url, headers={**headers, **extra}))
            assert refused.value.code == expected
        with pytest.raises(HTTPClientError) as bad_filter:
            client.fetch(
                HTTPRequest(url + "?types=nonsense", headers={**headers, "Authorization": f"Bearer {reader.token}"})
            )
        assert bad_filter.value.code == 400
    finally:
        client.close()


def test_token_in_query_string_authenticates_the_feed(gateway, admin, writer):
    start = head_seq(admin)
    follower = FeedClient(gateway.url, issue_token("read"), after=start, token_in_query=True).start()
    open_account(writer, admin, currencies=["PHP"])
    assert wait_until(lambda: follower.last_seq > start, timeout=30)
    follower.stop()
    assert follower.events[0]["type"] == "account.created"


def raw_websocket(url: str, token: str, after: int) -> socket.socket:
    """A client that does the handshake and then never reads."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /api/v1/stream?after={after} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    return sock


def frames(data: bytes):
    """The whole frames (opcode, payload) in what a server sent after the handshake."""
    body = data[data.index(b"\r\n\r\n") + 4 :]
    while len(body) >= 2:
        opcode, length = body[0] & 0x0F, body[1] & 0x7F
        offset = 2
        if length == 126:
            length, offset = int.from_bytes(body[2:4], "big"), 4
        elif length == 127:
            length, offset = int.from_bytes(body[2:10], "big"), 10
        if len(body) < offset + length:
            return
        yield opcode, body[offset : offset + length]
        body = body[offset + length :]


def close_frame(data: bytes) -> tuple[int, str] | None:
    """The close code and reason in what a server sent, if it sent one."""
    for opcode, payload in frames(data):
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big"), payload[2:].decode()
    return None


def feed_clients(gateway) -> float:
    """Open feed connections on the test server, from its /metrics."""
    from tests.support.metrics import scrape

    return scrape(gateway.url + "/metrics").get(("gateway_feed_clients", ()), 0.0)


def read_for(sock: socket.socket, seconds: float) -> bytes:
    """What arrives on `sock` within `seconds` (or until it ends)."""
    received, deadline = b"", time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


class ErrorsLogged(logging.Handler):
    """Errors logged by the event loop or Tornado while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.slow
def test_a_client_that_never_reads_is_closed_and_holds_up_nobody(gateway, admin, writer):
    errors = ErrorsLogged()
    for name in ("asyncio", "tornado"):
        logging.getLogger(name).addHandler(errors)
    try:
        token = issue_token("read")
        feeds_before = feed_clients(gateway)
        stalled = raw_websocket(gateway.url, token, after=0)
        start = head_seq(admin)
        lively = FeedClient(gateway.url, token, after=start).start()
        accounts = [open_account(writer, admin, {"EUR": "100.00"}) for _ in range(4)]
        ids = [
            writer.post(
                "/api/v1/payments",
                {"from_account": accounts[n % 4], "to_account": accounts[(n + 1) % 4], "amount": "0.01"},
            ).body["id"]
            for n in range(200)
        ]
        all_final(writer, ids)
        head = head_seq(admin)
        assert lively.wait_for(head, timeout=60)
        lively.stop()
        assert lively.problems == []
        # The server ends the stalled feed by itself: its sends time out once
        # the unread frames outgrow the socket buffers (4008), or its pings go
        # unanswered when they all fit (1000). Nothing is left open.
        assert wait_until(lambda: feed_clients(gateway) <= feeds_before, timeout=90)
    finally:
        for name in ("asyncio", "tornado"):
            logging.getLogger(name).removeHandler(errors)
    # Cutting a slow client off is routine: nothing to report as an error.
    assert [record.getMessage() for record in errors.records] == []
    # What it was sent is the log from the start, in order and without gaps
    # (read for a few seconds only: through a 4 KB window the rest of what
    # the kernel still holds for it can take minutes to arrive).
    received = read_for(stalled, 5)
    stalled.close()
    closing = close_frame(received)
    assert (
        closing is None
        or closing == (1000, "ping timed out")
        or (closing[0] == 4008 and closing[1].startswith("too slow: resume with after="))
    ), closing
    messages = [json.loads(payload) for opcode, payload in frames(received) if opcode == 0x1]
    seqs = [message["seq"] for message in messages if "seq" in message]
    assert seqs and seqs == list(range(1, len(seqs) + 1))


def server_end_of(client: socket.socket) -> socket.socket | None:
    """This process's socket whose peer is `client` (the in-process server's
    end of the connection), duplicated; None if there is none."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            candidate = socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            continue
        try:
            if candidate.type == socket.SOCK_STREAM and candidate.getpeername() == client.getsockname():
                return candidate
        except OSError:
            pass
        candidate.close()
    return None


def test_the_feed_sends_each_event_at_once_rather_than_holding_small_frames_back(gateway, reader):
    # With Nagle's algorithm, a frame sent while the previous one is not yet
    # acknowledged waits for the client's delayed ACK: up to 40 ms an event.
    port = int(gateway.url.rsplit(":", 1)[1])
    client = socket.create_connection(("127.0.0.1", port))
    key = b64encode(os.urandom(16)).decode()
    client.sendall(
        (
            f"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nAuthorization: Bearer {reader.token}\r\n\r\n"
        ).encode()
    )
    client.settimeout(10)
    answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 101")
    # The feed's hello is sent once the feed is open and its socket set up
    # (Tornado itself turns Nagle's algorithm back on as it ends the upgrade).
    while b'"hello"' not in answer:
        answer += client.recv(4096)
    server_end = server_end_of(client)
    try:
        assert server_end is not None
        assert server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        if server_end is not None:
            server_end.close()
        client.close()


def test_a_filtered_follower_handed_more_than_it_can_hold_catches_up_without_a_gap(gateway, admin, writer, monkeypatch):
    from web import followers

    # Settled batches hand a follower many events at once: with room for
    # two, it is told to read them from the ring instead, again and again.
    monkeypatch.setattr(followers, "BACKLOG", 2)
    payer = open_account(writer, admin, {"USD": "100.00"})
    payee = open_account(writer, admin, currencies=["USD"])
    start = head_seq(admin)
    filtered = FeedClient(gateway.url, issue_token("read"), after=None, account=payee).start()
    assert wait_until(lambda: filtered.connections == 1, timeout=30)
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda _: writer.post(
                    "/api/v1/payments", {"from_account": payer, "to_account": payee, "amount": "0.10"}
                ).body["id"],
                range(60),
            )
        )
    all_final(writer, ids)
    expected = [
        e
        for e in events_after(admin, start)
        if payee in (e["data"].get("from_account"), e["data"].get("to_account"), e["data"].get("account"))
    ]
    assert wait_until(lambda: len(filtered.events) >= len(expected), timeout=30)
    filtered.stop()
    assert filtered.problems == []
    assert filtered.events == expected and filtered.connections == 1
