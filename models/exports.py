"""CSV exports: a balance's statement and a filtered list of payments, as
lines of text read a batch at a time, so that a caller can stream any
number of them in bounded memory (`handlers.exports`)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .account import Balance
from .ledger import Payment
from .pagination import encode_cursor
from .queries import read_payments
from .serialize import iso, money, payment_json
from .statements import Period, statement_batch

BATCH = 1000
# A batch's lines and where the next batch starts (None: that was the last).
Batch = tuple[list[list[str]], Any]

PAYMENT_COLUMNS = (
    "id",
    "created_at",
    "settled_at",
    "kind",
    "status",
    "failure_code",
    "from_account",
    "to_account",
    "amount",
    "currency",
    "target_amount",
    "target_currency",
    "reference",
    "description",
    "metadata",
)


def csv_text(lines: Iterable[Iterable[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return buffer.getvalue()


def statement_lines(balance: Balance, period: Period, after: tuple[datetime, int] | None, size: int = BATCH) -> Batch:
    """The statement's lines after `after` (None: from the start), as
    STATEMENT_COLUMNS, amounts in the balance's currency."""
    code = balance.currency_id
    rows = statement_batch(balance, period, after, size)
    lines = []
    for moment, entry_id, payment_id, kind, direction, amount, after_it, payer, payee, reference, description in rows:
        counterparty = payee if direction == "outgoing" else payer
        lines.append(
            [
                iso(moment) or "",
                str(entry_id),
                payment_id,
                kind,
                direction,
                money(amount, code) or "",
                code,
                money(after_it, code) or "",
                counterparty,
                reference or "",
                description or "",
            ]
        )
    following = (rows[-1][0], rows[-1][1]) if len(rows) == size else None
    return lines, following


def payment_lines(args: dict, cursor: str | None, size: int = BATCH) -> Batch:
    """The filtered payments' lines after `cursor` (None: from the first),
    in the list's order, as PAYMENT_COLUMNS."""
    rows: list[Payment] = read_payments(args, cursor, size)
    lines = []
    for payment in rows:
        body = payment_json(payment)
        metadata = body["metadata"]
        body["metadata"] = json.dumps(metadata, sort_keys=True) if metadata else ""
        lines.append(["" if body[name] is None else str(body[name]) for name in PAYMENT_COLUMNS])
    following = encode_cursor([rows[-1].id]) if len(rows) == size else None
    return lines, following
