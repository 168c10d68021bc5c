"""Payment Gateway: the server and its commands.

python server.py [serve]        the web server (+ the consumer when embedded)
python server.py migrate        bring the database up to date
python server.py worker         a settlement worker (needs REDIS_URL)
python server.py create-admin   --email E --password P [--role admin|viewer]
python server.py create-token   --name N --scope read|write|admin
python server.py audit          check the ledger's invariants (exit 1 if broken)
python server.py seed-demo      load the sample accounts into an empty database
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from config import Config

log = logging.getLogger("gateway")

# What a connection may send at most; the API keeps no more than 64 KiB of it
# and answers 413 past that.
MAX_BODY_BYTES = 64 * 1024 * 1024
# How long a stopping web process waits for the requests it has started
# (under the 10 s a container runtime allows before SIGKILL).
SHUTDOWN_GRACE_SECONDS = 8.0


# What an access log line carries besides its message (handlers.app.log_request).
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "remote_ip")


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log collectors: the access log's fields
    as fields, so that a request is found by its X-Request-Id."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: record.__dict__[name] for name in REQUEST_FIELDS if name in record.__dict__})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(config: Config) -> None:
    handler = logging.StreamHandler()
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=config.log_level.upper(), handlers=[handler], force=True)
    if config.log_level.lower() != "debug":
        # Huey logs every task it runs at INFO: one line per payment is noise.
        logging.getLogger("huey").setLevel(logging.WARNING)


def report_errors(config: Config) -> None:
    """Send errors to Sentry when SENTRY_DSN is set: uncaught exceptions in
    handlers (Tornado integration, with the request they happened in) and
    every ERROR log line."""
    if not config.sentry_dsn:
        return
    import sentry_sdk
    from sentry_sdk.integrations.tornado import TornadoIntegration

    sentry_sdk.init(dsn=config.sentry_dsn, integrations=[TornadoIntegration()], send_default_pii=False)


def connect(config: Config) -> None:
    from models.db import connect as connect_database

    connect_database(config.database_url, config.sqlite_path)


class EventPipeline:
    """This process's part in numbering and spreading events: the relay
    (leader-elected on PostgreSQL), how commits wake it, and where it
    publishes (the in-process hub, or Redis for every web process)."""

    def __init__(self, config: Config, publish_here=None, worker: bool = False) -> None:
        from models.event import on_commit_of_events
        from tasks.coalesce import Coalesced
        from tasks.fanout import RedisFanout
        from tasks.relay import EventRelay, Leadership

        self._stop = threading.Event()
        leadership = Leadership(config.database_url, worker) if config.database_url else None
        if config.embedded:
            self.fanout = None
            self.relay = EventRelay(publish_here, leadership)
            self._wake = self.relay.wake
        else:
            self.fanout = RedisFanout(config.redis_url, config.database_url)
            self.relay = EventRelay(self.fanout.publish_events, leadership)
            self._wake_elsewhere = Coalesced(self.fanout.wake_relay, "relay-wakes")
            self._wake = self._wake_leader
            self.fanout.follow_wakes(self.relay.wake, self._stop, leading=lambda: self.relay.leading)
        on_commit_of_events(self._wake)
        self.relay.start()

    def _wake_leader(self) -> None:
        """The relay here, if it leads; else whichever does, over Redis."""
        if self.relay.leading:
            self.relay.wake()
        else:
            self._wake_elsewhere()

    def stop(self) -> None:
        from models.event import forget_waker

        forget_waker(self._wake)
        self._stop.set()
        self.relay.stop()


async def serve(config: Config, started: threading.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Serve until SIGINT/SIGTERM (or `stop`, for tests); `started` is set
    once the port is open."""
    from handlers.app import make_app
    from handlers.hub import EventHub
    from models.schema import migrate
    from tasks.coalesce import Coalesced
    from tasks.consumer import start_embedded
    from tasks.queue import queue_ping
    from tasks.settlement import request_settlement

    connect(config)
    write_marks = read_from_replica(config)
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(config.db_threads, thread_name_prefix="db")
    hub = EventHub(loop, executor)
    consumer = None
    if config.embedded:
        await loop.run_in_executor(None, migrate)
        await hub.start()
        pipeline = EventPipeline(config, publish_here=hub.receive_threadsafe)
        consumer = start_embedded(config.consumer_workers)
    else:
        pipeline = EventPipeline(config)
        await hub.start(config.redis_url, pipeline.fanout.events_channel)
    enqueue = Coalesced(request_settlement, "settlement-requests")
    app = make_app(
        executor=executor,
        hub=hub,
        enqueue=enqueue,
        queue_ping=queue_ping,
        cookie_secret=config.secret(),
        feed_send_timeout=config.feed_send_timeout,
        write_marks=write_marks,
    )
    server = app.listen(config.port, config.host, max_body_size=MAX_BODY_BYTES, xheaders=config.trust_proxy_headers)
    mode = "embedded" if config.embedded else "services"
    log.info("serving on http://%s:%d (%s mode)", config.host, config.port, mode)
    stop = stop or asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        # A process of its own (tests run servers on threads of theirs, and
        # keep their signals and their collector).
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        settle_heap()
    if started is not None:
        started.set()
    await stop.wait()
    log.info("shutting down")
    server.stop()
    if not await app.settings["in_flight"].drained(SHUTDOWN_GRACE_SECONDS):
        log.warning("stopping with %d requests still unanswered", app.settings["in_flight"].count)
    await server.close_all_connections()
    await loop.run_in_executor(None, enqueue.flush)
    if consumer is not None:
        await loop.run_in_executor(None, lambda: consumer.stop(graceful=True))
    await loop.run_in_executor(None, pipeline.stop)
    await hub.close()
    executor.shutdown(wait=True)
    if write_marks is not None:
        from models.db import disconnect_replica

        disconnect_replica()


