"""Accounts, balances and payments made through the API for a test, their outcomes, and the audit that must pass after."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from tests.support.client import Api
from tests.support.waiting import wait_until


def unique(prefix: str = "acct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def open_account(api: Api, admin_api: Api, funds: dict[str, str] | None = None, currencies=None) -> str:
    """A new account holding `funds` ({"PHP": "100.00"}), deposited and settled."""
    account_id = unique()
    codes = sorted(set(currencies or []) | set(funds or {}))
    response = api.post("/api/v1/accounts", {"id": account_id, "owner": "Test Owner", "currencies": codes})
    assert response.status == 201, response.body
    for currency, amount in (funds or {}).items():
        deposit = admin_api.post(
            "/api/v1/deposits", {"account": account_id, "currency": currency, "amount": amount}, wait=20
        )
        assert deposit.status == 201 and deposit.body["status"] == "completed", deposit.body
    return account_id


def assert_audit_ok() -> dict:
    """Every invariant of the ledger holds, checked over the whole ledger
    (`models.audit_full`); returns the report."""
    from models.audit_full import audit_whole_ledger
    from models.retry import read_only

    report, _ = read_only(audit_whole_ledger)
    assert report["ok"], report["problems"][:10]
    return report


def balances(api, account_id: str) -> dict[str, str]:
    """{currency: amount} of an account's balances."""
    return {b["currency"]: b["amount"] for b in api.get(f"/api/v1/accounts/{account_id}").body["balances"]}


def amounts(api, account_id: str) -> dict[str, Decimal]:
    """{currency: amount} of an account's balances, as Decimals."""
    body = api.get(f"/api/v1/accounts/{account_id}").body
    return {b["currency"]: Decimal(b["amount"]) for b in body["balances"]}


def balance_id(api, account_id: str, currency: str) -> str:
    body = api.get(f"/api/v1/accounts/{account_id}").body
    return next(b["id"] for b in body["balances"] if b["currency"] == currency)


def system_balance(api, currency: str) -> str:
    return balances(api, "@system")[currency]


def pay(api, body: dict, wait: int = 20):
    """POST a transfer or exchange and wait for its outcome."""
    return api.post("/api/v1/payments", body, wait=wait)


def pending(submit, body: dict):
    """Accept a payment through the intake rule without queueing it, so it
    stays pending until the test settles it with `settle_payment`."""
    from models.retry import retried_transaction

    return retried_transaction(lambda: submit(body, lambda: None))


def final(api, payment_id: str) -> dict:
    """The payment once completed or failed."""
    assert wait_until(lambda: api.get(f"/api/v1/payments/{payment_id}").body["status"] != "pending", timeout=60)
    return api.get(f"/api/v1/payments/{payment_id}").body


def all_final(api, payment_ids: list[str]) -> list[dict]:
    """Wait until every payment is completed or failed; return them."""
    results: dict[str, dict] = {}

    def settled() -> bool:
        for payment_id in payment_ids:
            if payment_id not in results:
                body = api.get(f"/api/v1/payments/{payment_id}").body
                if body["status"] == "pending":
                    return False
                results[payment_id] = body
        return True

    assert wait_until(settled, timeout=180, interval=0.2), "payments still pending"
    return [results[p] for p in payment_ids]


def completed_transfer(writer, admin, funds: str = "50.00", amount: str = "20.00") -> tuple[str, str, dict]:
    """A completed PHP transfer between two new accounts: (sender, receiver, payment)."""
    sender = open_account(writer, admin, {"PHP": funds})
    receiver = open_account(writer, admin, currencies=["PHP"])
    payment = pay(writer, {"from_account": sender, "to_account": receiver, "amount": amount}).body
    assert payment["status"] == "completed", payment
    return sender, receiver, payment


def reverse(api, payment_id: str, body=None, **kwargs):
    """POST the payment's reversal."""
    return api.post(f"/api/v1/payments/{payment_id}/reverse", body, **kwargs)


def date_back(payment_id: str, created_at: datetime) -> None:
    """Make a completed payment look made at `created_at` (for pages that
    show days past): its row, and the overview's tally of completed volume
    by day moved with it, in one transaction, so the overview still equals
    the ledger."""
    from models.bulk import insert_rows
    from models.ledger import COMPLETED, Payment
    from models.retry import retried_transaction
    from models.summaries import PaymentVolumeTally

    def move() -> None:
        payment = Payment.get_by_id(payment_id)
        before, after = payment.created_at.date(), created_at.date()
        Payment.update(created_at=created_at).where(Payment.id == payment_id).execute()
        if payment.status == COMPLETED and before != after:
            moved = [(before, -1, -payment.amount), (after, 1, payment.amount)]
            rows = [{"currency": payment.currency_id, "day": d, "payments": n, "amount": a} for d, n, a in moved]
            insert_rows((PaymentVolumeTally, rows))

    retried_transaction(move)
