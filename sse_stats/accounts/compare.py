"""The cross-country comparison view: one row per country and year.

For analysts comparing the SSE's weight across countries: the SSE share of gross
value added, of paid employment (``EMP_FTE``, ``WORK_CAT = EMP``) and of
compensation of employees, each with its flag and whether the NSO published it or
it was computed from levels; the perimeter that stands for the SSE, its coverage
and the edition used. Shares are read from ``satellite.t10_share_series``, so
they were computed in base units (``OBS_VALUE × 10^UNIT_MULT``) of one currency,
and lines up countries with different multipliers and currencies. The SSE gross
value added is also given in millions of national currency and of US dollars at
market exchange rates (when conversion factors are passed).

Every difference of definition stays visible: the perimeter column names the
group when no SSE total was submitted, and the coverage column the units covered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from sse_stats.accounts.build import build_tables
from sse_stats.accounts.sdc import protect_tables
from sse_stats.accounts.shells import TableShell
from sse_stats.accounts.units import convert_currency, rescale
from sse_stats.errors import UsageError

SHARE_TABLE = "t10_share_series"
SHARES: tuple[tuple[str, str, Mapping[str, str]], ...] = (
    ("b1g", "B1G", {}),
    ("emp_fte", "EMP_FTE", {"work_cat": "EMP"}),
    ("d1", "D1", {}),
)
"""``(column stem, SHARE_BASE, other codes)`` of the three shares compared."""

_MILLIONS = 6
COMPARISON_COLUMNS: tuple[str, ...] = (
    "ref_area",
    "time_period",
    "edition",
    "perimeter",
    "coverage",
    *(
        f"share_{stem}{suffix}"
        for stem, _, _ in SHARES
        for suffix in ("", "_status", "_origin")
    ),
    "currency",
    "sse_b1g_mn",
    "sse_b1g_usd_market_mn",
    "note",
)


def comparison_view(
    source: Mapping[str, pd.DataFrame] | pd.DataFrame,
    *,
    shells: Mapping[str, TableShell] | None = None,
    received_at: Mapping[str, str] | None = None,
    rates: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per country and year with the SSE shares, perimeter and edition.

    Args:
        source: satellite tables by name (protected, as published), or harmonised
            observations, from which every shell is built and protected first.
        shells: required when ``source`` is observations.
        received_at: ``source_file → received_at``, for observations without
            EDITION.
        rates: market exchange rates
            (:func:`~sse_stats.accounts.units.load_conversion_factors`) for the
            US-dollar column; without them that column is empty with a note.

    Returns:
        A frame with :data:`COMPARISON_COLUMNS`, sorted by country and year.
        Shares are percent; ``*_origin`` is ``submitted`` or ``computed``.

    Raises:
        UsageError: observations without shells, or tables without T10.
    """
    if isinstance(source, pd.DataFrame):
        if shells is None:
            raise UsageError(
                "comparison_view needs the shells to build tables from observations"
            )
        tables, _ = build_tables(source, shells, received_at=received_at)
        tables = protect_tables(tables, shells)
    else:
        tables = dict(source)
    if SHARE_TABLE not in tables:
        raise UsageError(f"comparison_view needs the table {SHARE_TABLE}")
    series = tables[SHARE_TABLE]
    if rates is not None and not series.empty:
        series = convert_currency(series, rates, kind="market")
    periods = _periods(tables)
    rows = [
        _row(ref_area, period, edition, series, rates is not None)
        for (ref_area, period), edition in sorted(periods.items())
    ]
    return pd.DataFrame.from_records(rows, columns=list(COMPARISON_COLUMNS))


def _periods(tables: Mapping[str, pd.DataFrame]) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for name in sorted(tables, key=lambda n: n != SHARE_TABLE):
        frame = tables[name]
        if frame.empty:
            continue
        for ref_area, period, edition in zip(
            frame["ref_area"], frame["time_period"], frame["edition"], strict=True
        ):
            out.setdefault((str(ref_area), str(period)), edition)
    return out


