"""Numbers as published: strict formats, exact text kept, never a silent NaN."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import lru_cache

# schema.md §3.2: -?digits or -?digits.digits; no exponent, separator or symbol.
CANONICAL_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
YEAR = re.compile(r"[0-9]{4}")
INTEGER = re.compile(r"-?[0-9]+")


@lru_cache(maxsize=32)
def _national_pattern(decimal: str, thousands: tuple[str, ...]) -> re.Pattern[str]:
    dec = re.escape(decimal)
    if not thousands:
        return re.compile(rf"(-?)([0-9]+)(?:{dec}([0-9]+))?")
    sep = "|".join(re.escape(t) for t in thousands)
    # Groups after the first have exactly three digits, so `88734.6` in a
    # `.`-thousands locale is unreadable instead of 887346 (PRT fixture).
    return re.compile(
        rf"(-?)([0-9]{{1,3}}(?:(?:{sep})[0-9]{{3}})+|[0-9]+)(?:{dec}([0-9]+))?"
    )


def parse_national_number(
    text: str, decimal: str, thousands: tuple[str, ...]
) -> str | None:
    """Normalise a number written in a national locale to canonical text.

    Returns ``None`` when the text is not a number in that locale; never guesses.

    Examples:
        >>> parse_national_number("3.618,4", ",", (".",))
        '3618.4'
        >>> parse_national_number("88734.6", ",", (".",)) is None
        True
        >>> parse_national_number("1\u202f062\u202f940", ",", ("\u202f",))
        '1062940'
    """
    match = _national_pattern(decimal, thousands).fullmatch(text)
    if match is None:
        return None
    sign, whole, frac = match.groups()
    for sep in thousands:
        whole = whole.replace(sep, "")
    return f"{sign}{whole}" + (f".{frac}" if frac is not None else "")


def canonical_value(text: str) -> float | None:
    """The float of a canonical number, or ``None`` if not one or not finite.

    Examples:
        >>> canonical_value("500.3")
        500.3
        >>> canonical_value("1e400") is None
        True
    """
    if not CANONICAL_NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def beyond_double(text: str) -> bool:
    """True when the published text does not round-trip through a double.

    Examples:
        >>> beyond_double("12345678901234567890")
        True
        >>> beyond_double("3618.40")
        False
    """
    return Decimal(repr(float(text))) != Decimal(text)


def decimals_of(text: str) -> int:
    """Number of published decimals (sets the rounding tolerance, schema.md §8.4)."""
    return len(text.partition(".")[2])
