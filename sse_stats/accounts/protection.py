"""Disclosure control of satellite tables before they are written (§9.1 rule 8).

Two steps, in this order:

1. **Primary** frequency rule on the cells the pipeline aggregates itself
   (schema.md §10: "alternative perimeters, new totals"): a cell derived by a
   sum over sets of units (an entity group from its national subgroups) whose
   units, ``N_UNITS`` of the same units in any table, number 1 to
   ``min_units − 1`` is emptied with ``CONF_STATUS = A``. Counts of units
   (``count_measures`` in ``sdc.yaml``) are not magnitudes. A cell the NSO
   submitted keeps its flags: a small one it left free is the NSO's release,
   reported by the validation warning ``small_cell_not_flagged``. A cell derived
   from figures of the same units (``B1G = P1 − P2``, paid employment from its
   member split) discloses nothing its published inputs do not.
2. **Secondary** suppression across all tables of each country
   (:func:`sse_stats.accounts.sdc.protect_tables`), so no primary cell can be
   recovered from published ones.

The exports run the stricter :mod:`sse_stats.publish.export.protect` on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sse_stats.accounts.disclosure import (
    UNIT_KEY,
    SdcParameters,
    primary_codes,
    suppress_primary,
    unit_counts,
)
from sse_stats.accounts.sdc import protect_tables
from sse_stats.accounts.shells import LinearDerivation, TableShell


def protect_published(
    tables: Mapping[str, pd.DataFrame],
    shells: Mapping[str, TableShell],
    params: SdcParameters,
) -> dict[str, pd.DataFrame]:
    """The tables as they may be written: primary, then secondary suppression.

    Args:
        tables: built tables (``build_tables`` output), keyed by table name.
        shells: the shells they were built from.
        params: thresholds of ``sdc.yaml``.

    Raises:
        UsageError: a table has no shell.
    """
    aggregated = {
        name: _aggregated(frame, shells[name])
        for name, frame in tables.items()
        if name in shells and not frame.empty
    }
    marked = dict(tables)
    if any(mask.any() for mask in aggregated.values()):
        counts = unit_counts(tables.values())
        for name, mask in aggregated.items():
            if not mask.any():
                continue
            frame = tables[name]
            codes = pd.Series("", index=frame.index, dtype="str")
            codes[mask] = primary_codes(
                frame[mask], counts, None, params, params.count_measures
            )
            marked[name] = suppress_primary(frame, codes)
    return protect_tables(marked, shells)


def _aggregated(
    frame: pd.DataFrame, shell: TableShell
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Cells derived by a sum over sets of units (a mask).

    A sum along a dimension that splits units (entity group, subgroup,
    activity, sector, region, cooperative type or level: ``UNIT_KEY``) makes a
    new set of units; a sum along the measure, sex, work category or member
    type adds up figures of the same units the NSO published.
    """
    sums = {
        d.id
        for d in shell.derivations
        if isinstance(d, LinearDerivation) and d.dimension in UNIT_KEY
    }
    derived = frame["is_derived"].fillna(False).astype(bool).to_numpy()
    formula = frame["derivation"].astype(object).where(frame["derivation"].notna(), "")
    ids = formula.astype(str).str.split(":", n=1).str[0].to_numpy()
    return np.asarray(derived & np.isin(ids, sorted(sums)), dtype=bool)