def _row(
    ref_area: str, period: str, edition: Any, series: pd.DataFrame, converted: bool
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ref_area": ref_area,
        "time_period": period,
        "edition": edition,
    }
    notes: list[str] = []
    cells = (
        series[(series["ref_area"] == ref_area) & (series["time_period"] == period)]
        if not series.empty
        else series
    )
    sse = cells[cells["sse_entity"] != "NATECON"] if not cells.empty else cells
    if sse.empty:
        row["perimeter"] = None
        notes.append(
            "no SSE cells in T10: no SSE total, or no single entity group, "
            "with B1G, D1 or paid EMP_FTE"
        )
    else:
        first = sse.iloc[0]
        nat = first["sse_entity_nat"]
        row["perimeter"] = (
            first["sse_entity"]
            if nat in ("_T", "_Z")
            else f"{first['sse_entity']}/{nat}"
        )
        notes.extend(n for n in _split(first["note"]) if n.startswith("SSE perimeter"))
        coverages = sorted({str(c) for c in sse["coverage"] if isinstance(c, str)})
        row["coverage"] = ", ".join(coverages) or None
    for stem, base, codes in SHARES:
        value, status, origin, why = _share(cells, sse, base, codes)
        row[f"share_{stem}"] = value
        row[f"share_{stem}_status"] = status
        row[f"share_{stem}_origin"] = origin
        if why:
            notes.append(why)
    _gva(row, sse, converted, notes)
    row["note"] = "; ".join(notes) or None
    return row


def _share(
    cells: pd.DataFrame, sse: pd.DataFrame, base: str, codes: Mapping[str, str]
) -> tuple[float, str | None, str | None, str | None]:
    if sse.empty:
        return math.nan, None, None, None
    mask = (sse["measure"] == "SHARE_NAT") & (sse["share_base"] == base)
    for column, code in codes.items():
        mask &= sse[column] == code
    found = sse[mask]
    label = base + "".join(f" {k}={v}" for k, v in codes.items())
    if found.empty:
        level = _level(sse, base, codes)
        national = _level(cells[cells["sse_entity"] == "NATECON"], base, codes)
        missing = [
            name
            for name, frame in (("SSE", level), ("national", national))
            if frame.empty
        ]
        reason = (
            f"no {' or '.join(missing)} {label}"
            if missing
            else f"{label} share not computable"
        )
        return math.nan, None, None, f"share of {label}: {reason}"
    cell = found.iloc[0]
    origin = "computed" if bool(cell["is_derived"]) else "submitted"
    value = cell["obs_value_published"]
    # Coverage that differs between the SSE and the national economy is shown.
    mixed = [n for n in _split(cell["note"]) if n.startswith("Inputs differ")]
    return (
        float(value) if not pd.isna(value) else math.nan,
        cell["obs_status"],
        origin,
        f"share of {label}: {mixed[0]}" if mixed else None,
    )


def _level(frame: pd.DataFrame, measure: str, codes: Mapping[str, str]) -> pd.DataFrame:
    if frame.empty:
        return frame
    mask = frame["measure"] == measure
    for column, code in codes.items():
        mask &= frame[column] == code
    return frame[mask]


def _gva(
    row: dict[str, Any], sse: pd.DataFrame, converted: bool, notes: list[str]
) -> None:
    level = _level(sse, "B1G", {})
    row["currency"] = None
    row["sse_b1g_mn"] = math.nan
    row["sse_b1g_usd_market_mn"] = math.nan
    if level.empty:
        return
    cell = level.iloc[0]
    row["currency"] = (
        cell["currency"]
        if isinstance(cell["currency"], str)
        else (cell["unit_measure"])
    )
    mult = cell["unit_mult_published"]
    value = cell["obs_value_published"]
    if pd.isna(value) or pd.isna(mult):
        return
    row["sse_b1g_mn"] = rescale(float(value), int(mult), _MILLIONS)
    if not converted:
        notes.append("no exchange rates given: US-dollar column not applicable")
        return
    usd = cell["obs_value_usd_market"]
    if pd.isna(usd):
        notes.append(str(cell["note_usd_market"]))
        return
    row["sse_b1g_usd_market_mn"] = rescale(
        float(usd), int(cell["unit_mult_usd_market"]), _MILLIONS
    )


def _split(note: Any) -> list[str]:
    return [p for p in str(note).split("; ") if p] if isinstance(note, str) else []
