"""Money as exact integers of minor units (SPEC section 3).

The only two conversions between the outside world's decimal text and the
integers the ledger stores. Nothing here ever touches a float.
"""

from __future__ import annotations

import re
from decimal import Decimal, Inexact, InvalidOperation, localcontext

MAX_MAJOR_UNITS = 10**15

_DECIMAL_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class AmountError(ValueError):
    """Why a value is not a valid amount, in words fit for `fields`."""


def parse_amount(value: object, exponent: int) -> int:
    """Read an amount given as a decimal string or an exact JSON number
    (parsed to `int`/`Decimal`, never `float`) into minor units.

    Valid: greater than 0, at most `exponent` decimals, at most 10^15 major
    units.
    """
    number = _decimal(value)
    if number <= 0:
        raise AmountError("must be greater than 0")
    return _minor_units(number, exponent)


def parse_signed_amount(value: object, exponent: int) -> int:
    """`parse_amount` for a limit, which may also be 0 or negative (a credit
    line): at most 10^15 major units either way."""
    number = _decimal(value)
    if number < 0:
        return -_minor_units(-number, exponent)
    return _minor_units(number, exponent)


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise AmountError('must be a decimal string such as "10.50"')
    if isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value):
            raise AmountError('must be a decimal string such as "10.50"')
        number = Decimal(value)
    else:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise AmountError("must be a decimal number") from None
        if not number.is_finite():
            raise AmountError("must be a decimal number")
    return number


def _minor_units(number: Decimal, exponent: int) -> int:
    if number > MAX_MAJOR_UNITS:
        raise AmountError(f"must be at most {MAX_MAJOR_UNITS:,} major units".replace(",", " "))
    with localcontext() as exact:
        # 10^15 major units at 18 decimals needs 34 digits; the default is 28.
        # Trapping Inexact turns any rounding (say 1e-2000000 underflowing
        # to 0) into an error instead of a different amount.
        exact.prec = 64
        exact.traps[Inexact] = True
        try:
            minor = number.scaleb(exponent)
        except Inexact:
            raise AmountError(f"must have at most {exponent} decimal places") from None
    if minor != minor.to_integral_value():
        raise AmountError(f"must have at most {exponent} decimal places")
    return int(minor)


def format_amount(minor: int, exponent: int) -> str:
    """Minor units as a decimal string with exactly `exponent` decimals."""
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    if exponent == 0:
        return sign + digits
    return f"{sign}{digits[:-exponent]}.{digits[-exponent:]}"
