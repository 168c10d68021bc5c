"""Payment Gateway: the server and its commands.

python server.py [serve]        the web server (+ the consumer when embedded)
python server.py migrate        bring the database up to date
python server.py worker         a settlement worker (needs REDIS_URL), with its webhook sender
python server.py webhooks       a webhook sender alone
python server.py create-admin   --email E --password P [--role admin|viewer]
python server.py create-token   --name N --scope read|write|admin
python server.py audit          check the ledger's invariants since the last checkpoint (exit 1 if broken)
                   [--full [--replica]]  the whole ledger, streamed (on the replica if there is one)
python server.py seed-demo      load the sample accounts into an empty database
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from functools import partial

import redis
from peewee import InterfaceError, OperationalError

from config import Config, StartupError, redis_client, redis_place
from models.account import SYSTEM_ACCOUNT, Account, create_account
from models.audit import record_checkpoint, run_audit
from models.audit_full import audit_whole_ledger
from models.auth import ApiToken, Operator
from models.connection import connect, connect_replica, database
from models.errors import ApiError
from models.intake import submit_deposit
from models.retry import read_only, retried_transaction
from models.schema import migrate
from models.settlement import settle_payment
from tasks.worker import run_worker
from web.process import serve
from webhooks.process import run_sender

log = logging.getLogger("gateway")

# What an access log line carries besides its message (handlers.app.log_request).
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "remote_ip")
# What a line about a payment carries besides, so that one query by either
# id finds every line of its life, in every process: intake, settlement,
# the relay's publication, webhook attempts.
TRACE_FIELDS = ("payment_id",)


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
        entry.update({name: record.__dict__[name] for name in REQUEST_FIELDS + TRACE_FIELDS if name in record.__dict__})
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
    # Imported only when used: the SDK and its integrations weigh several
    # megabytes in every process.
    import sentry_sdk
    from sentry_sdk.integrations.tornado import TornadoIntegration

    sentry_sdk.init(dsn=config.sentry_dsn, integrations=[TornadoIntegration()], send_default_pii=False)


def reach_dependencies(config: Config) -> None:
    """Bind the models to the database and make sure it, and Redis when
    configured, answer: else one line that says what is wrong."""
    connect(config.database_url, config.sqlite_path)
    try:
        read_only(lambda: database.execute_sql("SELECT 1").fetchone(), attempts=1)
    except (OperationalError, InterfaceError) as problem:
        raise StartupError(_database_problem(config, problem)) from None
    if config.redis_url:
        try:
            redis_client(config.redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
        except redis.RedisError as problem:
            if config.redis_sentinels:
                raise StartupError(
                    f"{redis_place(config.redis_url)} cannot be reached ({problem}):"
                    " are the Sentinels running, and do they know REDIS_SENTINEL_MASTER?"
                ) from None
            raise StartupError(f"Redis at {config.redis_url} does not answer ({problem}): is it running?") from None


def _database_problem(config: Config, problem: Exception) -> str:
    if config.database_url is None:
        return f"the SQLite database {config.sqlite_path} cannot be opened: {problem}"
    text = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
    if "does not exist" in text and "database" in text:
        return f"{text}: create it first, for example with  createdb -h HOST -p PORT NAME"
    return f"PostgreSQL at {config.database_url} does not answer ({text}): is it running?"


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


def seed_demo() -> None:
    """The sample data: bob123 with 100.00 PHP, alice456 with 0.01 PHP, and a
    few more, funded by real deposits so that every invariant holds."""
    if read_only(lambda: Account.select().where(Account.id != SYSTEM_ACCOUNT).exists()):
        raise StartupError("seed-demo loads into an empty database; this one has accounts")
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
        retried_transaction(partial(create_account, body))
        for currency, amount in amounts.items():
            deposit = {"account": account_id, "currency": currency, "amount": amount, "description": "Opening deposit"}
            # Settled right here, below: nobody needs asking.
            deposits.append(retried_transaction(partial(submit_deposit, deposit, lambda: None)).id)
    for payment_id in deposits:
        settle_payment(payment_id)
    print(f"seeded {len(people)} accounts with {len(deposits)} settled deposits")


def audit_whole(config: Config, on_replica: bool) -> dict:
    """The whole-ledger audit, on the replica when asked and one is
    configured (and fresh enough); a sound ledger becomes the checkpoint
    the next incremental audit starts from."""
    if on_replica:
        if not (config.read_replica_url and config.database_url):
            raise StartupError("--replica needs DATABASE_URL and READ_REPLICA_URL")
        connect_replica(config.read_replica_url, config.database_url, config.replica_max_lag)
    report, head = read_only(audit_whole_ledger, replica_ok=on_replica)
    if report["ok"]:
        record_checkpoint(head, whole=True)
    return report


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="server.py", description="Payment Gateway")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("serve", help="run the web server")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    commands.add_parser("migrate", help="bring the database up to date")
    worker = commands.add_parser("worker", help="run a settlement worker")
    worker.add_argument("--workers", type=int, default=4, help="worker threads (default 4)")
    senders = commands.add_parser("webhooks", help="run a webhook sender")
    senders.add_argument("--owner", help="who runs it (a worker starts its own sender with this)")
    admin = commands.add_parser("create-admin", help="create a dashboard operator")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--role", default="admin", choices=("admin", "viewer"))
    token = commands.add_parser("create-token", help="create an API token; prints it alone on the last line")
    token.add_argument("--name", required=True)
    token.add_argument("--scope", required=True, choices=("read", "write", "admin"))
    audit = commands.add_parser("audit", help="check the ledger's invariants since the last checkpoint")
    audit.add_argument("--full", action="store_true", help="check the whole ledger, streamed")
    audit.add_argument("--replica", action="store_true", help="with --full: read from READ_REPLICA_URL")
    commands.add_parser("seed-demo", help="load the sample accounts")
    return parser.parse_args(argv)


def run_command(command: str, args: argparse.Namespace, config: Config) -> None:
    if command == "serve":
        config.secret()  # a weak secret is refused before anything starts
        asyncio.run(serve(config, on_ready=settle_heap))
    elif command == "worker":
        run_worker(config, args.workers, on_ready=settle_heap)
    elif command == "webhooks":
        run_sender(config, args.owner)
    elif command == "migrate":
        applied = migrate()
        print("applied: " + ", ".join(applied) if applied else "database is up to date")
    elif command == "create-admin":
        operator = retried_transaction(lambda: Operator.register(args.email, args.password, args.role))
        print(f"created {operator.role} {operator.email}")
    elif command == "create-token":
        _, secret = retried_transaction(lambda: ApiToken.issue(args.name, args.scope))
        print(f"created {args.scope} token {args.name!r}; it is shown only once:")
        print(secret)
    elif command == "audit":
        report = audit_whole(config, args.replica) if args.full else read_only(run_audit)
        print(json.dumps(report, indent=2))
        sys.exit(0 if report["ok"] else 1)
    elif command == "seed-demo":
        seed_demo()


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    config = Config.from_env(host=getattr(args, "host", None), port=getattr(args, "port", None))
    configure_logging(config)
    report_errors(config)
    command = args.command or "serve"
    try:
        reach_dependencies(config)
        run_command(command, args, config)
    except (StartupError, ApiError) as problem:
        sys.exit(f"server.py {command}: {problem}")


if __name__ == "__main__":
    main()
