"""Disclosure control of everything exported (schema.md §10), in three steps.

1. **The NSO's flags stay.** A cell the NSO sent empty and confidential
   (``CONF_STATUS ≠ F``) is never filled: nothing below adds a value.
2. **Primary suppression** of magnitude cells, with the thresholds of
   ``schemas/harmonised/sdc.yaml`` (:mod:`sse_stats.accounts.disclosure`):

   * *frequency*: where ``N_UNITS`` is known for the same cell (same country,
     year, region, entity group and subgroup, cooperative type and level,
     activity and sector; the smallest count given, i.e. active units when
     both active and registered are), a cell with 1 to ``min_units − 1`` units
     is suppressed with ``CONF_STATUS = A``;
   * *dominance* and *p %*: only where unit-level contributions are given
     (``contributions``; aggregate submissions have none, the register path
     will): ``CONF_STATUS = G`` or ``M``, and ``A`` when fewer than
     ``min_units`` units contribute.

   Counts of units (``count_measures`` in ``schemas/exports/``) are not
   magnitudes and are never primary-suppressed, nor are shares of them.
3. **Secondary suppression**, by :func:`sse_stats.accounts.sdc.protect_tables`,
   run once over every satellite table **and** the harmonised observations
   exported as SDMX-CSV, so a cell is suppressed in every output or in none and
   no output reveals what another hides. Why this method: it is the project's
   settled interim method (schema.md §10 rule 3), it already knows every
   relation a reader can use on the published cells (the hierarchies and
   identities of ``schemas/harmonised/`` and the shells' formulas, shares and
   growth rates included), and it repeats until no relation has exactly one
   suppressed cell. A production method (τ-Argus or ``GaussSuppression``) is
   open (schema.md §13 #13); neither has a maintained Python implementation
   that installs beside the pins, and the heuristic needs no solver.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sse_stats.accounts.disclosure import (
    CONF_CONCENTRATION,
    CONF_DOMINANCE,
    CONF_FREQUENCY,
    SdcParameters,
    dominance_sensitive,
    frequency_sensitive,
    p_percent_sensitive,
)
from sse_stats.accounts.sdc import protect_tables
from sse_stats.accounts.shells import TableShell
from sse_stats.errors import UsageError
from sse_stats.schema.key import DIMENSIONS

OBSERVATIONS = "observations"
"""Name of the harmonised observations among the frames protected together."""

UNIT_KEY: tuple[str, ...] = tuple(
    d for d in DIMENSIONS if d not in ("sex", "work_cat", "member_type")
)
"""The columns that single out a set of units: a cell's ``N_UNITS`` is the one
with the same values here (SEX, WORK_CAT and MEMBER_TYPE do not apply to it)."""

CELL_KEY: tuple[str, ...] = (*DIMENSIONS, "measure")
CONTRIBUTION_COLUMNS: tuple[str, ...] = (*CELL_KEY, "unit_id", "value")
"""Columns of unit-level contributions: the cell key, the unit and its value."""

_SUPPRESSED = "Q"
_FREE = "F"


@dataclass(frozen=True, slots=True)
class ProtectionSummary:
    """How many cells each step suppressed (by ``CONF_STATUS``), over all frames.

    A cell present in several tables is counted once per table.
    """

    nso: int
    primary: Mapping[str, int]
    secondary: int


def protect_for_export(
    tables: Mapping[str, pd.DataFrame],
    observations: pd.DataFrame,
    shells: Mapping[str, TableShell],
    params: SdcParameters,
    *,
    count_measures: frozenset[str],
    contributions: pd.DataFrame | None = None,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, ProtectionSummary]:
    """Apply the three steps to the satellite tables and observations together.

    Args:
        tables: satellite tables by name (as published in ``satellite.<name>``).
        observations: the harmonised observations of the editions the tables
            use (``accounts.build.select_editions``), with ``base_measure``.
        shells: the shells of the tables.
        params: thresholds of ``sdc.yaml``.
        count_measures: measures that count units (never primary-suppressed).
        contributions: unit-level values, columns :data:`CONTRIBUTION_COLUMNS`,
            or ``None`` when only aggregates are known.

    Returns:
        The protected tables, the protected observations and a summary.

    Raises:
        UsageError: ``contributions`` lacks a column, or a table has no shell.
    """
    frames = {**tables, OBSERVATIONS: observations}
    nso = sum(int(_suppressed(frame).sum()) for frame in frames.values())
    counts = _unit_counts(frames.values())
    stats = None if contributions is None else _contribution_stats(contributions)
    primary: dict[str, int] = {}
    marked: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        codes = _primary_codes(frame, counts, stats, params, count_measures)
        for code, n in codes[codes != ""].value_counts().items():
            primary[str(code)] = primary.get(str(code), 0) + int(n)
        marked[name] = _suppress(frame, codes)
    shells_all = dict(shells)
    if shells:
        template = next(iter(shells.values()))
        shells_all[OBSERVATIONS] = dataclasses.replace(
            template, name=OBSERVATIONS, derivations=(), cells=()
        )
    if OBSERVATIONS not in shells_all:
        raise UsageError("no table shell: secondary suppression needs their relations")
    protected = protect_tables(marked, shells_all)
    before = sum(int(_suppressed(f).sum()) for f in marked.values())
    after = sum(int(_suppressed(f).sum()) for f in protected.values())
    observations_out = protected.pop(OBSERVATIONS)
    summary = ProtectionSummary(nso=nso, primary=primary, secondary=after - before)
    return protected, observations_out, summary


def _suppressed(frame: pd.DataFrame) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=bool)
    conf = frame["conf_status"].astype("str")
    return frame["obs_value"].isna() & frame["conf_status"].notna() & (conf != _FREE)


def _keys(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    return frame.reindex(columns=list(columns)).astype("str").fillna("")


def _unit_counts(frames: object) -> pd.DataFrame:
    """``UNIT_KEY`` + ``n_units``: the smallest count of units given for the key."""
    parts = []
    for frame in frames:  # type: ignore[attr-defined]
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


def _contribution_stats(contributions: pd.DataFrame) -> pd.DataFrame:
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


def _primary_codes(
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


def _suppress(frame: pd.DataFrame, codes: pd.Series) -> pd.DataFrame:
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
