"""Exchange rates: the ones in force, setting and removing them, and each
pair's history."""

from __future__ import annotations

from models.pagination import parse_limit
from models.queries import list_rates, rate_history
from models.rates import current_rate, remove_rate, set_rate
from models.serialize import rate_json

from .base import APIHandler, scope


class RatesHandler(APIHandler):
    @scope("read")
    async def get(self) -> None:
        args, limit = self.query_args(), parse_limit(self.get_query_argument("limit", None))
        cursor = self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = list_rates(args, limit, cursor)
            return {"data": [rate_json(r) for r in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))


class RateHandler(APIHandler):
    def actor(self) -> str:
        """Who the history says set the rate: the token, by id and name."""
        assert self.token is not None  # @scope has authenticated it
        return f"token #{self.token.id} ({self.token.name})"

    @scope("read")
    async def get(self, base: str, quote: str) -> None:
        self.send(await self.run_db(lambda: rate_json(current_rate(base, quote))))

    @scope("admin")
    async def put(self, base: str, quote: str) -> None:
        body, actor = self.json_body(), self.actor()
        self.send(await self.run_transaction(lambda: rate_json(set_rate(base, quote, body, actor))))

    @scope("admin")
    async def delete(self, base: str, quote: str) -> None:
        actor = self.actor()
        self.send(await self.run_transaction(lambda: rate_json(remove_rate(base, quote, actor))))


class RateHistoryHandler(APIHandler):
    @scope("read")
    async def get(self, base: str, quote: str) -> None:
        limit, cursor = parse_limit(self.get_query_argument("limit", None)), self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = rate_history(base, quote, limit, cursor)
            return {"data": [rate_json(r) for r in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))


PAIR = r"/api/v1/rates/([^/]+)/([^/]+)"

default_handlers = [
    (r"/api/v1/rates", RatesHandler),
    (PAIR, RateHandler),
    (PAIR + "/history", RateHistoryHandler),
]
