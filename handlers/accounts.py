"""Accounts, their balances and statements."""

from __future__ import annotations

from datetime import datetime

from models.account import Account, Balance, add_balance, create_account, update_account, update_balance
from models.connection import utcnow
from models.errors import not_found
from models.exports import statement_lines
from models.pagination import parse_limit
from models.queries import (
    account_with_balances,
    balance_entries,
    find_balance,
    list_accounts,
    list_payments,
    parse_time,
)
from models.serialize import account_json, account_payment_json, balance_json, entry_json, iso, money
from models.statements import (
    STATEMENT_COLUMNS,
    Period,
    amount_at,
    check_period,
    statement_entries,
    statement_summary,
)

from .base import APIHandler, scope
from .customer_access import account_in_path, balance_in_path
from .exports import stream_csv, wants_csv


def _account(account_id: str) -> Account:
    account = Account.get_or_none(Account.id == account_id)
    if account is None:
        raise not_found(f"account {account_id}")
    return account


def account_detail(account_id: str) -> dict:
    found = account_with_balances(account_id)
    if found is None:
        raise not_found(f"account {account_id}")
    account, balances = found
    return account_json(account, balances=balances)


class AccountsHandler(APIHandler):
    @scope("read")
    async def get(self) -> None:
        args, limit = self.query_args(), parse_limit(self.get_query_argument("limit", None))
        cursor = self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = list_accounts(args, limit, cursor)
            return {"data": [account_json(a, balances=a.balances) for a in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))

    @scope("write")
    async def post(self) -> None:
        created = await self.create(create_account, id_of=lambda account: account.id)
        body = await self.run_db(lambda: account_detail(created.id))
        self.send(body, 200 if created.replayed else 201, created.replayed)


class AccountHandler(APIHandler):
    @scope("read", customers=account_in_path)
    async def get(self, account_id: str) -> None:
        self.send(await self.run_db(lambda: account_detail(account_id)))

    @scope("admin")
    async def patch(self, account_id: str) -> None:
        body = self.json_body()
        account = await self.run_transaction(
            lambda: account_json(update_account(_account(account_id), body), with_balances=True)
        )
        self.send(account)


class AccountPaymentsHandler(APIHandler):
    @scope("read", customers=account_in_path)
    async def get(self, account_id: str) -> None:
        args, limit = self.query_args(), parse_limit(self.get_query_argument("limit", None))
        cursor = self.get_query_argument("cursor", None)

        def work() -> dict:
            _account(account_id)
            rows, next_cursor = list_payments(args, limit, cursor, account=account_id)
            return {"data": [account_payment_json(p, account_id) for p in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))


class AccountBalancesHandler(APIHandler):
    @scope("write")
    async def post(self, account_id: str) -> None:
        created = await self.create(lambda body: add_balance(_account(account_id), body), id_of=lambda b: b.id)
        body = await self.run_db(lambda: balance_json(find_balance(created.id)))
        self.send(body, 200 if created.replayed else 201, created.replayed)


def balance_at(balance: Balance, moment: datetime) -> dict:
    """What the balance held at `moment`."""
    return {
        "id": balance.id,
        "account": balance.account_id,
        "currency": balance.currency_id,
        "as_of": iso(moment),
        "amount": money(amount_at(balance.id, moment), balance.currency_id),
    }


class BalanceHandler(APIHandler):
    @scope("read", customers=balance_in_path)
    async def get(self, balance_id: str) -> None:
        as_of = parse_time("as_of", self.query_args().get("as_of"))
        if as_of is None:
            self.send(await self.run_db(lambda: balance_json(find_balance(balance_id))))
        else:
            self.send(await self.run_db(lambda: balance_at(find_balance(balance_id), as_of)))

    @scope("admin")
    async def patch(self, balance_id: str) -> None:
        body = self.json_body()
        self.send(await self.run_transaction(lambda: balance_json(update_balance(find_balance(balance_id), body))))


class BalanceEntriesHandler(APIHandler):
    @scope("read", customers=balance_in_path)
    async def get(self, balance_id: str) -> None:
        limit, cursor = parse_limit(self.get_query_argument("limit", None)), self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = balance_entries(find_balance(balance_id), limit, cursor)
            return {"data": [entry_json(e) for e in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))


def statement_json(balance: Balance, period: Period, limit: int, cursor: str | None) -> dict:
    summary = statement_summary(balance, period)
    rows, next_cursor = statement_entries(balance, period, limit, cursor)
    code = balance.currency_id
    return {
        "balance": balance.id,
        "account": balance.account_id,
        "currency": code,
        "from": iso(period.start),
        "to": iso(period.end),
        **{name: money(value, code) for name, value in summary.items()},
        "data": [entry_json(e) for e in rows],
        "next_cursor": next_cursor,
    }


class BalanceStatementHandler(APIHandler):
    """Opening, closing, money in and out, and the entries of [from, to):
    paged JSON, or the whole of it as streamed CSV."""

    @scope("read")
    async def get(self, balance_id: str) -> None:
        args = self.query_args()
        limit = parse_limit(args.get("limit"))
        as_csv = wants_csv(args, self.request.headers.get("Accept"))
        period = check_period(parse_time("from", args.get("from")), parse_time("to", args.get("to")) or utcnow())
        balance = await self.run_db(lambda: find_balance(balance_id))
        if not as_csv:
            self.send(await self.run_db(lambda: statement_json(balance, period, limit, args.get("cursor"))))
            return
        filename = f"statement-{balance.account_id}-{balance.currency_id}.csv"
        await stream_csv(self, filename, STATEMENT_COLUMNS, lambda after: statement_lines(balance, period, after))


ACCOUNT_ID = r"([^/]+)"

default_handlers = [
    (r"/api/v1/accounts", AccountsHandler),
    (rf"/api/v1/accounts/{ACCOUNT_ID}", AccountHandler),
    (rf"/api/v1/accounts/{ACCOUNT_ID}/payments", AccountPaymentsHandler),
    (rf"/api/v1/accounts/{ACCOUNT_ID}/balances", AccountBalancesHandler),
    (r"/api/v1/balances/([^/]+)", BalanceHandler),
    (r"/api/v1/balances/([^/]+)/entries", BalanceEntriesHandler),
    (r"/api/v1/balances/([^/]+)/statement", BalanceStatementHandler),
]