def read_from_replica(config: Config):
    """With READ_REPLICA_URL, start the replica's monitor and return the
    write marks that keep callers reading their own writes (models.replica)."""
    if not config.read_replica_url:
        return None
    if config.embedded or not config.database_url:
        sys.exit("READ_REPLICA_URL needs DATABASE_URL and REDIS_URL: a replica of PostgreSQL, marks in Redis")
    from models.db import connect_replica
    from models.replica import WriteMarks

    connect_replica(config.read_replica_url, config.database_url, config.replica_max_lag)
    return WriteMarks(config.redis_url, config.replica_max_lag)


def settle_heap() -> None:
    """Once started: what start-up made (modules, models, routes, templates)
    lives as long as the process, so it is moved out of the cyclic
    collector's sight (`gc.freeze`), and the collector runs once 10,000
    objects have been made rather than 700. A busy process makes and drops
    thousands of objects a request; collecting that often, through every
    long-lived object each time, was about 3 % of a web process's time."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def run_worker(config: Config, workers: int) -> None:
    from tasks.consumer import run_worker as run_consumer

    if config.embedded:
        sys.exit("worker needs REDIS_URL: without it the server settles payments itself")
    connect(config)
    if config.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(config.metrics_port, addr=config.host)
    pipeline = EventPipeline(config, worker=True)
    settle_heap()
    try:
        run_consumer(workers)
    finally:
        pipeline.stop()


def seed_demo() -> None:
    """The sample data: bob123 with 100.00 PHP, alice456 with 0.01 PHP, and a
    few more, funded by real deposits so that every invariant holds."""
    from models.account import SYSTEM_ACCOUNT, Account, create_account
    from models.db import in_transaction, read_only
    from models.intake import submit_deposit
    from models.settlement import settle_payment

    if read_only(lambda: Account.select().where(Account.id != SYSTEM_ACCOUNT).exists()):
        sys.exit("seed-demo loads into an empty database; this one has accounts")
    people = [
        ("bob123", "Bob", "bob@example.com", {"PHP": "100.00"}),
        ("alice456", "Alice", "alice@example.com", {"PHP": "0.01"}),
        ("carol789", "Carol", "carol@example.com", {"PHP": "2500.00", "USD": "120.00"}),
        ("dave42", "Dave", None, {"USD": "75.50", "EUR": "40.00"}),
        ("emi.tokyo", "Emi", "emi@example.jp", {"JPY": "15000"}),
    ]
    deposits: list[str] = []
    for account_id, owner, email, amounts in people:
        body = {"id": account_id, "owner": owner, "email": email, "currencies": sorted(amounts)}
        in_transaction(partial(create_account, body))
        for currency, amount in amounts.items():
            deposit = {"account": account_id, "currency": currency, "amount": amount, "description": "Opening deposit"}
            in_transaction(partial(submit_deposit, deposit, deposits.append))
    for payment_id in deposits:
        settle_payment(payment_id)
    print(f"seeded {len(people)} accounts with {len(deposits)} settled deposits")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="server.py", description="Payment Gateway")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("serve", help="run the web server")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    commands.add_parser("migrate", help="bring the database up to date")
    worker = commands.add_parser("worker", help="run a settlement worker")
    worker.add_argument("--workers", type=int, default=4, help="worker threads (default 4)")
    admin = commands.add_parser("create-admin", help="create a dashboard operator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--role", default="admin", choices=("admin", "viewer"))
    token = commands.add_parser("create-token", help="create an API token; prints it alone on the last line")
    token.add_argument("--name", required=True)
    token.add_argument("--scope", required=True, choices=("read", "write", "admin"))
    commands.add_parser("audit", help="check the ledger's invariants")
    commands.add_parser("seed-demo", help="load the sample accounts")
    args = parser.parse_args(argv)

    config = Config.from_env(host=getattr(args, "host", None), port=getattr(args, "port", None))
    configure_logging(config)
    report_errors(config)
    command = args.command or "serve"
    if command == "serve":
        asyncio.run(serve(config))
        return
    if command == "worker":
        run_worker(config, args.workers)
        return

    from models.audit import run_audit
    from models.auth import ApiToken, Operator
    from models.db import in_transaction, read_only
    from models.errors import ApiError
    from models.schema import migrate

    connect(config)
    try:
        if command == "migrate":
            applied = migrate()
            print("applied: " + ", ".join(applied) if applied else "database is up to date")
        elif command == "create-admin":
            operator = in_transaction(lambda: Operator.register(args.email, args.password, args.role))
            print(f"created {operator.role} {operator.email}")
        elif command == "create-token":
            _, secret = in_transaction(lambda: ApiToken.issue(args.name, args.scope))
            print(f"created {args.scope} token {args.name!r}; it is shown only once:")
            print(secret)
        elif command == "audit":
            report = read_only(run_audit)
            print(json.dumps(report, indent=2))
            sys.exit(0 if report["ok"] else 1)
        elif command == "seed-demo":
            seed_demo()
    except ApiError as problem:
        sys.exit(f"{command}: {problem.message}")


if __name__ == "__main__":
    main()
