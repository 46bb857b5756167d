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
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from sse_stats.accounts.disclosure import (
    CONTRIBUTION_COLUMNS,
    SdcParameters,
    contribution_stats,
    primary_codes,
    suppress_primary,
    unit_counts,
)
from sse_stats.accounts.sdc import protect_tables
from sse_stats.accounts.shells import TableShell
from sse_stats.errors import UsageError

OBSERVATIONS = "observations"
"""Name of the harmonised observations among the frames protected together."""

_FREE = "F"
__all__ = [
    "CONTRIBUTION_COLUMNS",
    "OBSERVATIONS",
    "ProtectionSummary",
    "protect_for_export",
]


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
    counts = unit_counts(frames.values())
    stats = None if contributions is None else contribution_stats(contributions)
    primary: dict[str, int] = {}
    marked: dict[str, pd.DataFrame] = {}
    for name, frame in frames.items():
        codes = primary_codes(frame, counts, stats, params, count_measures)
        for code, n in codes[codes != ""].value_counts().items():
            primary[str(code)] = primary.get(str(code), 0) + int(n)
        marked[name] = suppress_primary(frame, codes)
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
