"""The overview's payment-volume chart, drawn on the server as SVG: bar
positions, the value axis and the day labels, computed here so the template
only places them. No script and no chart library are needed to see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from babel import Locale
from babel.dates import format_date

from models.money import format_amount

from .formatting import format_compact_money, format_money

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 12, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class DayLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int
    baseline: float
    bars: list[Bar]
    ticks: list[Tick]
    days: list[DayLabel]
    empty: bool


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 2.5, 5 times a power of ten (in minor units)
    that is at least `value`, so the axis reads in round numbers."""
    scale = 1
    while True:
        for step in (10, 20, 25, 50):
            if step * scale >= value * 10:
                return step * scale // 10 or 1
        scale *= 10


def volume_chart(volume: list[dict], currency: str, locale: Locale) -> Chart:
    """Lay out `volume` (from `models.reports.daily_volume`) as bars, one a
    day, scaled to a round maximum, each with a title that says the day, the
    amount and how many payments."""
    decimals = len(volume[0]["total"].partition(".")[2]) if volume else 0
    peak = max((day["minor"] for day in volume), default=0)
    top = _nice_ceiling(peak) if peak else 1
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(volume), 1)
    baseline = TOP + plot_height
    bars, days = [], []
    for index, day in enumerate(volume):
        height = plot_height * day["minor"] / top
        when = date.fromisoformat(day["day"])
        label = format_date(when, "MMM d", locale=locale)
        count = day["payments"]
        title = f"{label}: {format_money(day['total'], currency, locale)} in {count} payment{'s' * (count != 1)}"
        x = LEFT + index * slot + slot * 0.15
        bars.append(Bar(round(x, 1), round(baseline - height, 1), round(slot * 0.7, 1), round(height, 1), title))
        if (len(volume) - 1 - index) % 7 == 0:
            days.append(DayLabel(round(LEFT + index * slot + slot / 2, 1), label))
    ticks = []
    if peak:
        for fraction in (0, 0.5, 1):
            minor = int(top * fraction)
            label = format_compact_money(format_amount(minor, decimals), currency, locale)
            ticks.append(Tick(round(baseline - plot_height * fraction, 1), label))
    return Chart(WIDTH, HEIGHT, LEFT, RIGHT, baseline, bars, ticks, days, empty=not peak)
