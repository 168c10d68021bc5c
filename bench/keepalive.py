"""An open-loop HTTP/1.1 load client on a pool of keep-alive connections.

API clients of a payment service keep their connections open; a load
generator that opens one per request (as Tornado's simple client does)
measures connection set-up on both sides instead of the API, and on a
2-core machine spends the CPU the server needs. This one is deliberately
small: a fixed pool of connections, each sending its next request once the
previous answer is read, requests taken from one queue in the order they
were scheduled. A request waiting for a free connection is still timed from
its scheduled moment, so a slow server shows as latency (no coordinated
omission).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse


class Reply:
    __slots__ = ("status", "body")

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


class KeepAlivePool:
    def __init__(self, base: str, headers: dict[str, str], connections: int = 32) -> None:
        url = urlparse(base)
        self._host, self._port = url.hostname, url.port or 80
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._queue: asyncio.Queue = asyncio.Queue()
        self._connections = connections
        self._workers: list[asyncio.Task] = []

    async def __aenter__(self) -> KeepAlivePool:
        self._workers = [asyncio.create_task(self._serve()) for _ in range(self._connections)]
        return self

    async def __aexit__(self, *exc) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    def request(self, method: str, path: str, body: bytes = b"") -> asyncio.Future:
        """Queue a request now; the future resolves to its Reply (or raises
        the OSError that lost it)."""
        future = asyncio.get_running_loop().create_future()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n{self._headers}"
        data = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self._queue.put_nowait((data, future))
        return future

    async def _serve(self) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while True:
            data, future = await self._queue.get()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(self._host, self._port)
                assert reader is not None  # opened and dropped together with writer
                writer.write(data)
                future.set_result(await self._read_reply(reader))
            except (OSError, asyncio.IncompleteReadError, ValueError) as problem:
                if writer is not None:
                    writer.close()
                reader = writer = None
                if not future.done():
                    future.set_exception(OSError(str(problem)))

    @staticmethod
    async def _read_reply(reader: asyncio.StreamReader) -> Reply:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return Reply(status, await reader.readexactly(length))


async def paced(rate: float, count: int, send) -> list:
    """Call `send(n)` for n in range(count) at `rate` a second, on schedule
    whatever the replies; returns what each call returned."""
    begin = time.perf_counter()
    results = []
    for n in range(count):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        results.append(send(n))
    return results
