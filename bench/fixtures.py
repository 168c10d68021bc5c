"""Data for benchmarks, loaded in bulk straight into the benchmark database.

Accounts are funded the way the ledger would have done it (a completed
deposit with its two entries, the `@system` balance going negative), so the
audit still holds afterwards; only the speed of loading differs.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import cast

from models.account import SYSTEM_ACCOUNT, Account, Balance
from models.connection import utcnow
from models.ids import new_id
from models.ledger import COMPLETED, MANUAL, PENDING, Entry, Payment
from models.retry import retried_transaction

CHUNK = 2000


def funded_accounts(count: int, currency: str, minor_units: int, prefix: str = "bench") -> list[str]:
    """`count` accounts named prefix000000.., each holding `minor_units`."""
    ids = [f"{prefix}{n:06d}" for n in range(count)]
    system = retried_transaction(
        lambda: Balance.get((Balance.account == SYSTEM_ACCOUNT) & (Balance.currency == currency))
    )
    for start in range(0, count, CHUNK):
        retried_transaction(partial(_fund, ids[start : start + CHUNK], currency, minor_units, system.id))
    return ids


def _fund(account_ids: list[str], currency: str, minor_units: int, system_balance: str) -> None:
    now = utcnow()
    system = Balance.lock_for_update([system_balance])[system_balance]
    Account.insert_many([{"id": a, "owner": a, "created_at": now, "updated_at": now} for a in account_ids]).execute()
    balances = [
        {
            "id": new_id("bal"),
            "account": a,
            "currency": currency,
            "amount": minor_units,
            "created_at": now,
            "updated_at": now,
        }
        for a in account_ids
    ]
    Balance.insert_many(balances).execute()
    payments, entries = [], []
    for balance in balances:
        payment_id = new_id("pay")
        system.amount -= minor_units
        payments.append(
            {
                "id": payment_id,
                "kind": "deposit",
                "status": COMPLETED,
                "from_account": SYSTEM_ACCOUNT,
                "to_account": balance["account"],
                "from_balance": system_balance,
                "to_balance": balance["id"],
                "amount": minor_units,
                "currency": currency,
                "created_at": now,
                "settled_at": now,
            }
        )
        entries.append(
            {
                "payment": payment_id,
                "balance": system_balance,
                "direction": "outgoing",
                "amount": minor_units,
                "balance_after": system.amount,
                "created_at": now,
            }
        )
        entries.append(
            {
                "payment": payment_id,
                "balance": balance["id"],
                "direction": "incoming",
                "amount": minor_units,
                "balance_after": minor_units,
                "created_at": now,
            }
        )
    Payment.insert_many(payments).execute()
    Entry.insert_many(entries).execute()
    system.save()


def _insert_payments(rows: list[dict]) -> None:
    Payment.insert_many(rows).execute()


def pending_transfers(pairs: list[tuple[str, str]], currency: str, minor_units: int, held: bool = False) -> list[str]:
    """Pending transfers between the given accounts, as intake leaves them
    (`held`: holds, to be authorized and captured later)."""
    # (account id, balance id) rows: .tuples() gives tuples, Peewee's stubs keep the model's type.
    balance_rows = retried_transaction(
        lambda: list(Balance.select(Balance.account, Balance.id).where(Balance.currency == currency).tuples())
    )
    balance_of = dict(cast("list[tuple[str, str]]", balance_rows))
    ids = []
    for start in range(0, len(pairs), CHUNK):
        rows = []
        for sender, receiver in pairs[start : start + CHUNK]:
            ids.append(new_id("pay"))
            rows.append(
                {
                    "id": ids[-1],
                    "kind": "transfer",
                    "status": PENDING,
                    "from_account": sender,
                    "to_account": receiver,
                    "from_balance": balance_of[sender],
                    "to_balance": balance_of[receiver],
                    "amount": minor_units,
                    "currency": currency,
                    "created_at": utcnow(),
                    **({"capture": MANUAL, "hold_expires_at": utcnow() + timedelta(days=1)} if held else {}),
                }
            )
        retried_transaction(partial(_insert_payments, rows))
    return ids
