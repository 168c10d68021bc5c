"""A webhook receiver for the benchmarks, in a process of its own: it
answers every POST at once (200, or 500 when started with --fail; with
--hang it reads each request and never answers) and records when each event arrived (wall clock, comparable with the
benchmark's process). `GET /arrivals` gives what it has recorded as JSON:
`{"count": n, "payments": {payment id: [first arrival, seq]}}`; `GET /count`
only how many arrived, cheap enough to ask every 50 ms while deliveries
arrive (`/arrivals` encodes every one of them).

    python -m bench.receiver --port 9000 [--fail | --hang]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
FAIL = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"


def answer(body: bytes) -> bytes:
    """A 200 with `body`."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body


class Arrivals:
    def __init__(self, fail: bool, hang: bool = False) -> None:
        self.fail = fail
        self.hang = hang
        self.count = 0
        self.payments: dict[str, list] = {}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request_line := await reader.readline():
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                if request_line.startswith(b"GET /count"):
                    writer.write(answer(b"%d" % self.count))
                elif request_line.startswith(b"GET /arrivals"):
                    writer.write(answer(json.dumps({"count": self.count, "payments": self.payments}).encode()))
                elif self.hang:
                    await asyncio.Event().wait()
                elif self.fail:
                    writer.write(FAIL)
                else:
                    arrived = time.time()
                    self.count += 1
                    event = json.loads(body)
                    if event["type"] == "payment.completed":
                        self.payments.setdefault(event["data"]["id"], [arrived, event["seq"]])
                    writer.write(OK)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def main(port: int, fail: bool, hang: bool) -> None:
    arrivals = Arrivals(fail, hang)
    server = await asyncio.start_server(arrivals.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.port, args.fail, args.hang))
