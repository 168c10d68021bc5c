"""Follow a running gateway's live feed (`/api/v1/stream`), one event a line.

    export GATEWAY_TOKEN=pgw_...        # an API token with the `read` scope
    python -m tools.feed                # replay every event, then follow
    python -m tools.feed --live         # only what happens from now on
    python -m tools.feed --after 1200 --account bob123 --types payment.completed,payment.failed

Each event is printed on stdout as one line of JSON, as the server sent it
(`seq`, `type`, `created_at`, `data`); what happens to the connection goes
to stderr. When the connection drops, the client connects again with
`after=` the last event it printed, so no event is missed or printed twice.
The token is read from the environment variable GATEWAY_TOKEN, never from
the command line, where other users of the machine could see it.

`FeedClient` is the same follower as a library (the tests and `bench.soak`
use it): it checks what the feed promises (strictly increasing `seq`, no
repeats) and keeps each balance's latest amount from the events, so that
its copy can be compared with the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

TOKEN_VARIABLE = "GATEWAY_TOKEN"
# Answers to the upgrade that connecting again would only repeat.
REFUSALS = (400, 401, 403)


class FeedClient:
    """A resuming feed follower on a thread of its own.

    `after` is the event to replay after (0: the whole log); None follows
    from now: the first connection names no `after`, so the server starts
    at its head. `on_event(frame)` is called with each event and
    `on_connect(head)` with the server's head at each connection, on the
    client's thread. Any other keyword is a filter (`account`, `types`)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        after: int | None = 0,
        token_in_query: bool = False,
        *,
        on_event: Callable[[dict], None] | None = None,
        on_connect: Callable[[int], None] | None = None,
        **filters: str,
    ) -> None:
        self.ws_url = base_url.replace("http://", "ws://").replace("https://", "wss://") + "/api/v1/stream"
        self.token = token
        self.token_in_query = token_in_query
        self.filters = filters
        self.on_event, self.on_connect = on_event, on_connect
        self.last_seq = after or 0
        # Following from now, the position is the first event received, or
        # failing that the head the server said hello with.
        self._positioned = after is not None
        self._head_at_start: int | None = None
        self.events: list[dict] = []
        self.balances: dict[str, str] = {}
        self.connections = 0
        self.problems: list[str] = []
        self.last_error: str | None = None
        self.refused: str | None = None
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

    @property
    def running(self) -> bool:
        """Whether the client is still following (or trying to): False once
        stopped or refused."""
        return self._thread.is_alive()

    @property
    def resumes_after(self) -> int | None:
        """The `after=` the next connection will name: None when following
        from now and no connection has said hello yet."""
        return self.last_seq if self._positioned else self._head_at_start

    def _url(self) -> tuple[str, dict[str, str]]:
        params: dict[str, object] = dict(self.filters)
        after = self.resumes_after
        if after is not None:
            params["after"] = after
        headers = {}
        if self.token_in_query:
            params["token"] = self.token
        else:
            headers["Authorization"] = f"Bearer {self.token}"
        return f"{self.ws_url}?{urlencode(params)}", headers

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while not self._stopping:
            url, headers = self._url()
            try:
                self._conn = await websocket_connect(HTTPRequest(url, headers=headers))
            except HTTPClientError as error:
                self.last_error = _refusal(error)
                if error.code in REFUSALS:
                    self.refused = self.last_error
                    return
                await asyncio.sleep(0.2)
                continue
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                await asyncio.sleep(0.2)
                continue
            self.last_error = None
            self.connections += 1
            while True:
                message = await self._conn.read_message()
                if message is None:
                    break
                self._receive(json.loads(message))
            await asyncio.sleep(0.05)

    def _receive(self, frame: dict) -> None:
        if frame["type"] == "hello":
            if self._head_at_start is None:
                self._head_at_start = frame["head"]
            if self.on_connect is not None:
                self.on_connect(frame["head"])
            return
        if self._positioned and frame["seq"] <= self.last_seq:
            self.problems.append(f"seq {frame['seq']} after {self.last_seq}")
            return
        self._positioned = True
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
        if self.on_event is not None:
            self.on_event(frame)


def _refusal(error: HTTPClientError) -> str:
    """`401 unauthorized: ...`: the status and the error the server sent."""
    if error.response is None:  # no answer to read (a timeout, a refused connection)
        return f"{error.code} {error.message}"
    try:
        detail = json.loads(error.response.body)["error"]
        return f"{error.code} {detail['code']}: {detail['message']}"
    except (AttributeError, TypeError, ValueError, KeyError):
        return f"{error.code} {error.message}"


def parser() -> argparse.ArgumentParser:
    summary, _, rest = __doc__.partition("\n\n")
    usage_and_text = rest.split("`FeedClient`")[0].rstrip()
    described = argparse.ArgumentParser(
        prog="python -m tools.feed",
        description=f"{summary}\n\n{usage_and_text}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"environment:\n  {TOKEN_VARIABLE}  an API token with the read scope (required)\n\nCtrl-C stops it.",
    )
    described.add_argument(
        "--url", default="http://127.0.0.1:8000", help="the gateway's base URL (default: %(default)s)"
    )
    start = described.add_mutually_exclusive_group()
    start.add_argument(
        "--after",
        type=int,
        default=0,
        metavar="SEQ",
        help="replay the events after number SEQ, then follow (default: 0, the whole log)",
    )
    start.add_argument("--live", action="store_true", help="start from now: no replay, only new events")
    described.add_argument("--account", metavar="ID", help="only the events about this account")
    described.add_argument(
        "--types", metavar="A,B", help="only events of these types (comma-separated, e.g. payment.completed)"
    )
    return described


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    token = os.environ.get(TOKEN_VARIABLE)
    if not token:
        print(
            f"tools.feed: set the environment variable {TOKEN_VARIABLE} to an API token with the read scope"
            f" (export {TOKEN_VARIABLE}=pgw_...); it is never taken from the command line",
            file=sys.stderr,
        )
        return 2
    filters = {name: value for name, value in (("account", args.account), ("types", args.types)) if value}
    arrived: queue.Queue = queue.Queue()
    client = FeedClient(
        args.url,
        token,
        None if args.live else args.after,
        on_event=lambda frame: arrived.put(("event", frame)),
        on_connect=lambda head: arrived.put(("connected", head)),
        **filters,
    ).start()
    reported_error = None
    try:
        while True:
            try:
                kind, item = arrived.get(timeout=0.5)
            except queue.Empty:
                if not client.running:
                    print(f"tools.feed: the gateway refused the feed: {client.refused}", file=sys.stderr)
                    return 1
                if client.last_error != reported_error and client.last_error is not None:
                    print(
                        f"tools.feed: cannot connect to {client.ws_url} ({client.last_error}); retrying",
                        file=sys.stderr,
                    )
                reported_error = client.last_error
                continue
            if kind == "connected":
                print(f"tools.feed: connected to {client.ws_url}; the log's head is {item}", file=sys.stderr)
                reported_error = None
            else:
                print(json.dumps(item, separators=(",", ":")), flush=True)
    except KeyboardInterrupt:
        client.stop()
        print(f"tools.feed: stopped after seq {client.last_seq}", file=sys.stderr)
        return 0
    except BrokenPipeError:  # the reader went away (`| head`)
        return 0


if __name__ == "__main__":
    sys.exit(main())
