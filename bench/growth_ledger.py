"""Large ledgers for `bench/growth.py`, written in bulk SQL straight into a
PostgreSQL database already migrated.

The ledger is one the gateway could have made: accounts, each with a PHP
balance funded by a completed deposit from `@system`, then transfers of
1.00 between neighbouring accounts, one in fifty failed for want of funds
(no entries). Each completed payment has its two entries, each entry its
`balance_after` in the balance's order, each balance the sum of its
entries, each payment its numbered event, each account its
`account.created`; the summaries hold what the payments do. So every
invariant holds and the audit passes. Payments are spread over the 60 days
before the build, oldest first by id as the gateway's ids sort; their ids
(`pay_00` and a number) sort below every id the gateway makes, and do not
carry their time as the gateway's do, so the payment list's date filters,
which bound ids by time, are not timed on these ledgers.

Triggers are off while loading (`session_replication_role = replica`):
foreign keys are checked by construction. The summaries are written from
the loaded rows in one statement each, as the events' tallies would be.
"""

from __future__ import annotations

import time

import psycopg2

CURRENCY = "PHP"
DEPOSIT = 100_000  # 1,000.00 each account starts with
TRANSFER = 100  # 1.00 each transfer moves
FAILED_EVERY = 50
SPAN_DAYS = 60
CHUNK = 1_000_000  # payments written per statement


