"""Stopping a web process (a deploy, a scale-down) drops no request: it stops
taking connections, answers what it has already started, then exits."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import tempfile
import time

import pytest
from tornado.web import Application, RequestHandler, stream_request_body

from deploy.processes import answers_ready, free_port, server_command, spawn
from tests.support.environment import CONFIG
from tests.support.faults import stop_process
from tests.support.waiting import wait_until
from web.inflight import Counted, InFlight


@pytest.fixture
def web_process():
    """A web process of its own (sharing the session's database when on
    PostgreSQL, with a data folder of its own when embedded)."""
    env = dict(os.environ)
    if not CONFIG.database_url:
        env["DATA_DIR"] = tempfile.mkdtemp(prefix="gateway-shutdown-")
    server_command(env, "migrate")
    token = server_command(env, "create-token", "--name", "shutdown test", "--scope", "write").splitlines()[-1]
    port = free_port()
    process = spawn(["serve", "--port", str(port)], dict(env, PORT=str(port)))
    assert wait_until(lambda: answers_ready(f"http://127.0.0.1:{port}"), timeout=30)
    yield process, port, token
    stop_process(process)


def read_reply(sock: socket.socket) -> bytes:
    sock.settimeout(15)
    reply = b""
    while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < content_length(reply):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    return reply


def content_length(reply: bytes) -> int:
    for line in reply.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


@pytest.mark.server  # a web process of its own
def test_a_request_in_flight_when_the_server_is_told_to_stop_is_answered(web_process):
    process, port, token = web_process
    body = json.dumps({"from_account": "nobody-here", "to_account": "nor-here", "amount": "1.00"}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"POST /api/v1/payments HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[:10]
    )
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    # It takes no new connection...
    assert wait_until(lambda: not answers_ready(f"http://127.0.0.1:{port}"), timeout=5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    # ...but the request it had started gets its whole answer.
    sock.sendall(body[10:])
    reply = read_reply(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 422"), reply[:200]
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "validation_error"
    assert process.wait(20) == 0


class Held(Counted, RequestHandler):
    """Answers once the test lets it, as a request waiting on its database work."""

    release: asyncio.Event

    async def post(self) -> None:
        await self.release.wait()
        self.finish("done")


@stream_request_body
class HeldStreaming(Held):
    def data_received(self, chunk: bytes) -> None:
        pass


async def in_flight_while(path: str, send_whole_body: bool) -> tuple[int, int]:
    """In-flight count after a client sends a request to `path` and hangs up,
    and again once the handler is let go."""
    in_flight = InFlight()
    Held.release = asyncio.Event()
    app = Application([("/held", Held), ("/streaming", HeldStreaming)], in_flight=in_flight)
    server = app.listen(0, "127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    body = b"x" * 100
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode())
    writer.write(body if send_whole_body else body[:10])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await asyncio.sleep(0.2)
    while_gone = in_flight.count
    Held.release.set()
    await asyncio.sleep(0.2)
    server.stop()
    return while_gone, in_flight.count


@pytest.mark.parametrize("path", ["/held", "/streaming"])
def test_a_request_whose_client_hung_up_is_in_flight_until_its_handler_is_done(path):
    # Stopping the server meanwhile would cut its work short (asyncio
    # cancels what is left when the loop ends).
    assert asyncio.run(in_flight_while(path, send_whole_body=True)) == (1, 0)


def test_a_request_whose_client_hung_up_before_its_body_was_sent_is_not_in_flight():
    # Its handler never runs: nothing to wait for.
    assert asyncio.run(in_flight_while("/streaming", send_whole_body=False)) == (0, 0)
