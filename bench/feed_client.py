"""An example feed client: follows /api/v1/stream and keeps balances in memory.

    python -m bench.feed_client --url http://127.0.0.1:8000 --token pgw_... [--after 0]

It checks what the feed promises (strictly increasing `seq`, no repeats),
reconnects with `after=<last seq>` whenever the connection drops, and keeps
each balance's latest amount from the events, so its copy can be compared
with the database. The tests use it as a library (`FeedClient`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from urllib.parse import urlencode

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


class FeedClient:
    """A resuming feed follower on a thread of its own."""

    def __init__(self, base_url: str, token: str, after: int = 0, token_in_query: bool = False, **filters: str) -> None:
        self.ws_url = base_url.replace("http://", "ws://").replace("https://", "wss://") + "/api/v1/stream"
        self.token = token
        self.token_in_query = token_in_query
        self.filters = filters
        self.last_seq = after
        self.events: list[dict] = []
        self.balances: dict[str, str] = {}
        self.connections = 0
        self.problems: list[str] = []
        self._conn: WebSocketClientConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> FeedClient:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self.drop_connection()
        self._thread.join(10)

    def drop_connection(self) -> None:
        """Cut the current connection, as a network failure would."""
        if self._loop is not None and self._conn is not None:
            self._loop.call_soon_threadsafe(self._conn.close)

    def wait_for(self, seq: int, timeout: float = 120.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.last_seq < seq and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.last_seq >= seq

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            params = {"after": self.last_seq, **self.filters}
            headers = {}
            if self.token_in_query:
                params["token"] = self.token
            else:
                headers["Authorization"] = f"Bearer {self.token}"
            request = HTTPRequest(f"{self.ws_url}?{urlencode(params)}", headers=headers)
            try:
                self._conn = await websocket_connect(request)
            except Exception:
                await asyncio.sleep(0.2)
                continue
            self.connections += 1
            while True:
                message = await self._conn.read_message()
                if message is None:
                    break
                self._receive(json.loads(message))
            await asyncio.sleep(0.05)

    def _receive(self, frame: dict) -> None:
        if frame["type"] == "hello":
            return
        if frame["seq"] <= self.last_seq:
            self.problems.append(f"seq {frame['seq']} after {self.last_seq}")
            return
        self.last_seq = frame["seq"]
        self.events.append(frame)
        data = frame["data"]
        if frame["type"] in ("account.created", "account.updated"):
            for balance in data.get("balances", []):
                self.balances[balance["id"]] = balance["amount"]
        elif frame["type"] in ("balance.created", "balance.updated"):
            self.balances[data["id"]] = data["amount"]
        elif frame["type"] == "payment.completed":
            for balance in data["balances"]:
                self.balances[balance["id"]] = balance["amount"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--after", type=int, default=0)
    parser.add_argument("--account")
    parser.add_argument("--types")
    args = parser.parse_args()
    filters = {k: v for k, v in (("account", args.account), ("types", args.types)) if v}
    client = FeedClient(args.url, args.token, args.after, **filters).start()
    shown = 0
    try:
        while True:
            time.sleep(0.5)
            for event in client.events[shown:]:
                print(event["seq"], event["type"], json.dumps(event["data"])[:120])
            shown = len(client.events)
    except KeyboardInterrupt:
        client.stop()
        print(f"{len(client.balances)} balances known, last seq {client.last_seq}")


if __name__ == "__main__":
    main()
