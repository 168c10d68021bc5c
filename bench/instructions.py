"""Instructions a `POST /api/v1/payments` costs the web process, counted by
valgrind's callgrind: not moved by what else the machine is doing, as
timings are. Not exact either: what the process does between waves still
follows the clock (a rate-limit lease running out, how the event loop's
wake-ups fall), and four runs of the same code gave 565,000-627,000 for
the IOLoop's part. Compare changes larger than that, or several runs.

    python -m bench.instructions

The intake handler runs in this one process, driven through Tornado's HTTP
delegate interface in waves of 32 concurrent requests: no sockets, so HTTP
parsing is left out, and everything from routing to the answer's bytes is
in. Two figures:

- `ioloop`: the batcher replaced by one that returns a ready payment, so
  only the IOLoop's part is counted;
- `process`: the real batcher, its database thread and the post-commit
  signals counted too (PostgreSQL and Redis run in processes of their own,
  not counted).

Each is the difference between a run of 31 waves and a run of 1, per
request, so that start-up is left out. Needs valgrind, PostgreSQL and Redis;
takes about two minutes.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

from tornado.concurrent import Future

from bench.services import database_url, fresh_database, redis_url
from deploy.processes import server_command

DATABASE = "pgw_bench_instructions"
WAVE = 32
ROOT = Path(__file__).resolve().parent.parent


class _Context:
    remote_ip = "127.0.0.1"
    protocol = "http"
    address = ("127.0.0.1", 1)
    trusted_downstream: set = set()


class _Connection:
    """Tornado's HTTP connection as a request handler sees it, keeping what
    it is given."""

    def __init__(self) -> None:
        self.context = _Context()
        self.done = asyncio.get_running_loop().create_future()
        self.status: int | None = None

    def set_close_callback(self, callback) -> None:
        pass

    def _written(self) -> Future[None]:
        future: Future[None] = Future()
        future.set_result(None)
        return future

    def write_headers(self, start_line, headers, chunk=None):
        self.status = start_line.code
        return self._written()

    def write(self, chunk: bytes):
        return self._written()

    def finish(self) -> None:
        self.done.set_result(None)


class _Ready:
    """A batcher that accepts nothing and answers with one ready payment."""

    def __init__(self, payment) -> None:
        self.payment = payment

    async def submit(self, kind: str, body: object):
        return self.payment


async def _drive(mode: str, waves: int, token: str) -> None:
    from tornado import httputil

    import server
    from config import Config
    from events.signals import Coalesced
    from handlers.app import make_app
    from models.connection import connect
    from models.intake import accept_payments
    from models.retry import retried_without_transaction
    from tasks.settlement import Settlement
    from web.hub import EventHub
    from web.services import WebServices

    config = Config.from_env(cookie_secret="x" * 32)
    connect(config.database_url, config.sqlite_path)
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(config.db_threads, thread_name_prefix="db")
    request_settlement = Coalesced(Settlement(config).request, "settlement-requests")
    app = make_app(config, WebServices(executor, EventHub(loop, executor), request_settlement, lambda: 0))
    if mode == "ioloop":
        body = {"from_account": "bench000001", "to_account": "bench000002", "amount": "0.01"}
        (accepted,) = retried_without_transaction(lambda: accept_payments([("transfer", body)], lambda: None))
        app.settings["intake_batcher"] = _Ready(accepted)
    rng = random.Random(1)
    start = httputil.RequestStartLine("POST", "/api/v1/payments", "HTTP/1.1")

    async def one() -> int:
        a, b = rng.sample(range(1000), 2)
        body = b'{"from_account":"bench%06d","to_account":"bench%06d","amount":"0.01"}' % (a, b)
        headers = httputil.HTTPHeaders(
            {
                "Host": "127.0.0.1",
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
            }
        )
        connection = _Connection()
        # The stand-in has all of an HTTPConnection the handlers use (not the class).
        delegate = app.start_request(None, cast(httputil.HTTPConnection, connection))
        for step in (lambda: delegate.headers_received(start, headers), lambda: delegate.data_received(body)):
            pending = step()
            if pending is not None:
                await pending
        delegate.finish()
        await connection.done
        assert connection.status is not None  # the answer's headers are written before it finishes
        return connection.status

    async def wave() -> None:
        statuses = await asyncio.gather(*[one() for _ in range(WAVE)])
        if set(statuses) != {202}:
            raise RuntimeError(f"intake answered {sorted(set(statuses))}, not only 202")

    server.settle_heap()
    await wave()  # warm: the token remembered, the first connections made
    for _ in range(waves):
        await wave()
    executor.shutdown(wait=True)


def _count(mode: str, waves: int, env: dict) -> int:
    """Instructions of a whole run of this module under callgrind."""
    output = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-m", "bench.instructions"]
        + ["--drive", mode, str(waves)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found = re.search(r"Collected : (\d+)", output)
    assert found is not None, output
    return int(found.group(1))


def _prepare() -> tuple[dict, str]:
    """A database of this benchmark's own: 1,000 funded accounts, a token."""
    from bench.fixtures import funded_accounts
    from models.connection import connect

    url = fresh_database(DATABASE)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url(), "LOG_LEVEL": "warning"}
    server_command(env, "migrate")
    token = server_command(env, "create-token", "--name", "instructions", "--scope", "admin").splitlines()[-1]
    connect(url, ROOT / "unused.db")  # a PostgreSQL URL: the SQLite path goes unused
    funded_accounts(1000, "PHP", 100_000_000)
    return env, token


def main() -> None:
    os.environ.setdefault("DATABASE_URL", database_url(DATABASE))
    if sys.argv[1:2] == ["--drive"]:
        mode, waves = sys.argv[2], int(sys.argv[3])
        asyncio.run(_drive(mode, waves, os.environ["BENCH_TOKEN"]))
        return
    env, token = _prepare()
    env["BENCH_TOKEN"] = token
    for mode in ("ioloop", "process"):
        per_request = (_count(mode, 31, env) - _count(mode, 1, env)) / (30 * WAVE)
        print(f"{mode}: {per_request:,.0f} instructions per intake request", flush=True)


if __name__ == "__main__":
    main()
