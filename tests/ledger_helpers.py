"""What the exchange, reversal and active-state tests share: custom
currencies of their own (so no test sees another's rates), rates, balances
and payments left pending on purpose."""

from __future__ import annotations

import uuid

from tests.conftest import wait_until


def new_currency(admin, exponent: int, name: str = "Test coin") -> str:
    """A fresh custom currency with this exponent; returns its code."""
    code = "T" + uuid.uuid4().hex[:9].upper()
    response = admin.post("/api/v1/currencies", {"code": code, "name": name, "exponent": exponent})
    assert response.status == 201, response.body
    return code


def put_rate(admin, base: str, quote: str, rate: str) -> dict:
    response = admin.put(f"/api/v1/rates/{base}/{quote}", {"rate": rate})
    assert response.status == 200, response.body
    return response.body


def delete_rate(admin, base: str, quote: str):
    return admin.request("DELETE", f"/api/v1/rates/{base}/{quote}")


def balances(api, account_id: str) -> dict[str, str]:
    """{currency: amount} of an account's balances."""
    return {b["currency"]: b["amount"] for b in api.get(f"/api/v1/accounts/{account_id}").body["balances"]}


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


def head_seq(api) -> int:
    events = api.get("/api/v1/events", params={"order": "desc", "limit": 1}).body["data"]
    return events[0]["seq"] if events else 0


def events_after(api, seq: int) -> list[dict]:
    """Every event after `seq`, in order."""
    found, cursor = [], None
    while True:
        params = {"after": seq, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = api.get("/api/v1/events", params=params).body
        found += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found
