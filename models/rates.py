"""Exchange rates: what one unit of a currency buys in another, set by
operators, and every change kept (who set which rate, when).

A rate is for one direction of a pair: `BTC/PHP = 3500000.25` means 1 BTC buys
3 500 000.25 PHP, and it is what an exchange from BTC to PHP uses. The other
direction has its own rate (operators quote buying and selling apart).

Rates are exact decimal text, never floats; converting an amount is integer
arithmetic on minor units, rounded down, so an exchange never creates money:
the remainder stays with `@system`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from peewee import AutoField, BigAutoField, CharField, DateTimeField, ForeignKeyField

from .connection import BaseModel, utcnow
from .currency import Currency, exponent_of
from .dialect import lock_rows, lock_shared
from .errors import ApiError, invalid, not_found
from .event import record_event
from .money import MAX_MAJOR_UNITS, format_amount
from .serialize import rate_json
from .validation import AMOUNT, check_shape

MAX_RATE_DECIMALS = 30
MAX_RATE_DIGITS = 18  # before the point: a rate is below 10^18
_DECIMAL_TEXT = re.compile(r"^[0-9]+(\.[0-9]+)?$")


class ExchangeRate(BaseModel):
    """The rate in force for one direction of a pair: 1 `base` buys `rate` `quote`."""

    id = AutoField()
    # `base` needs no index of its own: it leads the (base, quote) one.
    base = ForeignKeyField(Currency, column_name="base", on_delete="RESTRICT", index=False)
    quote = ForeignKeyField(Currency, column_name="quote", on_delete="RESTRICT")
    rate = CharField(max_length=64)  # exact decimal text, canonical
    set_by = CharField(max_length=200)
    set_at = DateTimeField(default=utcnow)

    if TYPE_CHECKING:
        # The foreign keys' ids, as Peewee's accessors (made with the class)
        # give them; its stubs cannot declare them.
        base_id: str
        quote_id: str

    class Meta:
        indexes = ((("base", "quote"), True),)


class RateChange(BaseModel):
    """One line of a pair's history: `rate` set (or removed, null) by
    `set_by` at `set_at`. Never updated, never deleted."""

    id = BigAutoField()
    base = ForeignKeyField(Currency, column_name="base", on_delete="RESTRICT", index=False)
    quote = ForeignKeyField(Currency, column_name="quote", on_delete="RESTRICT")
    rate = CharField(max_length=64, null=True)
    set_by = CharField(max_length=200)
    set_at = DateTimeField(default=utcnow)

    if TYPE_CHECKING:
        # The foreign keys' ids, as Peewee's accessors (made with the class)
        # give them; its stubs cannot declare them.
        base_id: str
        quote_id: str

    class Meta:
        indexes = ((("base", "quote", "id"), False),)


def parse_rate(value: object) -> str:
    """Read a rate given as a decimal string or an exact JSON number into its
    canonical text (no exponent, no trailing zeros): greater than 0, below
    10^18, at most 30 decimals. Raises 422 `validation_error` on `rate`."""
    problem = 'must be a decimal string greater than 0 such as "56.25"'
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise invalid({"rate": problem})
        number = Decimal(value)
    elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise invalid({"rate": problem}) from None
        if not number.is_finite():
            raise invalid({"rate": problem})
    else:
        raise invalid({"rate": problem})
    if number <= 0:
        raise invalid({"rate": "must be greater than 0"})
    if number >= 10**MAX_RATE_DIGITS:
        raise invalid({"rate": f"must be less than 10^{MAX_RATE_DIGITS}"})
    if number.adjusted() < -MAX_RATE_DECIMALS:
        # Checked before formatting: 1e-999999999 would be a billion digits.
        raise invalid({"rate": f"must have at most {MAX_RATE_DECIMALS} decimal places"})
    text = format(number, "f")  # exact: formatting never rounds
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if len(text.partition(".")[2]) > MAX_RATE_DECIMALS:
        raise invalid({"rate": f"must have at most {MAX_RATE_DECIMALS} decimal places"})
    return text


def convert(amount: int, rate: str, source_exponent: int, target_exponent: int) -> int:
    """`amount` minor units of the source currency in minor units of the
    target at `rate`, rounded down. Exact at any size: the rate is turned into
    a fraction of integers and nothing passes through a float or a rounded
    decimal."""
    numerator, denominator = Decimal(rate).as_integer_ratio()
    shift = target_exponent - source_exponent
    if shift >= 0:
        numerator *= 10**shift
    else:
        denominator *= 10**-shift
    return amount * numerator // denominator


def target_problem(target_amount: int, target_currency: str) -> str | None:
    """Why an exchange's converted amount cannot be paid: nothing at all
    after rounding down, or more than an amount may ever be."""
    exponent = exponent_of(target_currency)
    if target_amount <= 0:
        return f"buys less than {format_amount(1, exponent)} {target_currency} at the current rate"
    if target_amount > MAX_MAJOR_UNITS * 10**exponent:
        return f"buys more than {MAX_MAJOR_UNITS:,} {target_currency}".replace(",", " ")
    return None


def rate_in_force(base: str, quote: str, hold: bool = False) -> str | None:
    """The rate from `base` to `quote` now, or None when there is none.

    `hold=True` (settlement) keeps the rate from changing until the caller's
    transaction ends: a rate change waits for the settlements using the old
    rate, and a settlement waits for a rate change being committed and then
    reads the new rate. So every exchange completes at the rate in force when
    it commits.
    """
    query = ExchangeRate.select(ExchangeRate.rate).where((ExchangeRate.base == base) & (ExchangeRate.quote == quote))
    row = (lock_shared(query) if hold else query).first()
    return row.rate if row else None


def quote_exchange(base: Currency, quote: Currency, amount: int) -> tuple[int, str]:
    """At intake: the target amount and rate an exchange of `amount` would
    get now. Refuses 422 `rate_unavailable` when no rate is set, and 422
    `validation_error` on `amount` when the result could not be paid."""
    rate = rate_in_force(base.code, quote.code)
    if rate is None:
        raise ApiError(422, "rate_unavailable", f"no exchange rate from {base.code} to {quote.code}")
    target_amount = convert(amount, rate, base.exponent, quote.exponent)
    problem = target_problem(target_amount, quote.code)
    if problem:
        raise invalid({"amount": problem})
    return target_amount, rate


def _pair(base: str, quote: str) -> tuple[Currency, Currency]:
    base_currency, quote_currency = Currency.known(base), Currency.known(quote)
    if base_currency.code == quote_currency.code:
        raise invalid({"quote": "must differ from the base currency"})
    return base_currency, quote_currency


def _locked(base: str, quote: str) -> ExchangeRate | None:
    query = ExchangeRate.select().where((ExchangeRate.base == base) & (ExchangeRate.quote == quote))
    return lock_rows(query).first()


def set_rate(base: str, quote: str, body: object, set_by: str) -> ExchangeRate:
    """Put a rate in force for `base` -> `quote` (`body`: `{"rate": "56.25"}`),
    recording who set it in the pair's history and a `rate.updated` event.
    Setting the rate already in force changes nothing. The one rule that the
    API and the dashboard both call; call inside a transaction."""
    rate = parse_rate(check_shape(body, {"rate": AMOUNT}, required=("rate",))["rate"])
    base_currency, quote_currency = _pair(base, quote)
    current = _locked(base_currency.code, quote_currency.code)
    if current is not None and current.rate == rate:
        return current
    now = utcnow()
    fields = dict(base=base_currency.code, quote=quote_currency.code, rate=rate, set_by=set_by[:200], set_at=now)
    # Two first settings of one pair may race: the second updates the first.
    ExchangeRate.insert(**fields).on_conflict(
        conflict_target=[ExchangeRate.base, ExchangeRate.quote],
        preserve=[ExchangeRate.rate, ExchangeRate.set_by, ExchangeRate.set_at],
    ).execute()
    change = RateChange.create(**fields)
    record_event("rate.updated", rate_json(change))
    return ExchangeRate.get((ExchangeRate.base == base_currency.code) & (ExchangeRate.quote == quote_currency.code))


def remove_rate(base: str, quote: str, removed_by: str) -> RateChange:
    """Take a pair's rate out of force: exchanges are refused at intake, and
    those still pending fail `rate_unavailable` at settlement. Recorded in
    the history (rate null) with a `rate.updated` event. 404 when no rate is
    in force. Call inside a transaction."""
    current = _locked(base, quote)
    if current is None:
        raise not_found(f"exchange rate {base}/{quote}")
    current.delete_instance()
    change = RateChange.create(base=base, quote=quote, rate=None, set_by=removed_by[:200], set_at=utcnow())
    record_event("rate.updated", rate_json(change))
    return change


def current_rate(base: str, quote: str) -> ExchangeRate:
    """The rate in force for the pair, or 404 `not_found`."""
    rate = ExchangeRate.get_or_none((ExchangeRate.base == base) & (ExchangeRate.quote == quote))
    if rate is None:
        raise not_found(f"exchange rate {base}/{quote}")
    return rate
