"""A webhook receiver for the tests: a real HTTPS server on a loopback port
(its own thread and event loop) that checks every delivery with the
`standardwebhooks` library, unchanged, and records what it got in order.
It can be told to answer 500, to hang, to answer with raw bytes, or to
recover; a self-signed certificate made by `make_certificate` is what the
gateway is told to trust (WEBHOOK_CA_FILE)."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

OK, FAIL, HANG = "ok", "fail", "hang"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` and 127.0.0.1, with its key."""
    cert, key = folder / "receiver.crt", folder / "receiver.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(cert), "-days", "3", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool
    problem: str | None = None
    event: Any = None

    @property
    def seq(self) -> int:
        return self.event["seq"]

    @property
    def prev_seq(self) -> int:
        return self.event["prev_seq"]


@dataclass
class Receiver:
    """`secrets`: what deliveries are checked against (any of them may match)."""

    certificate: tuple[Path, Path] | None = None
    secrets: list[str] = field(default_factory=list)
    mode: str = OK
    # When set, the raw bytes of every answer (the mode is then ignored).
    raw_answer: bytes | None = None
    close_after_answer: bool = False
    # Seconds each answer waits (so that a delivery is always under way).
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    connections: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self.port = 0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "receiver did not start"

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://localhost:{self.port}/hook"

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        context = None
        if self.certificate:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.certificate[0]), str(self.certificate[1]))
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stopped.wait()
        self._server.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                mode = self.mode
                if self.raw_answer is None and mode == HANG:
                    await self._stopped.wait()
                    return
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self.raw_answer is None and mode == OK:
                    self._record(headers, body)
                writer.write(self.raw_answer or _answer(200 if mode == OK else 500))
                await writer.drain()
                if self.close_after_answer:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            return
        finally:
            writer.close()

    def _record(self, headers: dict[str, str], body: bytes) -> None:
        delivery = Delivery(headers, body, time.monotonic(), verified=False)
        problems = []
        for secret in self.secrets:
            try:
                delivery.event = Webhook(secret).verify(body, headers)
                delivery.verified = True
                break
            except Exception as problem:  # the library's own refusal
                problems.append(repr(problem))
        if not delivery.verified:
            delivery.problem = "; ".join(problems) or "no secret to check with"
            delivery.event = json.loads(body)
        with self._lock:
            self.deliveries.append(delivery)

    def got(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def seqs(self) -> list[int]:
        return [d.seq for d in self.got()]

    def first_arrivals(self) -> list[Delivery]:
        """Each webhook-id's first delivery, in arrival order (at least once:
        a sender taking over may send again what was under way)."""
        seen: set[str] = set()
        firsts = []
        for delivery in self.got():
            if delivery.headers["webhook-id"] not in seen:
                seen.add(delivery.headers["webhook-id"])
                firsts.append(delivery)
        return firsts

    def wait_for(self, condition: Callable[[list[Delivery]], bool], timeout: float = 30) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.got()
            if condition(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"the receiver did not get what was expected; it got seqs {self.seqs()}")


def assert_in_order(deliveries: list[Delivery], first_prev_seq: int = 0) -> None:
    """Every delivery verified, `seq` increasing, each `prev_seq` the `seq`
    before it (the first's is `first_prev_seq`)."""
    assert all(d.verified for d in deliveries), [d.problem for d in deliveries if not d.verified]
    previous = first_prev_seq
    for delivery in deliveries:
        assert delivery.prev_seq == previous, (delivery.event, previous)
        assert delivery.seq > previous
        previous = delivery.seq


def _answer(status: int) -> bytes:
    body = b'{"ok":true}' if status == 200 else b'{"error":"down"}'
    reason = "OK" if status == 200 else "Internal Server Error"
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
