"""Search: what an operator types to find a payment or an account.

Payments are found by their id (or a prefix of it, at least
ID_PREFIX_MIN characters), their reference, or the words of their
description; accounts by their id (or a prefix), their email, or the words
of their owner's name. Each way is one query through an index made for it
(migrations 0009 and 0010), limited to the page; the answers are merged,
newest payments and oldest accounts first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from peewee import SQL

from .account import Account, Balance
from .connection import is_sqlite
from .errors import invalid
from .ledger import Payment

QUERY_MAX_LENGTH = 200
# What check_query takes (query values never hold NUL): a character that
# str.strip() keeps, among any others.
_SPACES = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
QUERY_PATTERN = rf"^[^\x00]*[^\x00{_SPACES}][^\x00]*$"
ID_PREFIX_MIN = 6
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Words as both text-search indexes split them (letters and digits); at
# most MAX_WORDS are used.
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 8


def check_query(raw: str | None) -> str:
    """The search text: 1 to QUERY_MAX_LENGTH characters, not only spaces."""
    text = (raw or "").strip()
    if not text or len(raw or "") > QUERY_MAX_LENGTH:
        raise invalid({"q": f"must be 1 to {QUERY_MAX_LENGTH} characters, not only spaces"}, "invalid_request", 400)
    return text


def search(text: str, limit: int) -> tuple[list[Account], dict[str, list[Balance]], list[Payment]]:
    """The accounts (with their balances) and payments `text` finds, at most
    `limit` of each."""
    payments = _merged((list(q) for q in payment_searches(text, limit)), limit, newest_first=True)
    accounts = _merged((list(q) for q in account_searches(text, limit)), limit, newest_first=False)
    balances: dict[str, list[Balance]] = {account.id: [] for account in accounts}
    if accounts:
        for balance in Balance.select().where(Balance.account.in_(list(balances))).order_by(Balance.currency):
            balances[balance.account_id].append(balance)
    return accounts, balances, payments


def payment_searches(text: str, limit: int) -> list[Any]:
    """The queries that find payments: by id, id prefix, reference, words."""
    words = _WORD.findall(text.lower())[:MAX_WORDS]
    queries = [_payments(Payment.id == text), _payments(Payment.reference == text, limit)]
    if len(text) >= ID_PREFIX_MIN:
        queries.append(_payments(_prefix(Payment.id, text), limit))
    if words:
        queries.append(_payments(_words_match("payment", "description", words), limit))
    return queries


def account_searches(text: str, limit: int) -> list[Any]:
    """The queries that find accounts: by id, id prefix, email, owner's words."""
    words = _WORD.findall(text.lower())[:MAX_WORDS]
    queries = [
        _accounts(Account.id == text),
        _accounts((SQL("lower(email)") == text.lower()) & Account.email.is_null(False), limit),
    ]
    if len(text) >= ID_PREFIX_MIN:
        queries.append(_accounts(_prefix(Account.id, text), limit))
    if words:
        queries.append(_accounts(_words_match("account", "owner", words), limit))
    return queries


def _payments(condition: Any, limit: int = 1) -> Any:
    return Payment.select().where(condition).order_by(Payment.id.desc()).limit(limit)


def _accounts(condition: Any, limit: int = 1) -> Any:
    return Account.select().where(condition).order_by(Account.created_at, Account.id).limit(limit)


def _merged(found: Iterable[list], limit: int, newest_first: bool) -> list:
    unique = {row.id: row for rows in found for row in rows}
    if newest_first:
        return sorted(unique.values(), key=lambda p: p.id, reverse=True)[:limit]
    return sorted(unique.values(), key=lambda a: (a.created_at, a.id))[:limit]


def _prefix(field: Any, prefix: str) -> Any:
    """Ids that start with `prefix`, through an index: on SQLite a range of
    the primary key; on PostgreSQL LIKE, served by a text_pattern_ops index."""
    if is_sqlite():
        return (field >= prefix) & (field < prefix + "\U0010ffff")
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return SQL(f'"t1"."{field.column_name}" LIKE %s', [escaped + "%"])


def _words_match(table: str, column: str, words: list[str]) -> Any:
    """Rows of `table` whose `column` holds every word (each as a prefix of
    a word): FTS5 on SQLite, the `simple` text-search vector on PostgreSQL."""
    if is_sqlite():
        terms = " ".join(f'"{word}"*' for word in words)
        return SQL(f'"t1"."id" IN (SELECT id FROM {table}_words WHERE {table}_words MATCH ?)', [terms])
    terms = " & ".join(f"{word}:*" for word in words)
    return SQL(f"to_tsvector('simple', \"t1\".\"{column}\") @@ to_tsquery('simple', %s)", [terms]) & SQL(
        f'"t1"."{column}" IS NOT NULL'
    )
