"""A small HTTP/1.1 client for deliveries, made for strangers' servers.

Why not a general client: a webhook goes where an admin pointed it, so the
connection itself must keep the destination rules. The host is resolved
here, each address is checked (`models.destinations.address_allowed`), and
the connection is made to the checked address while TLS (SNI and the
certificate) and the `Host` header use the name: a name that resolves
elsewhere a second later (DNS rebinding) changes nothing. Redirects are not
followed (a 3xx is an answer like any other), one attempt has a deadline
(connecting included), and at most 64 KiB of an answer is read.

One `EndpointClient` per endpoint keeps its connection alive between
deliveries; a kept connection the server has closed meanwhile is noticed
(no answer at all) and the request is sent once more on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
from concurrent.futures import Executor
from types import TracebackType
from typing import NamedTuple

from models.destinations import Destination, Resolver, address_allowed, resolve_host

MAX_ANSWER_BYTES = 64 * 1024
MAX_HEADER_LINES = 100
USER_AGENT = "PaymentGateway-Webhooks/1"


class DeliveryError(Exception):
    """The attempt got no HTTP answer; the message says why, for the log."""


class Answer(NamedTuple):
    status: int
    body: bytes


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trusted certificates, plus `ca_file`'s when given."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class _Connection(NamedTuple):
    key: tuple[str, str, int]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class EndpointClient:
    def __init__(
        self,
        context: ssl.SSLContext,
        allow_private: bool,
        timeout: float,
        resolve: Resolver = resolve_host,
        resolver_threads: Executor | None = None,
    ) -> None:
        """`resolver_threads`: where host names are resolved (a lookup
        cannot be interrupted; a pool of its own keeps slow names from
        taking the threads the rest of the process needs)."""
        self._context = context
        self._resolve = resolve
        self._resolver_threads = resolver_threads
        self._allow_private = allow_private
        self._timeout = timeout
        self._deadline = _Deadline(timeout)
        self._connection: _Connection | None = None

    async def post(self, destination: Destination, headers: dict[str, str], body: bytes) -> Answer:
        """POST `body` with `headers`; the answer's status and up to 64 KiB
        of its body. Raises DeliveryError when no answer came in time."""
        try:
            with self._deadline:
                return await self._post(destination, headers, body)
        except TimeoutError:
            self.close()
            raise DeliveryError(f"no answer within {self._timeout:g} s") from None
        except ssl.SSLError as problem:
            self.close()
            raise DeliveryError(f"TLS: {problem.reason or problem}") from None
        except (OSError, asyncio.IncompleteReadError, ValueError) as problem:
            self.close()
            raise DeliveryError(_describe(problem)) from None

    async def _post(self, destination: Destination, headers: dict[str, str], body: bytes) -> Answer:
        key = (destination.scheme, destination.host, destination.port)
        if self._connection is not None and self._connection.key != key:
            self.close()
        if self._connection is not None:
            try:
                return await self._exchange(self._connection, destination, headers, body)
            except (ConnectionError, asyncio.IncompleteReadError, _ClosedBeforeAnswer):
                # The server closed the kept connection while it was idle.
                self.close()
        self._connection = await self._connect(destination, key)
        try:
            return await self._exchange(self._connection, destination, headers, body)
        except _ClosedBeforeAnswer:
            raise DeliveryError("connection closed without an answer") from None

    async def _connect(self, destination: Destination, key: tuple[str, str, int]) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            addresses = await loop.run_in_executor(
                self._resolver_threads, self._resolve, destination.host, destination.port
            )
        except socket.gaierror as problem:
            raise DeliveryError(f"DNS: {destination.host} does not resolve ({problem.strerror})") from None
        if not addresses:
            raise DeliveryError(f"DNS: {destination.host} does not resolve")
        if not self._allow_private:
            refused = [address for address in addresses if not address_allowed(address)]
            if refused:
                raise DeliveryError(f"address refused: {destination.host} resolves to {refused[0]}")
        tls = destination.scheme == "https"
        reader, writer = await asyncio.open_connection(
            addresses[0],
            destination.port,
            ssl=self._context if tls else None,
            server_hostname=destination.host if tls else None,
            limit=MAX_ANSWER_BYTES,
        )
        return _Connection(key, reader, writer)

    async def _exchange(
        self, connection: _Connection, destination: Destination, headers: dict[str, str], body: bytes
    ) -> Answer:
        head = (
            _head_start(destination)
            + str(len(body))
            + "".join(f"\r\n{name}: {value}" for name, value in headers.items())
        )
        connection.writer.write((head + "\r\n\r\n").encode("latin-1") + body)
        await connection.writer.drain()
        reader = connection.reader
        while True:
            status_line = await reader.readline()
            if not status_line:
                raise _ClosedBeforeAnswer
            version, status, answer_headers = _parse_head(status_line, await _read_header_lines(reader))
            if status >= 200:
                break
            # 1xx: an interim answer (103 Early Hints); the real one follows.
        answer, reusable = await _read_body(reader, status, answer_headers)
        if version == "HTTP/1.0" or "close" in answer_headers.get("connection", "").lower() or not reusable:
            self.close()
        return Answer(status, answer)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.writer.close()
            self._connection = None


class _ClosedBeforeAnswer(Exception):
    pass


class _Deadline:
    """The deadline of a client's attempt under way (`with deadline:`),
    kept by one timer for all its attempts: `asyncio.timeout` sets a timer
    for each attempt and cancels it after, a good part of the work of a
    quick delivery. The timer goes off at the deadline of the attempt it was
    set for; if another attempt is under way then, it is set again for that
    one's deadline, and if none is, the next attempt sets it."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None
        self._at = 0.0
        self._cancelling = 0
        self._expired = False

    def __enter__(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        self._task, self._cancelling, self._expired = task, task.cancelling(), False
        self._at = loop.time() + self._seconds
        if self._timer is None or self._loop is not loop:
            self._loop, self._timer = loop, loop.call_at(self._at, self._went_off, self._at)

    def __exit__(
        self, kind: type[BaseException] | None, problem: BaseException | None, traceback: TracebackType | None
    ) -> None:
        task, self._task = self._task, None
        # As asyncio.timeout does: the attempt's cancellation is ours to
        # turn into TimeoutError, unless the task was also cancelled by someone else.
        if (
            self._expired
            and task is not None
            and task.uncancel() <= self._cancelling
            and kind is asyncio.CancelledError
        ):
            raise TimeoutError

    def _went_off(self, at: float) -> None:
        self._timer = None
        if self._task is None or self._loop is None:
            return
        if self._at <= at:
            self._expired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(self._at, self._went_off, self._at)


@functools.lru_cache(maxsize=1024)
def _head_start(destination: Destination) -> str:
    """What every request to `destination` starts with, up to its Content-Length's value."""
    host = destination.host if ":" not in destination.host else f"[{destination.host}]"
    default_port = 443 if destination.scheme == "https" else 80
    if destination.port != default_port:
        host += f":{destination.port}"
    return (
        f"POST {destination.target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    )


async def _read_header_lines(reader: asyncio.StreamReader) -> list[bytes]:
    lines: list[bytes] = []
    while True:
        line = await reader.readline()
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
        if line in (b"\r\n", b"\n"):
            return lines
        lines.append(line)
        if len(lines) > MAX_HEADER_LINES:
            raise ValueError("too many header lines in the answer")


def _parse_head(status_line: bytes, lines: list[bytes]) -> tuple[str, int, dict[str, str]]:
    parts = status_line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise ValueError("the answer is not HTTP")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[0], int(parts[1]), headers


async def _read_body(reader: asyncio.StreamReader, status: int, headers: dict[str, str]) -> tuple[bytes, bool]:
    """Up to 64 KiB of the answer's body, and whether the connection can
    carry another request (all of the body was read)."""
    if status in (204, 304):
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ValueError("the answer's Content-Length is not a number")
        wanted = int(length)
        body = await reader.readexactly(min(wanted, MAX_ANSWER_BYTES))
        return body, wanted <= MAX_ANSWER_BYTES
    # Neither: the body runs to the end of the connection.
    body = await reader.read(MAX_ANSWER_BYTES)
    return body, False


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bool]:
    body = bytearray()
    while True:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ValueError("the answer's chunked body is malformed") from None
        if size == 0:
            await _read_header_lines(reader)  # trailers
            return bytes(body), True
        if len(body) + size > MAX_ANSWER_BYTES:
            body += await reader.readexactly(MAX_ANSWER_BYTES - len(body))
            return bytes(body), False
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _describe(problem: BaseException) -> str:
    if isinstance(problem, ConnectionRefusedError):
        return "connection refused"
    if isinstance(problem, asyncio.IncompleteReadError):
        return "connection closed in the middle of the answer"
    if isinstance(problem, ConnectionError):
        return "connection reset"
    text = str(problem) or type(problem).__name__
    return text[:200]
