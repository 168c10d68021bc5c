"""A balance's statement for a period, on a page and as CSV, and the CSV
export of a filtered payment list."""

from __future__ import annotations

from models.connection import utcnow
from models.errors import ApiError
from models.exports import PAYMENT_COLUMNS, payment_lines, statement_lines
from models.queries import find_balance, parse_time
from models.serialize import entry_json, iso, money
from models.statements import STATEMENT_COLUMNS, Period, check_period, statement_entries, statement_summary

from ..exports import stream_csv
from .base import PageHandler, viewer
from .forms import Arguments, PaymentFilterForm, StatementForm

PAGE_SIZE = 50


def _period(form: StatementForm) -> Period:
    if not form.validate():
        raise ApiError(400, "invalid_request", "The dates of the period are not dates.")
    args = form.args()
    return check_period(parse_time("from", args.get("from")), parse_time("to", args.get("to")) or utcnow())


def statement_page(balance_id: str, period: Period, cursor: str | None) -> dict:
    """The statement's figures and a page of its entries (four queries)."""
    balance = find_balance(balance_id)
    code = balance.currency_id
    rows, next_cursor = statement_entries(balance, period, PAGE_SIZE, cursor)
    summary = {name: money(value, code) for name, value in statement_summary(balance, period).items()}
    return {
        "balance": balance,
        "summary": summary,
        "entries": [entry_json(e) for e in rows],
        "next_cursor": next_cursor,
    }


class StatementPageHandler(PageHandler):
    @viewer
    async def get(self, balance_id: str) -> None:
        form = StatementForm(Arguments.queried(self))
        period = _period(form)
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: statement_page(balance_id, period, cursor))
        export = self.export_url(f"/balances/{balance_id}/statement.csv")
        self.render_page(
            "statement.html", form=form, start=iso(period.start), end=iso(period.end), export_url=export, **data
        )


class StatementExportHandler(PageHandler):
    @viewer
    async def get(self, balance_id: str) -> None:
        period = _period(StatementForm(Arguments.queried(self)))
        balance = await self.run_db(lambda: find_balance(balance_id))
        filename = f"statement-{balance.account_id}-{balance.currency_id}.csv"
        await stream_csv(self, filename, STATEMENT_COLUMNS, lambda after: statement_lines(balance, period, after))


class PaymentsExportHandler(PageHandler):
    """Every payment the list's filters match, as CSV."""

    @viewer
    async def get(self) -> None:
        filters = PaymentFilterForm(Arguments.queried(self))
        filters.currency.choices = []
        if not filters.validate():
            raise ApiError(400, "invalid_request", "These filters are not valid: go back to the list and fix them.")
        args = filters.args()
        await stream_csv(self, "payments.csv", PAYMENT_COLUMNS, lambda after: payment_lines(args, after))


default_handlers = [
    (r"/payments\.csv", PaymentsExportHandler),
    (r"/balances/([^/]+)/statement", StatementPageHandler),
    (r"/balances/([^/]+)/statement\.csv", StatementExportHandler),
]
