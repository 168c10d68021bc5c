"""How the dashboard writes things for people: amounts in the operator's
locale with the currency's symbol (Babel), times in UTC, codes as words; and
the Jinja2 environment that templates are rendered with.

Amounts arrive as the exact decimal strings the API serializes ("1234.50",
with exactly the currency's decimals), so formatting never needs the
database and never rounds: every decimal the currency has is shown.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from decimal import Decimal, localcontext
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.numbers import format_compact_currency, get_currency_symbol
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from .forms import field_attributes

DEFAULT_LOCALE = "en_US"
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


@cache
def _locale(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        return None


def negotiate_locale(accept_language: str | None) -> Locale:
    """The operator's locale from the browser's Accept-Language header: the
    first language, by preference, that Babel knows; else en_US."""
    ranked = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if _LANGUAGE_TAG.match(tag) and quality > 0:
            ranked.append((-quality, position, tag))
    for _, _, tag in sorted(ranked):
        locale = _locale(tag)
        if locale is not None:
            return locale
    return Locale.parse(DEFAULT_LOCALE)


def format_money(amount: str | None, currency: str | None, locale: Locale) -> str:
    """`amount` (an exact decimal string such as "1234.50") in `currency`,
    written the way `locale` writes money: "₱1,234.50" in en_US, "1.234,50 €"
    in de_DE. All of the amount's decimals are kept, none added."""
    if amount is None or currency is None:
        return ""
    decimals = len(amount.partition(".")[2])
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (decimals, decimals)
    with localcontext() as exact:
        # 10^15 major units with 18 decimals is 34 digits; the default
        # context keeps 28 and Babel's rounding to the pattern would fail.
        exact.prec = 64
        text = pattern.apply(Decimal(amount), locale, currency=currency, currency_digits=False)
    return _space_after_letters(text, get_currency_symbol(currency, locale))


def format_compact_money(amount: str, currency: str, locale: Locale) -> str:
    """A short label for a chart axis: "₱1.2M" for "1234567.89"."""
    return _space_after_letters(
        format_compact_currency(Decimal(amount), currency, locale=locale, fraction_digits=1),
        get_currency_symbol(currency, locale),
    )


def _space_after_letters(text: str, symbol: str) -> str:
    # CLDR's currency spacing, which Babel leaves out: a symbol that ends in
    # a letter or a digit ("BTC", "T2X") is kept apart from the number.
    if symbol and symbol[-1].isalnum():
        return re.sub(rf"^(-?){re.escape(symbol)}(?=\d)", lambda m: f"{m.group(1)}{symbol}\u00a0", text)
    return text


def format_time(iso: str | None) -> Markup:
    """An API timestamp ("2026-01-05T15:04:05.123456Z") as a <time> element
    reading "2026-01-05 15:04:05 UTC", with the full time on hover."""
    if not iso:
        return Markup("")
    moment = datetime.fromisoformat(iso.removesuffix("Z"))
    shown = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(iso, shown)


def words(code: str | None) -> str:
    """A snake_case code as words: insufficient_funds -> insufficient funds."""
    return (code or "").replace("_", " ")


def nonzero(amount: str | None) -> bool:
    """Whether an amount as the API writes it (`"0.00"`, `"-50.00"`) is set
    and not zero: `{% if b.held is nonzero %}`."""
    return amount is not None and Decimal(amount) != 0


def make_environment(template_path: Path) -> Environment:
    """The Jinja2 environment the pages are rendered with: every value
    escaped unless marked safe, and a missing variable an error rather than
    an empty string."""
    environment = Environment(
        loader=FileSystemLoader(str(template_path)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(when=format_time, words=words)
    environment.tests.update(nonzero=nonzero)
    environment.globals.update(field_attributes=field_attributes)
    return environment
