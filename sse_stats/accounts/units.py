"""Units as named steps: exact base units, presentation multiplier, currency conversion.

Values are stored as published with their ``unit_mult`` (schema.md §5.3). Three
steps here, each keeping the original columns:

* :func:`base_value` reads a cell in base units exactly (``Decimal`` from the
  published text), for comparisons and derivations;
* :func:`apply_presentation_multiplier` adds ``obs_value_published`` and
  ``unit_mult_published``: the value at the multiplier a table declares
  (schema.md §9.1 rule 6);
* :func:`convert_currency` adds US-dollar columns at market exchange rates or at
  purchasing power parities, from the bundled reference files
  ``schemas/reference/exchange_rates.csv`` and ``ppp.csv``. A country-year without
  a factor gives an empty (not-applicable) cell with a note, never a guess.

Not here: which cells a table keeps (:mod:`sse_stats.accounts.build`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from sse_stats.errors import SchemaFileError, UsageError

NON_CURRENCY_UNITS = frozenset({"NUM", "PS", "JOBS", "FTE", "H", "PC"})
"""Units of schema.md §5.2 that are not a currency; XDC and ISO 4217 codes are."""

ConversionKind = Literal["market", "ppp"]
_RATE_COLUMNS = {
    "market": ("currency", "year", "factor", "source", "citation", "note"),
    "ppp": ("ref_area", "currency", "year", "factor", "source", "citation", "note"),
}
_RATE_FILES = {"market": "exchange_rates.csv", "ppp": "ppp.csv"}


def is_currency(unit_measure: object) -> bool:
    """Whether a ``UNIT_MEASURE`` is a currency (``XDC`` or an ISO 4217 code).

    Examples:
        >>> is_currency("XDC"), is_currency("EUR"), is_currency("FTE")
        (True, True, False)
    """
    return (
        isinstance(unit_measure, str)
        and len(unit_measure) == 3
        and unit_measure.isupper()
        and unit_measure not in NON_CURRENCY_UNITS
    )


def unit_class(unit_measure: object) -> str:
    """``currency`` for any currency, else the unit itself (``NUM``, ``FTE``, …).

    Examples:
        >>> unit_class("XDC"), unit_class("PS")
        ('currency', 'PS')
    """
    return "currency" if is_currency(unit_measure) else str(unit_measure)


def currency_of(unit_measure: object, currency: object) -> str | None:
    """The ISO 4217 code a cell is valued in (``None`` when not a currency).

    Examples:
        >>> currency_of("XDC", "MXN"), currency_of("USD", None), currency_of("PC", None)
        ('MXN', 'USD', None)
    """
    if not is_currency(unit_measure):
        return None
    if unit_measure == "XDC":
        return currency if isinstance(currency, str) and currency else None
    return str(unit_measure)


def exact_value(text: object, value: object) -> Decimal | None:
    """The published number exactly: from its text when there is one.

    Examples:
        >>> exact_value("3618.4", 3618.4), exact_value(None, 0.5)
        (Decimal('3618.4'), Decimal('0.5'))
    """
    if isinstance(text, str) and text:
        try:
            return Decimal(text)
        except InvalidOperation:
            pass
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return Decimal(repr(float(value)))  # type: ignore[arg-type]
    except (TypeError, ValueError, InvalidOperation):
        return None


def base_value(text: object, value: object, unit_mult: object) -> Decimal | None:
    """``OBS_VALUE × 10^UNIT_MULT`` exactly (schema.md §5.3), ``None`` if empty.

    Examples:
        >>> base_value("500.3", 500.3, 6) == 500_300_000
        True
        >>> base_value("2450.7", 2450.7, 9) == 2_450_700_000_000
        True
    """
    number = exact_value(text, value)
    if number is None:
        return None
    return number.scaleb(_as_int(unit_mult))


def rescale(value: float, from_mult: int, to_mult: int) -> float:
    """A value at multiplier ``from_mult`` expressed at ``to_mult``, in one rounding.

    Examples:
        >>> rescale(7426440.0, 3, 6), rescale(2450.7, 9, 6)
        (7426.44, 2450700.0)
    """
    shift = from_mult - to_mult
    if shift >= 0:
        return value * 10.0**shift
    return value / 10.0**-shift


def apply_presentation_multiplier(
    frame: pd.DataFrame, mult_for: Callable[[str, str], int | None]
) -> pd.DataFrame:
    """Add ``obs_value_published`` and ``unit_mult_published``; keep the originals.

    This is the one place values change multiplier (schema.md §9.1 rule 6).

    Args:
        frame: cells with ``obs_value``, ``unit_mult``, ``unit_measure``, ``measure``.
        mult_for: ``(measure, unit_class) -> multiplier`` (``None``: keep the
            cell's own multiplier), e.g. ``TableShell.presentation_mult``.

    Returns:
        A copy with the two columns added.

    Examples:
        >>> f = pd.DataFrame({"measure": ["B1G"], "obs_value": [2450.7],
        ...                   "unit_mult": [9], "unit_measure": ["XDC"]})
        >>> out = apply_presentation_multiplier(f, lambda m, u: 6)
        >>> float(out.obs_value_published[0]), int(out.unit_mult_published[0])
        (2450700.0, 6)
    """
    out = frame.copy()
    values: list[float] = []
    mults: list[Any] = []
    for measure, value, mult, unit in zip(
        out["measure"],
        out["obs_value"],
        out["unit_mult"],
        out["unit_measure"],
        strict=True,
    ):
        own = None if pd.isna(mult) else int(mult)
        target = mult_for(str(measure), unit_class(unit))
        if own is None or target is None:
            target = own
        mults.append(target)
        if pd.isna(value) or own is None or target is None:
            values.append(math.nan)
        else:
            values.append(rescale(float(value), own, target))
    out["obs_value_published"] = pd.Series(values, index=out.index, dtype="float64")
    out["unit_mult_published"] = pd.Series(mults, index=out.index, dtype="Int64")
    return out


def load_conversion_factors(schemas_dir: Path, kind: ConversionKind) -> pd.DataFrame:
    """Read ``schemas/reference/exchange_rates.csv`` (market) or ``ppp.csv``.

    Factors are national currency units per US dollar (market: period-average
    exchange rate; ppp: GDP purchasing power parity, per international dollar).

    Raises:
        SchemaFileError: a column is missing, a factor is not a positive number or
            a (currency or country, year) repeats.
    """
    name = _RATE_FILES[kind]
    path = schemas_dir / "reference" / name
    try:
        rates = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise SchemaFileError(name, "(file)", "file is missing") from exc
    missing = [c for c in _RATE_COLUMNS[kind] if c not in rates.columns]
    if missing:
        raise SchemaFileError(name, "header", f"missing columns {missing}")
    factors = pd.to_numeric(rates["factor"], errors="coerce")
    bad = rates.index[~(factors > 0)].tolist()
    if bad:
        raise SchemaFileError(
            name, f"line {bad[0] + 2}.factor", "a positive number is required"
        )
    key = _rate_key(kind)
    repeated = rates.duplicated([key, "year"])
    if repeated.any():
        line = int(rates.index[repeated][0]) + 2
        raise SchemaFileError(name, f"line {line}", f"repeated {key} and year")
    rates["factor"] = factors
    return rates


def convert_currency(
    frame: pd.DataFrame, rates: pd.DataFrame, kind: ConversionKind = "market"
) -> pd.DataFrame:
    """Add US-dollar columns for currency cells; keep every original column.

    Converts ``obs_value_published`` (or ``obs_value`` when the presentation step
    has not run) at the same multiplier. Adds ``obs_value_usd_<kind>``,
    ``unit_mult_usd_<kind>``, ``factor_usd_<kind>``, ``factor_usd_<kind>_source``
    and ``note_usd_<kind>``. Cells that are not in a currency stay empty with no
    note; a currency cell without a factor for its year stays empty with a
    not-applicable note.

    Args:
        frame: cells with ``ref_area``, ``time_period``, ``unit_measure``,
            ``currency`` and a value column.
        rates: :func:`load_conversion_factors` output for ``kind``.
        kind: ``market`` (exchange rates, by currency) or ``ppp`` (purchasing
            power parities, by country, for its national currency only).

    Examples:
        >>> f = pd.DataFrame({"ref_area": ["MEX", "MEX"],
        ...     "time_period": ["2019", "2031"],
        ...     "unit_measure": ["XDC", "XDC"], "currency": ["MXN", "MXN"],
        ...     "obs_value": [1926.5, 1.0], "unit_mult": [6, 6]})
        >>> r = pd.DataFrame({"currency": ["MXN"], "year": ["2019"], "factor": [19.265],
        ...     "source": ["WB"], "citation": ["WDI"], "note": [""]})
        >>> out = convert_currency(f, r)
        >>> out.obs_value_usd_market.tolist()[0], out.note_usd_market.tolist()[1][:14]
        (100.0, 'not applicable')
    """
    if kind not in _RATE_COLUMNS:
        raise UsageError(f"kind must be 'market' or 'ppp', not {kind!r}")
    key = _rate_key(kind)
    table = {(str(r[key]), str(r["year"])): r for r in rates.to_dict("records")}
    value_col, mult_col = (
        ("obs_value_published", "unit_mult_published")
        if "obs_value_published" in frame.columns
        else ("obs_value", "unit_mult")
    )
    out = frame.copy()
    converted: list[float] = []
    mults: list[Any] = []
    factors: list[float] = []
    sources: list[str | None] = []
    notes: list[str | None] = []
    for record in out.to_dict("records"):
        code = currency_of(record.get("unit_measure"), record.get("currency"))
        mult = record.get(mult_col)
        mults.append(None if code is None or pd.isna(mult) else int(mult))
        if code is None:
            converted.append(math.nan)
            factors.append(math.nan)
            sources.append(None)
            notes.append(None)
            continue
        year = str(record.get("time_period"))
        lookup = code if kind == "market" else str(record.get("ref_area"))
        rate = None if code == "USD" and kind == "market" else table.get((lookup, year))
        problem = _rate_problem(kind, code, lookup, year, rate)
        if problem is not None:
            converted.append(math.nan)
            factors.append(math.nan)
            sources.append(None)
            notes.append(problem)
            continue
        factor = 1.0 if rate is None else float(rate["factor"])
        value = record.get(value_col)
        converted.append(
            math.nan if value is None or pd.isna(value) else float(value) / factor
        )
        factors.append(factor)
        sources.append(
            "identity (already US dollars)"
            if rate is None
            else f"{rate['source']}: {rate['citation']}"
        )
        notes.append(
            None if rate is None or not rate.get("note") else str(rate["note"])
        )
    suffix = f"usd_{kind}"
    out[f"obs_value_{suffix}"] = pd.Series(converted, index=out.index, dtype="float64")
    out[f"unit_mult_{suffix}"] = pd.Series(mults, index=out.index, dtype="Int64")
    out[f"factor_{suffix}"] = pd.Series(factors, index=out.index, dtype="float64")
    out[f"factor_{suffix}_source"] = pd.Series(sources, index=out.index, dtype=object)
    out[f"note_{suffix}"] = pd.Series(notes, index=out.index, dtype=object)
    return out


def _rate_key(kind: str) -> str:
    return "currency" if kind == "market" else "ref_area"


def _rate_problem(
    kind: str, code: str, lookup: str, year: str, rate: dict[str, Any] | None
) -> str | None:
    if kind == "market" and code == "USD":
        return None
    if rate is None:
        what = "market exchange rate" if kind == "market" else "PPP factor"
        return (
            f"not applicable: no {what} for {lookup} in {year} in "
            f"schemas/reference/{_RATE_FILES[kind]}"
        )
    if kind == "ppp" and str(rate.get("currency")) != code:
        return (
            f"not applicable: the PPP factor of {lookup} is for "
            f"{rate.get('currency')}, this cell is in {code}"
        )
    return None


def _as_int(value: object) -> int:
    """A multiplier as an int; empty (None, NaN, NA) reads as 0."""
    try:
        number = float(str(value))
    except ValueError:  # None, pandas NA
        return 0
    return 0 if math.isnan(number) else int(number)
