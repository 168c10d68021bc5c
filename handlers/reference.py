"""Currencies, the event log and the audit."""

from __future__ import annotations

from models.account import add_currency
from models.audit import run_audit
from models.currency import Currency
from models.event import event_json
from models.pagination import parse_limit
from models.queries import list_currencies, list_events
from models.serialize import currency_json

from .base import APIHandler, scope


class CurrenciesHandler(APIHandler):
    @scope("read")
    async def get(self) -> None:
        args, limit = self.query_args(), parse_limit(self.get_query_argument("limit", None))
        cursor = self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = list_currencies(args, limit, cursor)
            return {"data": [currency_json(c) for c in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))

    @scope("admin")
    async def post(self) -> None:
        created = await self.create(add_currency, id_of=lambda currency: currency.code)
        body = await self.run_db(lambda: currency_json(Currency.get_by_id(created.id)))
        self.send(body, 200 if created.replayed else 201, created.replayed)


class EventsHandler(APIHandler):
    @scope("read")
    async def get(self) -> None:
        args, limit = self.query_args(), parse_limit(self.get_query_argument("limit", None))
        cursor = self.get_query_argument("cursor", None)

        def work() -> dict:
            rows, next_cursor = list_events(args, limit, cursor)
            return {"data": [event_json(e) for e in rows], "next_cursor": next_cursor}

        self.send(await self.run_db(work))


class AuditHandler(APIHandler):
    @scope("admin")
    async def get(self) -> None:
        self.send(await self.run_db(run_audit))


default_handlers = [
    (r"/api/v1/currencies", CurrenciesHandler),
    (r"/api/v1/events", EventsHandler),
    (r"/api/v1/audit", AuditHandler),
]