def accounts_for(payments: int) -> int:
    """One account for every ten payments, as the issue's ledgers had."""
    return max(payments // 10, 100)


def build(url: str, payments: int) -> dict:
    """Fill the migrated, empty database at `url` with `payments` payments
    among `accounts_for(payments)` accounts; returns what was made and how
    long it took."""
    started = time.perf_counter()
    accounts = accounts_for(payments)
    with _session(url) as cur:
        cur.execute(
            "INSERT INTO account (id, owner, email, active, created_at, updated_at)"
            " SELECT 'acct' || lpad(i::text, 9, '0'), 'Customer ' || i, 'customer' || i || '@example.com', true,"
            " now()::timestamp - interval '61 days' + i * interval '1 ms',"
            " now()::timestamp - interval '61 days' + i * interval '1 ms'"
            " FROM generate_series(1, %s) AS i",
            (accounts,),
        )
        cur.execute(
            "INSERT INTO balance (id, account_id, currency_id, amount, held, min_balance, active, created_at, updated_at)"
            " SELECT 'bal_' || lpad(i::text, 9, '0'), 'acct' || lpad(i::text, 9, '0'), %s, 0, 0, 0, true,"
            " now()::timestamp - interval '61 days', now()::timestamp - interval '61 days'"
            " FROM generate_series(1, %s) AS i",
            (CURRENCY, accounts),
        )
        cur.execute(
            "INSERT INTO event (seq, type, created_at, account_a, data)"
            " SELECT coalesce((SELECT max(seq) FROM event), 0) + row_number() OVER (ORDER BY created_at, id),"
            " 'account.created', created_at, id, json_build_object('id', id, 'owner', owner)::text"
            " FROM account WHERE id LIKE 'acct%%'"
        )
        cur.execute(
            "INSERT INTO balance_tally (currency_id, balances) VALUES (%s, %s)",
            (CURRENCY, accounts),
        )
    add_payments(url, payments, accounts, first=1, spread_days=SPAN_DAYS)
    return {"payments": payments, "accounts": accounts, "build_s": round(time.perf_counter() - started, 1)}


def add_payments(url: str, count: int, accounts: int, first: int, spread_days: float = 0.0) -> None:
    """Payments numbered first..first+count-1 (a number up to `accounts` is
    that account's deposit, a later one a transfer), made over the last
    `spread_days` (0: now), settled against the balances as they stand."""
    for start in range(first, first + count, CHUNK):
        with _session(url) as cur:
            _add_chunk(cur, start, min(CHUNK, first + count - start), accounts, first, count, spread_days)


def _add_chunk(cur, start: int, count: int, accounts: int, first: int, total: int, spread_days: float) -> None:
    cur.execute("SELECT id FROM balance WHERE account_id = '@system' AND currency_id = %s", (CURRENCY,))
    (system,) = cur.fetchone()
    cur.execute(
        "CREATE TEMPORARY TABLE made ON COMMIT DROP AS"
        " SELECT j, 'pay_00' || lpad(j::text, 24, '0') AS id,"
        " CASE WHEN j <= %(a)s THEN 'deposit' ELSE 'transfer' END AS kind,"
        " CASE WHEN j > %(a)s AND j %% %(every)s = 0 THEN 'failed' ELSE 'completed' END AS status,"
        " CASE WHEN j <= %(a)s THEN '@system' ELSE 'acct' || lpad(((j - 1) %% %(a)s + 1)::text, 9, '0') END"
        "   AS from_account,"
        " CASE WHEN j <= %(a)s THEN 'acct' || lpad(j::text, 9, '0')"
        "   ELSE 'acct' || lpad((j %% %(a)s + 1)::text, 9, '0') END AS to_account,"
        " CASE WHEN j <= %(a)s THEN %(system)s ELSE 'bal_' || lpad(((j - 1) %% %(a)s + 1)::text, 9, '0') END"
        "   AS from_balance,"
        " CASE WHEN j <= %(a)s THEN 'bal_' || lpad(j::text, 9, '0')"
        "   ELSE 'bal_' || lpad((j %% %(a)s + 1)::text, 9, '0') END AS to_balance,"
        " CASE WHEN j <= %(a)s THEN %(deposit)s ELSE %(transfer)s END::numeric AS amount,"
        " now()::timestamp - %(span)s * interval '1 day' * (1 - (j - %(first)s)::float8 / %(total)s) AS created_at"
        " FROM generate_series(%(start)s, %(end)s) AS j",
        {
            "a": accounts,
            "every": FAILED_EVERY,
            "system": system,
            "deposit": DEPOSIT,
            "transfer": TRANSFER,
            "span": spread_days,
            "first": first,
            "total": total,
            "start": start,
            "end": start + count - 1,
        },
    )
    cur.execute(
        "INSERT INTO payment (id, kind, status, failure_code, from_account, to_account, from_balance, to_balance,"
        " amount, currency, created_at, settled_at, capture, reversed_amount, in_atomic_group)"
        " SELECT id, kind, status, CASE WHEN status = 'failed' THEN 'insufficient_funds' END, from_account,"
        " to_account, from_balance, to_balance, amount, %s, created_at, created_at + interval '5 ms', 'automatic',"
        " 0, false FROM made ORDER BY j",
        (CURRENCY,),
    )
    # Each balance's entries in order, `balance_after` running on from
    # what the balance held before this chunk.
    cur.execute(
        "INSERT INTO entry (payment_id, balance_id, direction, amount, balance_after, created_at)"
        " SELECT e.id, e.balance, e.direction, e.amount,"
        " b.amount + sum(CASE e.direction WHEN 'incoming' THEN e.amount ELSE -e.amount END)"
        "   OVER (PARTITION BY e.balance ORDER BY e.j, e.leg),"
        " e.created_at + interval '5 ms'"
        " FROM (SELECT j, 0 AS leg, id, from_balance AS balance, 'outgoing' AS direction, amount, created_at"
        "       FROM made WHERE status = 'completed'"
        "       UNION ALL SELECT j, 1, id, to_balance, 'incoming', amount, created_at"
        "       FROM made WHERE status = 'completed') AS e"
        " JOIN balance b ON b.id = e.balance ORDER BY e.j, e.leg"
    )
    cur.execute(
        "UPDATE balance SET amount = balance.amount + moved.net, updated_at = moved.at FROM ("
        " SELECT balance, sum(net) AS net, max(created_at) AS at FROM ("
        "   SELECT from_balance AS balance, -amount AS net, created_at FROM made WHERE status = 'completed'"
        "   UNION ALL SELECT to_balance, amount, created_at FROM made WHERE status = 'completed') AS legs"
        " GROUP BY balance) AS moved WHERE balance.id = moved.balance"
    )
    cur.execute(
        "INSERT INTO event (seq, type, created_at, account_a, account_b, data)"
        " SELECT (SELECT coalesce(max(seq), 0) FROM event) + row_number() OVER (ORDER BY j),"
        " 'payment.' || status, created_at + interval '5 ms', from_account, to_account,"
        # Compact, `id` first, as the gateway writes an event's data.
        ' format(\'{"id":"%%s","kind":"%%s","status":"%%s","failure_code":%%s,'
        '"from_account":"%%s","to_account":"%%s","from_balance":"%%s","to_balance":"%%s",'
        '"amount":"%%s","currency":"%%s","created_at":"%%s"}\','
        " id, kind, status, CASE WHEN status = 'failed' THEN '\"insufficient_funds\"' ELSE 'null' END,"
        " from_account, to_account, from_balance, to_balance, to_char(amount / 100, 'FM999999999990.00'), %s,"
        ' to_char(created_at, \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'))'
        " FROM made ORDER BY j",
        (CURRENCY,),
    )
    cur.execute("INSERT INTO payment_status_tally (status, payments) SELECT status, count(*) FROM made GROUP BY status")
    cur.execute(
        "INSERT INTO payment_volume_tally (currency_id, day, payments, amount)"
        " SELECT %s, created_at::date, count(*), sum(amount) FROM made WHERE status = 'completed'"
        " GROUP BY created_at::date",
        (CURRENCY,),
    )


class _session:
    """A transaction on `url` with triggers off and room to sort in memory."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg2.connect(url)

    def __enter__(self):
        cur = self.conn.cursor()
        cur.execute("SET session_replication_role = replica")
        cur.execute("SET work_mem = '256MB'")
        cur.execute("SET maintenance_work_mem = '512MB'")
        return cur

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.conn.commit()
        self.conn.close()


def vacuum(url: str) -> None:
    """Statistics and visibility maps brought up to date, as autovacuum
    would have done over the ledger's life."""
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    conn.close()
