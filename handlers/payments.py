"""Payments: transfers and exchanges, deposits, withdrawals, reversals, and
waiting for their outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from models.errors import not_found
from models.exports import PAYMENT_COLUMNS, payment_lines
from models.holds import capture_hold, void_hold
from models.intake import Accepted, RequestSettlement, submit_deposit, submit_transfer, submit_withdrawal
from models.ledger import AUTHORIZED, PENDING, REVERSIBLE_KINDS, Payment
from models.pagination import parse_limit
from models.payment_edits import update_payment
from models.queries import list_payments, payment_entries
from models.reversals import reversal_ids, submit_reversal
from models.serialize import payment_json
from web.protocol import MAX_WAIT_SECONDS, PREFER_WAIT

from .base import APIHandler, Created, scope
from .customer_access import payer_in_body, payment_in_path
from .exports import stream_csv, wants_csv

Submit = Callable[[object, RequestSettlement], Accepted]


def _payment(payment_id: str) -> Payment:
    payment = Payment.get_or_none(Payment.id == payment_id)
    if payment is None:
        raise not_found(f"payment {payment_id}")
    return payment


def payment_detail(payment_id: str) -> dict:
    """A payment with its entries and the ids of its reversals."""
    payment = _payment(payment_id)
    return payment_json(payment, entries=payment_entries(payment), reversals=reversal_ids([payment.id])[payment.id])


def wait_seconds(prefer: str | None) -> int:
    """How long a `Prefer: wait=N` header asks to wait (at most MAX_WAIT_SECONDS)."""
    match = PREFER_WAIT.search(prefer) if prefer else None
    return min(int(match.group(1)), MAX_WAIT_SECONDS) if match else 0


class PaymentIntakeHandler(APIHandler):
    """POST creates a payment (202 pending), honouring `Prefer: wait=N`."""

    async def accept(self, submit: Submit, kind: str | None = None) -> None:
        """Accept the payment `submit(body, request_settlement)` makes;
        without an Idempotency-Key, a payment of `kind` goes through the
        intake batcher."""
        if kind is not None and "Idempotency-Key" not in self.request.headers:
            accepted = await self.settings["intake_batcher"].submit(kind, self.json_body(), self.acting)
            created = Created(accepted.id, accepted)
        else:
            created = await self.create(lambda body: submit(body, self.request_settlement), id_of=lambda a: a.id)
        payment_id, replayed = created.id, created.replayed
        self.payment_id = payment_id  # on the access log's line (`handlers.app.log_request`)
        wait = self.wait_seconds()
        if created.made is not None and not wait:
            # New and pending: its detail was encoded when it was accepted.
            self.send_encoded(created.made.detail_text, 202)
            return
        body = await self.read_when_settled(payment_id, wait, payment_detail)
        if replayed:
            status = 200
        else:
            # 201 only for a caller who asked to wait and got a final outcome.
            status = 201 if wait and body["status"] != PENDING else 202
        if wait:
            self.set_header("Preference-Applied", f"wait={wait}")
        self.send(body, status, replayed)

    def wait_seconds(self) -> int:
        return wait_seconds(self.request.headers.get("Prefer"))

    async def read_when_settled(
        self, resource_id: str, wait: int, read: Callable[[str], dict], unsettled: str = PENDING
    ) -> dict:
        """`read(resource_id)` once its settlement is over (a payment
        completed, failed or authorized; a group over; a hold's capture
        completed or failed: `unsettled` is the status it waits out), or
        once `wait` seconds have passed, whichever is first."""
        final = self.hub.final_of(resource_id) if wait else None
        try:
            body = await self.run_db(lambda: read(resource_id))
            if final is not None and body["status"] == unsettled:
                try:
                    await asyncio.wait_for(asyncio.shield(final), wait)
                except TimeoutError:
                    pass
                else:
                    body = await self.run_db(lambda: read(resource_id))
        finally:
            if final is not None:
                self.hub.forget(resource_id, final)
        return body


class PaymentsHandler(PaymentIntakeHandler):
    @scope("read")
    async def get(self) -> None:
        args, limit = self.query_args(), parse_limit(self.get_query_argument("limit", None))
        cursor = self.get_query_argument("cursor", None)
        if wants_csv(args, self.request.headers.get("Accept")):
            # Every payment the filters match, from the first: no page, no cursor.
            await stream_csv(self, "payments.csv", PAYMENT_COLUMNS, lambda after: payment_lines(args, after))
            return

        def work() -> dict:
            rows, next_cursor = list_payments(args, limit, cursor)
            reversals = reversal_ids([p.id for p in rows if p.kind in REVERSIBLE_KINDS])
            data = [payment_json(p, reversals=reversals.get(p.id, [])) for p in rows]
            return {"data": data, "next_cursor": next_cursor}

        self.send(await self.run_db(work))

    @scope("write", customers=payer_in_body)
    async def post(self) -> None:
        await self.accept(submit_transfer, "transfer")


class DepositsHandler(PaymentIntakeHandler):
    @scope("admin")
    async def post(self) -> None:
        await self.accept(submit_deposit, "deposit")


class WithdrawalsHandler(PaymentIntakeHandler):
    @scope("admin")
    async def post(self) -> None:
        await self.accept(submit_withdrawal, "withdrawal")


class PaymentReverseHandler(PaymentIntakeHandler):
    @scope("admin")
    async def post(self, payment_id: str) -> None:
        await self.accept(lambda body, request_settlement: submit_reversal(payment_id, body, request_settlement))


class PaymentCaptureHandler(PaymentIntakeHandler):
    """A capture is asked for at once and settled by the workers, like a
    payment (models.holds): 202 with the hold, or with `Prefer: wait` 200
    once its capture completed or failed. Captures that arrive together are
    asked for in one transaction (web.batching); one with an
    Idempotency-Key on its own, so that a retry replays it."""

    @scope("write")
    async def post(self, payment_id: str) -> None:
        if "Idempotency-Key" in self.request.headers:
            created = await self.create(
                lambda body: capture_hold(payment_id, body, self.request_settlement), id_of=lambda hold: hold.id
            )
        else:
            hold = await self.settings["capture_batcher"].submit(payment_id, self.json_body(), self.acting)
            created = Created(hold.id, hold)
        wait = self.wait_seconds()
        if created.made is not None and not wait:
            # Just asked for: an authorized hold has no entries and no reversals yet.
            self.send(payment_json(created.made, entries=[], reversals=[]), 202)
            return
        body = await self.read_when_settled(created.id, wait, payment_detail, unsettled=AUTHORIZED)
        if wait:
            self.set_header("Preference-Applied", f"wait={wait}")
        settled = body["status"] != AUTHORIZED
        self.send(body, 200 if created.replayed or (wait and settled) else 202, created.replayed)


class PaymentVoidHandler(APIHandler):
    """Releasing a hold moves no money: done at once, 200 with the voided
    payment (`Prefer: wait` is satisfied). Exactly one capture or void wins
    (models.holds); an Idempotency-Key makes a retry replay it."""

    @scope("write")
    async def post(self, payment_id: str) -> None:
        created = await self.create(lambda body: void_hold(payment_id, body), id_of=lambda payment: payment.id)
        wait = wait_seconds(self.request.headers.get("Prefer"))
        if wait:
            self.set_header("Preference-Applied", f"wait={wait}")
        self.send(await self.run_db(lambda: payment_detail(created.id)), 200, created.replayed)


class PaymentHandler(APIHandler):
    @scope("read", customers=payment_in_path)
    async def get(self, payment_id: str) -> None:
        self.send(await self.run_db(lambda: payment_detail(payment_id)))

    @scope("admin")
    async def patch(self, payment_id: str) -> None:
        body = self.json_body()
        await self.run_transaction(lambda: update_payment(payment_id, body))
        self.send(await self.run_db(lambda: payment_detail(payment_id)))


default_handlers = [
    (r"/api/v1/payments", PaymentsHandler),
    (r"/api/v1/payments/([^/]+)", PaymentHandler),
    (r"/api/v1/payments/([^/]+)/reverse", PaymentReverseHandler),
    (r"/api/v1/payments/([^/]+)/capture", PaymentCaptureHandler),
    (r"/api/v1/payments/([^/]+)/void", PaymentVoidHandler),
    (r"/api/v1/deposits", DepositsHandler),
    (r"/api/v1/withdrawals", WithdrawalsHandler),
]
