"""Primary disclosure rules: frequency, (n, k) dominance and p % (schema.md §10).

Vectorised over cells; the thresholds come from ``schemas/harmonised/sdc.yaml``.
Secondary suppression lives in :mod:`sse_stats.accounts.sdc`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sse_stats.errors import SchemaFileError, UsageError
from sse_stats.schema.key import DIMENSIONS
from sse_stats.schema.load import load_yaml

# CONF_STATUS codes given by each primary rule (SDMX CL_CONF_STATUS).
CONF_FREQUENCY = "A"
CONF_DOMINANCE = "G"
CONF_CONCENTRATION = "M"
_FREE = "F"
_SUPPRESSED = "Q"


@dataclass(frozen=True, slots=True, kw_only=True)
class SdcParameters:
    """Thresholds of the primary rules."""

    min_units: int
    dominance_n: int
    dominance_k: float
    p_percent: float
    count_measures: frozenset[str] = frozenset({"N_UNITS"})
    """Measures that count units: never primary-suppressed, nor shares of them."""


def load_sdc(schemas_dir: Path) -> SdcParameters:
    """Read ``harmonised/sdc.yaml``; a missing or wrong key names the file and key."""
    doc = load_yaml(schemas_dir / "harmonised" / "sdc.yaml")

    def number(section: str, key: str) -> float:
        try:
            value = doc[section][key]
        except (KeyError, TypeError) as exc:
            raise SchemaFileError(
                "sdc.yaml", f"{section}.{key}", "is required"
            ) from exc
        if not isinstance(value, int | float) or value < 0:
            raise SchemaFileError("sdc.yaml", f"{section}.{key}", "must be >= 0")
        return float(value)

    frequency = doc.get("frequency") if isinstance(doc, dict) else None
    counts = (
        frequency.get("count_measures", ["N_UNITS"])
        if isinstance(frequency, dict)
        else ["N_UNITS"]
    )
    if not isinstance(counts, list) or not all(isinstance(m, str) for m in counts):
        raise SchemaFileError(
            "sdc.yaml", "frequency.count_measures", "must be a list of measure codes"
        )
    params = SdcParameters(
        count_measures=frozenset(counts),
        min_units=int(number("frequency", "min_units")),
        dominance_n=int(number("dominance", "n")),
        dominance_k=number("dominance", "k"),
        p_percent=number("p_percent", "p"),
    )
    if params.dominance_n not in (1, 2):
        raise SchemaFileError(
            "sdc.yaml", "dominance.n", "1 or 2 contributors are supported"
        )
    return params


def frequency_sensitive(n_units: pd.Series, params: SdcParameters) -> pd.Series:
    """Cells with 1 to ``min_units - 1`` contributors (empty cells are not sensitive).

    Examples:
        >>> p = SdcParameters(min_units=3, dominance_n=2, dominance_k=85, p_percent=80)
        >>> frequency_sensitive(pd.Series([0, 1, 2, 3]), p).tolist()
        [False, True, True, False]
    """
    units = pd.to_numeric(n_units)
    return (units >= 1) & (units < params.min_units)


def dominance_sensitive(
    total: pd.Series, top1: pd.Series, top2: pd.Series, params: SdcParameters
) -> pd.Series:
    """The ``n`` largest contributions exceed ``k`` % of the cell total.

    Contributions are taken as absolute values (a negative value added still
    discloses its unit). Examples:
        >>> p = SdcParameters(min_units=3, dominance_n=2, dominance_k=85, p_percent=80)
        >>> dominance_sensitive(pd.Series([100.0, 100.0]), pd.Series([80.0, 50.0]),
        ...                     pd.Series([10.0, 20.0]), p).tolist()
        [True, False]
    """
    top = top1.abs() + (top2.abs() if params.dominance_n == 2 else 0)
    return pd.Series(
        np.where(total.abs() > 0, top > params.dominance_k / 100 * total.abs(), False),
        index=total.index,
    )


def p_percent_sensitive(
    total: pd.Series, top1: pd.Series, top2: pd.Series, params: SdcParameters
) -> pd.Series:
    """Total minus the two largest contributions is below ``p`` % of the largest.

    Examples:
        >>> p = SdcParameters(min_units=3, dominance_n=2, dominance_k=85, p_percent=80)
        >>> p_percent_sensitive(pd.Series([100.0, 100.0]), pd.Series([50.0, 30.0]),
        ...                     pd.Series([20.0, 20.0]), p).tolist()
        [True, False]
    """
    rest = total.abs() - top1.abs() - top2.abs()
    return pd.Series(
        np.where(top1.abs() > 0, rest < params.p_percent / 100 * top1.abs(), False),
        index=total.index,
    )


# ------------------------------------------------------------ applying them

UNIT_KEY: tuple[str, ...] = tuple(
    d for d in DIMENSIONS if d not in ("sex", "work_cat", "member_type")
)
"""The columns that single out a set of units: a cell's ``N_UNITS`` is the one
with the same values here (SEX, WORK_CAT and MEMBER_TYPE do not apply to it)."""

CELL_KEY: tuple[str, ...] = (*DIMENSIONS, "measure")
CONTRIBUTION_COLUMNS: tuple[str, ...] = (*CELL_KEY, "unit_id", "value")
"""Columns of unit-level contributions: the cell key, the unit and its value."""


def _keys(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    return frame.reindex(columns=list(columns)).astype("str").fillna("")


def unit_counts(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """``UNIT_KEY`` + ``n_units``: the smallest count of units given for the key."""
    parts = []
    for frame in frames:
        if frame.empty:
            continue
        units = frame[(frame["measure"] == "N_UNITS") & frame["obs_value"].notna()]
        part = _keys(units, UNIT_KEY)
        part["n_units"] = units["obs_value"].astype(float).to_numpy()
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*UNIT_KEY, "n_units"])
    every = pd.concat(parts, ignore_index=True)
    return every.groupby(list(UNIT_KEY), as_index=False)["n_units"].min()


def contribution_stats(contributions: pd.DataFrame) -> pd.DataFrame:
    """Per cell: contributing units, total, and the two largest contributions."""
    missing = [c for c in CONTRIBUTION_COLUMNS if c not in contributions.columns]
    if missing:
        raise UsageError(f"contributions lack columns {missing}")
    frame = _keys(contributions, CELL_KEY)
    frame["unit_id"] = contributions["unit_id"].astype("str").to_numpy()
    frame["value"] = pd.to_numeric(contributions["value"]).astype(float).to_numpy()
    frame = frame[frame["value"].notna() & (frame["value"] != 0)]
    per_unit = frame.groupby([*CELL_KEY, "unit_id"], as_index=False)["value"].sum()
    per_unit["size"] = per_unit["value"].abs()
    per_unit = per_unit.sort_values("size", ascending=False, kind="stable")
    per_unit["rank"] = per_unit.groupby(list(CELL_KEY)).cumcount()
    stats = per_unit.groupby(list(CELL_KEY)).agg(
        n_contributors=("unit_id", "size"), total=("value", "sum")
    )
    for rank, column in ((0, "top1"), (1, "top2")):
        top = per_unit[per_unit["rank"] == rank].set_index(list(CELL_KEY))["size"]
        stats[column] = top.reindex(stats.index).fillna(0.0).to_numpy()
    return stats.reset_index()


def primary_codes(
    frame: pd.DataFrame,
    counts: pd.DataFrame,
    stats: pd.DataFrame | None,
    params: SdcParameters,
    count_measures: frozenset[str],
) -> pd.Series:
    """The ``CONF_STATUS`` each cell gets from a primary rule (empty: none)."""
    codes = pd.Series("", index=frame.index, dtype="str")
    if frame.empty:
        return codes
    measure = frame["measure"].astype("str")
    base = frame.reindex(columns=["base_measure"])["base_measure"].astype("str")
    magnitude = ~measure.isin(count_measures) & ~base.isin(count_measures)
    free = frame["conf_status"].isna() | (frame["conf_status"].astype("str") == _FREE)
    eligible = (frame["obs_value"].notna() & free & magnitude).to_numpy()
    units = _keys(frame, UNIT_KEY).merge(counts, on=list(UNIT_KEY), how="left")
    small = frequency_sensitive(units["n_units"], params).to_numpy(dtype=bool)
    codes[eligible & small] = CONF_FREQUENCY
    if stats is not None and not stats.empty:
        cells = _keys(frame, CELL_KEY).merge(stats, on=list(CELL_KEY), how="left")
        known = cells["n_contributors"].notna().to_numpy()
        total = cells["total"].fillna(0.0)
        top1, top2 = cells["top1"].fillna(0.0), cells["top2"].fillna(0.0)
        few = frequency_sensitive(cells["n_contributors"].fillna(0), params)
        dominated = dominance_sensitive(total, top1, top2, params)
        close = p_percent_sensitive(total, top1, top2, params)
        todo = eligible & known & (codes.to_numpy() == "")
        for mask, code in (
            (few, CONF_FREQUENCY),
            (dominated, CONF_DOMINANCE),
            (close, CONF_CONCENTRATION),
        ):
            hit = todo & np.asarray(mask, dtype=bool)
            codes[hit] = code
            todo &= ~hit
    return codes


def suppress_primary(frame: pd.DataFrame, codes: pd.Series) -> pd.DataFrame:
    """Empty the cells with a primary code; keep everything else as it is."""
    hit = (codes != "").to_numpy()
    if not hit.any():
        return frame
    out = frame.copy()
    out.loc[hit, "obs_value"] = math.nan
    for column in ("obs_value_published",):
        if column in out.columns:
            out.loc[hit, column] = math.nan
    if "obs_value_text" in out.columns:
        out.loc[hit, "obs_value_text"] = None
    out.loc[hit, "obs_status"] = _SUPPRESSED
    out.loc[hit, "conf_status"] = codes[hit].to_numpy()
    return out
