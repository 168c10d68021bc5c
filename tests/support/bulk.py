"""Large ledgers made quickly: settled payments and their entries written straight into the database, consistent with every invariant."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta


def alternating_transfers(first: dict, second: dict, pairs: int, minor: int, start: datetime) -> None:
    """`pairs` completed transfers of `minor` units from the `first` balance
    to the `second` and as many back, alternating, one microsecond apart
    from `start`, each with its two entries: `first` must hold `minor` units
    and `second` none, and both end as they began. Balances are the API's
    balance objects."""
    from models.bulk import insert_rows
    from models.ids import new_id
    from models.ledger import Entry, Payment
    from models.retry import retried_transaction

    chunk = 5000
    for offset in range(0, 2 * pairs, chunk):
        payments, entries = [], []
        for n in range(offset, min(offset + chunk, 2 * pairs)):
            source, target = (first, second) if n % 2 == 0 else (second, first)
            at = start + timedelta(microseconds=n)
            payment_id = new_id("pay")
            payments.append(
                {
                    "id": payment_id,
                    "kind": "transfer",
                    "status": "completed",
                    "from_account": source["account"],
                    "to_account": target["account"],
                    "from_balance": source["id"],
                    "to_balance": target["id"],
                    "amount": minor,
                    "currency": source["currency"],
                    "reversed_amount": 0,
                    "capture": "automatic",
                    "in_atomic_group": False,
                    "created_at": at,
                    "settled_at": at,
                }
            )
            entries.append(
                {
                    "payment": payment_id,
                    "balance": source["id"],
                    "direction": "outgoing",
                    "amount": minor,
                    "balance_after": 0,
                    "created_at": at,
                }
            )
            entries.append(
                {
                    "payment": payment_id,
                    "balance": target["id"],
                    "direction": "incoming",
                    "amount": minor,
                    "balance_after": minor,
                    "created_at": at,
                }
            )
        retried_transaction(functools.partial(insert_rows, (Payment, payments), (Entry, entries)))


def fill(sqlite_path: str, first: dict, second: dict, pairs: int, minor: int, start: datetime) -> None:
    """`alternating_transfers` into the SQLite database of another deployment
    (run in a process of its own: this one's models are bound to the suite's)."""
    from pathlib import Path

    from models.connection import connect

    connect(None, Path(sqlite_path))
    alternating_transfers(first, second, pairs, minor, start)


if __name__ == "__main__":
    import json
    import sys

    path, first, second, pairs, minor, start = sys.argv[1:]
    fill(path, json.loads(first), json.loads(second), int(pairs), int(minor), datetime.fromisoformat(start))
