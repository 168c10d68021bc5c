"""Custom currencies of a test's own, so that no test sees another's rates, and the rates between them."""

from __future__ import annotations

import uuid


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
