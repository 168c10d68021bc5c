"""Payments: the list with filters, whose rows change status live; a
payment's page with its entries, its reversals and the forms that reverse
it or end its hold; and the form that sends a new payment (or a hold)."""

from __future__ import annotations

from models.errors import ApiError, not_found
from models.holds import capture_hold, void_hold
from models.intake import submit_transfer
from models.ledger import COMPLETED, REVERSIBLE_KINDS, Payment
from models.queries import list_payments, payment_entries
from models.reports import currencies_in_use
from models.reversals import reversal_ids, reversible, submit_reversal
from models.serialize import money, payment_json

from .base import PageHandler, admin_only, viewer
from .forms import (
    Arguments,
    CaptureForm,
    PaymentFilterForm,
    PaymentForm,
    ReverseForm,
    currency_choices,
    show_refusal,
)

PAGE_SIZE = 50


def payments_page(args: dict, cursor: str | None) -> dict:
    """One page of payments, newest first, and the currencies to filter by
    (two queries)."""
    rows, next_cursor = list_payments(args, PAGE_SIZE, cursor)
    return {"payments": [payment_json(p) for p in rows], "next_cursor": next_cursor, "currencies": currencies_in_use()}


def payment_page(payment_id: str) -> dict:
    """A payment with its ledger entries and reversals, and how much of it
    can still be reversed (three queries)."""
    payment = Payment.get_or_none(Payment.id == payment_id)
    if payment is None:
        raise not_found(f"payment {payment_id}")
    body = payment_json(payment, entries=payment_entries(payment), reversals=reversal_ids([payment.id])[payment.id])
    left = reversible(payment) - payment.reversed_amount
    body["reversible"] = payment.kind in REVERSIBLE_KINDS and payment.status == COMPLETED and left > 0
    body["reversible_left"] = money(left, payment.target_currency_id or payment.currency_id)
    return body


class PaymentsHandler(PageHandler):
    @viewer
    async def get(self) -> None:
        filters = PaymentFilterForm(Arguments.queried(self))
        args = filters.args() if filters.validate() else {}
        cursor = self.get_query_argument("cursor", None)
        data = await self.run_db(lambda: payments_page(args, cursor))
        filters.currency.choices = currency_choices(data["currencies"], "Any currency")
        # New payments belong at the top of the first page only.
        live = cursor is None
        export = self.export_url("/payments.csv")
        self.render_page("payments.html", filters=filters, filtered=bool(args), live=live, export_url=export, **data)


class NewPaymentHandler(PageHandler):
    """Send money from one customer's balance to another's (or exchange it
    into another currency). Prefilled from ?from_account= and ?to_account=."""

    async def show(self, form: PaymentForm, status: int = 200, problem: str | None = None) -> None:
        codes = await self.run_db(currencies_in_use)
        form.currency.choices = currency_choices(codes, "The sender's only currency")
        form.to_currency.choices = currency_choices(codes, "The same currency")
        self.render_page("payment_new.html", status, form=form, problem=problem)

    @admin_only
    async def get(self) -> None:
        await self.show(PaymentForm(Arguments.queried(self)))

    @admin_only
    async def post(self) -> None:
        form = PaymentForm(Arguments.posted(self))
        if not form.validate():
            await self.show(form, 422)
            return
        body = form.body()
        try:
            payment_id = await self.create_at_most_once(lambda: submit_transfer(body, self.request_settlement).id)
        except ApiError as error:
            await self.show(form, error.status, show_refusal(form, error))
            return
        self.done(f"/payments/{payment_id}", "Payment accepted: it settles in a moment.")


class PaymentPage(PageHandler):
    """Shows a payment's page, with a refused reversal's problem if any."""

    async def show(
        self,
        payment_id: str,
        status: int = 200,
        reverse: ReverseForm | None = None,
        problem: str | None = None,
        capture: CaptureForm | None = None,
    ) -> None:
        payment = await self.run_db(lambda: payment_page(payment_id))
        self.render_page(
            "payment.html",
            status,
            payment=payment,
            reverse=reverse or ReverseForm(),
            capture=capture or CaptureForm(),
            problem=problem,
        )


class PaymentHandler(PaymentPage):
    @viewer
    async def get(self, payment_id: str) -> None:
        await self.show(payment_id)


class PaymentReverseHandler(PaymentPage):
    """Send a completed transfer's money back, once."""

    @admin_only
    async def post(self, payment_id: str) -> None:
        form = ReverseForm(Arguments.posted(self))
        body = form.body()
        try:
            reversal_id = await self.create_at_most_once(
                lambda: submit_reversal(payment_id, body, self.request_settlement).id
            )
        except ApiError as error:
            if error.status == 404:
                raise
            await self.show(payment_id, error.status, form, show_refusal(form, error))
            return
        self.done(f"/payments/{reversal_id}", f"Reversal of {payment_id} accepted.")


class PaymentCaptureHandler(PaymentPage):
    """Capture all of a hold, or part of it."""

    @admin_only
    async def post(self, payment_id: str) -> None:
        form = CaptureForm(Arguments.posted(self))
        body = form.body()
        try:
            payment = await self.run_transaction(lambda: capture_hold(payment_id, body, self.request_settlement))
        except ApiError as error:
            if error.status == 404:
                raise
            await self.show(payment_id, error.status, problem=show_refusal(form, error), capture=form)
            return
        asked = self.money(money(payment.capture_requested, payment.currency_id), payment.currency_id)
        self.done(f"/payments/{payment_id}", f"Capture of {asked} accepted.")


class PaymentVoidHandler(PaymentPage):
    """Release all of a hold."""

    @admin_only
    async def post(self, payment_id: str) -> None:
        try:
            await self.run_transaction(lambda: void_hold(payment_id))
        except ApiError as error:
            if error.status == 404:
                raise
            await self.show(payment_id, error.status, problem=error.message)
            return
        self.done(f"/payments/{payment_id}", "Hold voided: nothing was paid.")


default_handlers = [
    (r"/payments", PaymentsHandler),
    (r"/payments/new", NewPaymentHandler),
    (r"/payments/([^/]+)", PaymentHandler),
    (r"/payments/([^/]+)/reverse", PaymentReverseHandler),
    (r"/payments/([^/]+)/capture", PaymentCaptureHandler),
    (r"/payments/([^/]+)/void", PaymentVoidHandler),
]
