"""Bringing a database up to date: migrations, then reference data.

Safe to run from several processes at once (every web and worker container
runs it at start): on PostgreSQL an advisory lock lets one at a time in, and
each step is a no-op when already done.
"""

from __future__ import annotations

import logging
from pathlib import Path

from playhouse.migrations import Runner

from .account import SYSTEM_ACCOUNT, Account, open_system_balance
from .connection import atomic, database, is_sqlite
from .currency import Currency, iso_currencies

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_ID = 0x70677700  # any constant, shared by every process of this service


def migrate() -> list[str]:
    """Apply pending migrations and load ISO 4217 currencies with their
    `@system` balances. Returns the names of the migrations applied."""
    with database.connection_context():
        if not is_sqlite():
            database.execute_sql("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            applied = Runner(database.obj, str(MIGRATIONS)).up()
            with atomic():
                _load_reference_data()
        finally:
            if not is_sqlite():
                database.execute_sql("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    for name in applied:
        log.info("applied migration %s", name)
    return applied


def _load_reference_data() -> None:
    Account.insert(id=SYSTEM_ACCOUNT, owner="System").on_conflict_ignore().execute()
    known = {c.code for c in Currency.select(Currency.code)}
    for code, name, exponent in iso_currencies():
        if code not in known:
            Currency.create(code=code, name=name, exponent=exponent, custom=False)
    for currency in Currency.select():
        open_system_balance(currency)
