"""The overview: what customers hold per currency, payments per status, a
chart of payment volume over the last 30 days, and the newest payments,
updating live."""

from __future__ import annotations

from models.queries import list_payments
from models.reports import customer_funds, daily_volume, payments_per_status
from models.serialize import payment_json

from .base import PageHandler, viewer
from .chart import volume_chart

NEWEST = 10


def overview(wanted_currency: str | None) -> dict:
    """The overview's figures, read in four queries however much data there
    is. The chart is of `wanted_currency` if customers hold it, else of the
    currency most balances are in."""
    funds = customer_funds()
    held = {row["currency"] for row in funds}
    currency = wanted_currency if wanted_currency in held else None
    if currency is None and funds:
        currency = max(funds, key=lambda row: row["balances"])["currency"]
    newest, _ = list_payments({}, NEWEST, None)
    return {
        "funds": funds,
        "statuses": payments_per_status(),
        "currency": currency,
        "volume": daily_volume(currency) if currency else [],
        "newest": [payment_json(p) for p in newest],
    }


class OverviewHandler(PageHandler):
    @viewer
    async def get(self) -> None:
        wanted = self.get_query_argument("currency", None)
        figures = await self.run_db(lambda: overview(wanted))
        chart = volume_chart(figures["volume"], figures["currency"], self.money_locale) if figures["currency"] else None
        self.render_page("overview.html", chart=chart, **figures)


default_handlers = [(r"/", OverviewHandler)]
