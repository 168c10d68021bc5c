"""The OpenAPI operations of exchange rates and of reversing a payment."""

from __future__ import annotations

from models.currency import CODE_PATTERN
from models.rates import MAX_RATE_DECIMALS, MAX_RATE_DIGITS

from .builders import operation, payment_accepted, success
from .components import CURRENCY_CODE, DESCRIPTION, TIME, closed, nullable, page_of, query, text

PAIR = "/api/v1/rates/{base}/{quote}"
RATE_PATTERN = r"^[0-9]+(\.[0-9]+)?$"


def rate_operations() -> list[tuple[str, str, dict]]:
    return [
        operation(
            "get",
            "/api/v1/rates",
            "listRates",
            "Rates",
            "List the exchange rates in force",
            "read",
            {"200": success("Rates in force by base then quote currency.", "RateList")},
            parameters=("RateBase", "RateQuote", "Limit", "Cursor"),
        ),
        operation(
            "get",
            PAIR,
            "getRate",
            "Rates",
            "Get the rate in force for a pair",
            "read",
            {"200": success("The rate in force: 1 `base` buys `rate` `quote`.", "Rate")},
            parameters=("RateBasePath", "RateQuotePath"),
            errors=("not_found",),
        ),
        operation(
            "put",
            PAIR,
            "setRate",
            "Rates",
            "Set the rate for a pair",
            "admin",
            {"200": success("The rate now in force.", "Rate")},
            description=(
                "Puts a rate in force from now on for exchanges from `base` to `quote` (the other direction has "
                "its own rate). Pending exchanges settle at the rate in force when they settle. The change is "
                "kept in the pair's history with who made it, and announced by a `rate.updated` event. Setting "
                "the rate already in force changes nothing."
            ),
            parameters=("RateBasePath", "RateQuotePath"),
            body="NewRate",
            errors=("validation_error", "unknown_currency"),
        ),
        operation(
            "delete",
            PAIR,
            "removeRate",
            "Rates",
            "Remove the rate for a pair",
            "admin",
            {"200": success("The history line recording the removal (`rate` null).", "Rate")},
            description=(
                "Takes the pair's rate out of force: new exchanges are refused with `rate_unavailable`, and "
                "pending ones fail at settlement with `failure_code` `rate_unavailable`. Kept in the history and "
                "announced by a `rate.updated` event with `rate` null."
            ),
            parameters=("RateBasePath", "RateQuotePath"),
            errors=("not_found",),
        ),
        operation(
            "get",
            f"{PAIR}/history",
            "listRateHistory",
            "Rates",
            "A pair's rate history",
            "read",
            {"200": success("Every change of the pair's rate, newest first; `rate` null: removed.", "RateList")},
            parameters=("RateBasePath", "RateQuotePath", "Limit", "Cursor"),
        ),
    ]


def reversal_operation() -> tuple[str, str, dict]:
    return operation(
        "post",
        "/api/v1/payments/{payment_id}/reverse",
        "reversePayment",
        "Payments",
        "Reverse a completed transfer or exchange",
        "admin",
        payment_accepted(),
        description=(
            "Creates a `reversal` payment that sends the money back: the receiver pays the sender. An exchange "
            "goes back at its original rate: the receiver gives back `target_amount` in the target currency and "
            "the sender gets back the original `amount`. The reversal has `reverses` set to the payment, and the "
            "payment `reversed_by` set to the reversal. Funds are checked at settlement: when the receiver has "
            "spent the money the reversal fails with `insufficient_funds`, the payment is no longer "
            "`reversed_by` it and may be reversed again later. Only transfers and exchanges are reversible "
            "(422 `not_reversible`), only once completed (409 `payment_not_completed`), and once "
            "(409 `already_reversed`). The body is optional."
        ),
        parameters=("PaymentId",),
        body="NewReversal",
        body_required=False,
        creates_payment=True,
        errors=(
            "not_found",
            "validation_error",
            "not_reversible",
            "payment_not_completed",
            "already_reversed",
            "account_inactive",
            "balance_inactive",
        ),
    )


def rate_schemas() -> dict:
    return {
        "Rate": closed(
            {
                "base": CURRENCY_CODE,
                "quote": CURRENCY_CODE,
                "rate": nullable(
                    text(
                        "1 `base` buys `rate` `quote`: exact decimal text without trailing zeros. Null only on a "
                        "history line (and its event) recording that the rate was removed.",
                        pattern=RATE_PATTERN,
                        examples=["56.25"],
                    )
                ),
                "set_by": text("Who set it: the API token (`token #id (name)`) or the dashboard operator."),
                "set_at": TIME,
            },
            description="An exchange rate for one direction of a pair, or one line of its history.",
        ),
        "RateList": page_of("Rate"),
        "NewRate": closed(
            {
                "rate": {
                    "type": ["string", "number"],
                    "pattern": RATE_PATTERN,
                    "description": (
                        "A decimal string (or a JSON number, read exactly) greater than 0, below "
                        f"10^{MAX_RATE_DIGITS}, with at most {MAX_RATE_DECIMALS} decimals."
                    ),
                    "examples": ["56.25"],
                }
            }
        ),
        "NewReversal": closed(
            {"description": DESCRIPTION},
            optional=("description",),
        ),
    }


def rate_parameters() -> dict:
    code = {"type": "string", "pattern": CODE_PATTERN.pattern}
    return {
        "RateBase": query("base", code, "Only rates from this currency."),
        "RateQuote": query("quote", code, "Only rates into this currency."),
        "RateBasePath": {
            "name": "base",
            "in": "path",
            "required": True,
            "schema": code,
            "description": "The currency sold.",
        },
        "RateQuotePath": {
            "name": "quote",
            "in": "path",
            "required": True,
            "schema": code,
            "description": "The currency bought.",
        },
    }
