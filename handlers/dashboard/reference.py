"""Currencies (the list, adding a custom one) and exchange rates (the ones in
force, setting and removing them)."""

from __future__ import annotations

from models.account import add_currency
from models.errors import ApiError
from models.queries import list_currencies, list_rates
from models.rates import remove_rate, set_rate
from models.reports import currencies_in_use
from models.serialize import currency_json, rate_json

from .base import PageHandler, admin_only, viewer
from .forms import Arguments, CurrencyFilterForm, CurrencyForm, RateForm, currency_choices, show_refusal

CURRENCIES_PAGE = 200
RATES_PAGE = 100


def currencies_page(args: dict, cursor: str | None) -> dict:
    rows, next_cursor = list_currencies(args, CURRENCIES_PAGE, cursor)
    return {"currencies": [currency_json(c) for c in rows], "next_cursor": next_cursor}


def rates_page(cursor: str | None) -> dict:
    """One page of the rates in force, the active currencies a rate can be
    set between, and those customers hold (three queries)."""
    rows, next_cursor = list_rates({}, RATES_PAGE, cursor)
    active, _ = list_currencies({"active": "true"}, 10_000, None)
    return {
        "rates": [rate_json(r) for r in rows],
        "next_cursor": next_cursor,
        "codes": [c.code for c in active],
        "held": currencies_in_use(),
    }


def proposed_pair(codes: list[str], held: list[str]) -> tuple[str, str]:
    """The pair a new rate's form proposes: two different currencies,
    those customers hold first (else the first two there are)."""
    ordered = [code for code in held if code in codes] + [code for code in codes if code not in held]
    if len(ordered) < 2:
        return (ordered or [""])[0], (ordered or [""])[0]
    return ordered[0], ordered[1]


def _actor(handler: PageHandler) -> str:
    """Who a rate's history says set or removed it."""
    assert handler.operator is not None  # @admin_only let in a logged-in operator only
    return f"operator {handler.operator.email}"


class CurrenciesHandler(PageHandler):
    async def show(self, form: CurrencyForm, status: int = 200, problem: str | None = None) -> None:
        cursor = self.get_query_argument("cursor", None)
        filters = CurrencyFilterForm(Arguments.queried(self))
        args = filters.args() if filters.validate() else {}
        data = await self.run_db(lambda: currencies_page(args, cursor))
        self.render_page(
            "currencies.html", status, form=form, problem=problem, filters=filters, filtered=bool(args), **data
        )

    @viewer
    async def get(self) -> None:
        await self.show(CurrencyForm())

    @admin_only
    async def post(self) -> None:
        form = CurrencyForm(Arguments.posted(self))
        if not form.validate():
            await self.show(form, 422)
            return
        body = form.body()
        try:
            code = await self.run_transaction(lambda: add_currency(body).code)
        except ApiError as error:
            await self.show(form, error.status, show_refusal(form, error))
            return
        self.done("/currencies", f"Currency {code} added.")


class RatesHandler(PageHandler):
    """The rates in force; the form sets one (a new pair, or a new rate for
    a pair), prefilled from ?base=&quote= by each row's "Change" link."""

    async def show(self, form: RateForm, status: int = 200, problem: str | None = None) -> None:
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: rates_page(cursor))
        form.base.choices = form.quote.choices = currency_choices(data["codes"])
        if not form.base.data and not form.quote.data:
            form.base.data, form.quote.data = proposed_pair(data["codes"], data["held"])
        self.render_page("rates.html", status, form=form, problem=problem, **data)

    @viewer
    async def get(self) -> None:
        await self.show(RateForm(Arguments.queried(self)))

    @admin_only
    async def post(self) -> None:
        form = RateForm(Arguments.posted(self))
        if not form.validate():
            await self.show(form, 422)
            return
        base, quote, body, actor = form.base.data, form.quote.data, form.body(), _actor(self)
        try:
            await self.run_transaction(lambda: set_rate(base, quote, body, actor))
        except ApiError as error:
            await self.show(form, error.status, show_refusal(form, error))
            return
        self.done("/rates", f"Rate {base}/{quote} set to {form.rate.data}.")


class RateRemoveHandler(PageHandler):
    """Take a pair's rate out of force."""

    @admin_only
    async def post(self, base: str, quote: str) -> None:
        actor = _actor(self)
        await self.run_transaction(lambda: remove_rate(base, quote, actor))
        self.done("/rates", f"Rate {base}/{quote} removed: exchanges between them are refused until it is set again.")


default_handlers = [
    (r"/currencies", CurrenciesHandler),
    (r"/rates", RatesHandler),
    (r"/rates/([^/]+)/([^/]+)/remove", RateRemoveHandler),
]
