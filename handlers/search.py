"""Search across payments and accounts."""

from __future__ import annotations

from models.pagination import parse_count
from models.search import DEFAULT_LIMIT, MAX_LIMIT, check_query, search
from models.serialize import account_json, payment_json

from .base import APIHandler, scope


def search_json(text: str, limit: int) -> dict:
    accounts, balances, payments = search(text, limit)
    return {
        "query": text,
        "accounts": [account_json(account, balances=balances[account.id]) for account in accounts],
        "payments": [payment_json(payment) for payment in payments],
    }


class SearchHandler(APIHandler):
    @scope("read")
    async def get(self) -> None:
        args = self.query_args()
        text = check_query(args.get("q"))
        limit = parse_count("limit", args["limit"], 1, MAX_LIMIT) if "limit" in args else DEFAULT_LIMIT
        self.send(await self.run_db(lambda: search_json(text, limit)))


default_handlers = [(r"/api/v1/search", SearchHandler)]
