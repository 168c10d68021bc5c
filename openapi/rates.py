"""The OpenAPI operations of exchange rates and of reversing a payment."""

from __future__ import annotations

from models.currency import CODE_PATTERN
from models.rates import MAX_RATE_DECIMALS, MAX_RATE_DIGITS

from .builders import operation, success
from .components import CURRENCY_CODE, TIME, closed, nullable, page_of, request, text
from .parameters import query

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
            description="A pair whose rate was never set has an empty history; a side that is no currency code is 404.",
            parameters=("RateBasePath", "RateQuotePath", "Limit", "Cursor"),
            errors=("not_found",),
        ),
    ]


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
        "NewRate": request(
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
            "schema": {**code, "examples": ["USD"]},
            "description": "The currency sold.",
        },
        "RateQuotePath": {
            "name": "quote",
            "in": "path",
            "required": True,
            "schema": {**code, "examples": ["PHP"]},
            "description": "The currency bought.",
        },
    }
