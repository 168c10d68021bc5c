"""How long each dashboard page takes the server with 10,000 payments.

    python -m bench.pages [--payments 10000] [--accounts 200] [--rounds 20]

Fills a new embedded database (a temporary DATA_DIR) through the domain
functions (intake, then settlement, so every payment is real and the ledger
balances), starts `server.py serve` on it, logs in as an operator and asks
for every page `--rounds` times. The server's own time for each answer is
read from its `Server-Timing` header (the handler's time from the request's
arrival to the page's last byte, database included, network excluded).
Prints the median and worst time per page, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench password"
BATCH = 200


def not_queued() -> None:
    """The benchmark settles every payment itself, at once."""


def fill(payments: int, accounts: int) -> dict:
    """`accounts` accounts funded by a deposit each, then transfers between
    them until there are `payments` payments, all settled. Returns an id of
    each kind of thing a page is about."""
    from models.account import create_account
    from models.auth import Operator
    from models.intake import submit_deposit, submit_transfer
    from models.retry import retried_transaction
    from models.settlement import settle_payment

    rng = random.Random(10_000)
    ids = [f"cust{n:04d}" for n in range(accounts)]
    pending = []
    for account_id in ids:
        retried_transaction(
            partial(create_account, {"id": account_id, "owner": f"Customer {account_id}", "currencies": ["PHP"]})
        )
        cash = {"account": account_id, "currency": "PHP", "amount": "100000.00"}
        pending.append(retried_transaction(partial(submit_deposit, cash, not_queued)).id)
    while len(pending) < payments:
        count = min(BATCH, payments - len(pending))

        def batch(count=count) -> list[str]:
            made = []
            for _ in range(count):
                sender, receiver = rng.sample(ids, 2)
                amount = f"{rng.randint(1, 50000) / 100:.2f}"
                body = {"from_account": sender, "to_account": receiver, "amount": amount}
                made.append(submit_transfer(body, not_queued).id)
            return made

        pending += retried_transaction(batch)
    for payment_id in pending:
        settle_payment(payment_id)
    retried_transaction(lambda: Operator.register("bench@example.com", PASSWORD))
    return {"account": ids[0], "payment": pending[-1]}


def server_ms(session, path: str) -> float:
    page = session.get(path)
    assert page.status == 200, (path, page.status, page.text[:200])
    return float(page.headers["server-timing"].split("dur=")[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="gateway-bench-pages-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATA_DIR=data_dir, LOG_LEVEL="warning")

    from config import Config
    from deploy.processes import free_port, spawn
    from models.connection import connect
    from models.schema import migrate
    from tools.dashboard import Session

    config = Config.from_env(env)
    connect(config.database_url, config.sqlite_path)
    migrate()

    started = time.monotonic()
    ids = fill(args.payments, args.accounts)
    print(f"filled {args.payments} payments in {time.monotonic() - started:.0f} s ({data_dir})", flush=True)

    port = free_port()
    server = spawn(["serve", "--port", str(port)], env)
    try:
        session = Session(f"http://127.0.0.1:{port}")
        for _ in range(100):
            try:
                session.get("/login")
                break
            except OSError:
                time.sleep(0.1)
        assert session.login("bench@example.com", PASSWORD).status == 303
        pages = [
            "/",
            "/accounts",
            f"/accounts/{ids['account']}",
            "/payments",
            "/payments?status=completed",
            f"/payments?account={ids['account']}",
            f"/payments/{ids['payment']}",
            "/payments/new",
            "/currencies",
            "/rates",
            "/tokens",
            "/audit",
        ]
        print(f"{'page':<44} {'median ms':>10} {'worst ms':>9}")
        for path in pages:
            server_ms(session, path)  # warm the per-process caches
            times = [server_ms(session, path) for _ in range(args.rounds)]
            print(f"{path[:44]:<44} {statistics.median(times):>10.1f} {max(times):>9.1f}", flush=True)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
