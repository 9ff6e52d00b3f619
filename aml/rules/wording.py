"""How rule reasons are phrased: money, counts, ordinals, durations and rates, one way everywhere.

Reasons are staff-facing plain English with the numbers behind the outcome ("3rd top-up in 24 h;
client's usual is 0.4 per day"). They are stored on the assessment as written at the time (an
audit record is never re-translated), so they are built here from numbers, not looked up.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal


def money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return f"unknown {currency}"
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f} {currency}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def rate(value: Decimal) -> str:
    """A per-day rate with one decimal (two below 0.1, so a rare client does not read as 0.0)."""
    places = Decimal("0.01") if value < Decimal("0.1") else Decimal("0.1")
    return str(value.quantize(places, rounding=ROUND_HALF_UP))


def ratio(value: Decimal) -> str:
    """A multiple, e.g. ``2.4x``."""
    return f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}x"


def percent(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
