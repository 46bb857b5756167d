"""Register cells to the harmonised frame (docs/architecture.md), column for column.

Codes follow the applicability of schema.md §4.12: SSE_ENTITY_NAT is ``_T`` for a
whole group and ``_Z`` for the SSE total; COOP_TYPE and COOP_LEVEL are ``_T``
(or the code) for cooperatives and ``_Z`` otherwise; SEX, WORK_CAT and
MEMBER_TYPE come from the series (``_Z`` where they do not apply).

Provenance: ``source_file`` is the register's file name, ``source_sha256`` the
hash of its bytes, ``source_column`` the register column(s) summed (``unit_id``
for N_UNITS, ``members_f+members_m`` for a sum), ``mapping_file`` the mapping.
``source_row`` is **null** (pandas ``<NA>``, Int64): an aggregate comes from no
single line, and 0 would read as a line number; unit-level findings carry lines.
Money is in the national currency of the country table, UNIT_MULT 0, never
rescaled; ``obs_value_text`` is the exact sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sse_stats.register.mapping import RegisterMapping

GROUPS = frozenset({"COOP", "MUTUAL", "ASSOC", "FOUND", "SOCENT", "SHG", "OTHER"})
TOTAL = "_T"
NOT_APPLICABLE = "_Z"
FREE = "F"

_TEXT_COLUMNS = (
    "ref_area", "region", "time_period", "freq", "sse_entity", "sse_entity_nat",
    "coop_type", "coop_level", "activity", "inst_sector", "sex", "work_cat",
    "member_type", "measure", "obs_value_text", "unit_measure", "currency",
    "obs_status", "obs_status_nat", "conf_status", "coverage", "unit_state",
    "valuation_method", "comment_obs", "source_id", "edition", "share_base",
    "source_file", "source_sha256", "source_column", "mapping_file",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where the observations come from (the same on every row)."""

    source_file: str
    source_sha256: str
    mapping_file: str


def observation_frame(
    cells: pd.DataFrame,
    status: pd.Series,
    mapping: RegisterMapping,
    provenance: Provenance,
    columns: Sequence[str],
) -> pd.DataFrame:
    """The harmonised frame of the cells, primary-suppressed cells emptied.

    Args:
        cells: rows of :func:`~sse_stats.register.aggregate.roll_up`.
        status: ``CONF_STATUS`` of each cell (``F`` when published).
        mapping: the register mapping (series codes, constants, currencies).
        provenance: file, hash and mapping file.
        columns: the curated observation columns, in order
            (:func:`sse_stats.harmonise.frame.curated_columns`).
    """
    n = len(cells)
    series = {s.id: s for s in mapping.series}
    ids = cells["series"].astype(str)
    entity = _dimension(cells, "sse_entity")
    group = entity.isin(GROUPS)
    coop = entity == "COOP"
    out = pd.DataFrame(index=cells.index)
    out["ref_area"] = cells["ref_area"].astype(str)
    out["region"] = _dimension(cells, "region")
    out["time_period"] = cells["time_period"].astype(str)
    out["freq"] = mapping.constants.get("freq") or "A"
    out["sse_entity"] = entity
    out["sse_entity_nat"] = np.where(group, TOTAL, NOT_APPLICABLE)
    for dim in ("coop_type", "coop_level"):
        out[dim] = np.where(coop, _dimension(cells, dim), NOT_APPLICABLE)
    out["activity"] = _dimension(cells, "activity")
    out["inst_sector"] = _dimension(cells, "inst_sector")
    for dim in ("sex", "work_cat", "member_type"):
        out[dim] = ids.map({i: s.codes[dim] for i, s in series.items()})
    out["measure"] = ids.map({i: s.measure for i, s in series.items()})
    free = (status == FREE).to_numpy()
    out["obs_value"] = np.where(free, cells["value"].astype("float64"), np.nan)
    out["obs_value_text"] = pd.Series(
        np.where(free, cells["text"].astype(str), None), index=cells.index, dtype=object
    )
    unit = ids.map({i: s.unit_measure for i, s in series.items()})
    out["unit_measure"] = unit
    out["unit_mult"] = pd.array(np.zeros(n, dtype="int64"), dtype="Int64")
    currency = out["ref_area"].map(dict(mapping.currencies))
    out["currency"] = currency.where(unit == "XDC", None)
    out["obs_status"] = np.where(free, "A", "Q")
    out["obs_status_nat"] = None
    out["conf_status"] = status.astype(str).to_numpy()
    out["coverage"] = mapping.constants.get("coverage")
    count = ids == mapping.count_series.id
    state = mapping.constants.get("unit_state")
    out["unit_state"] = pd.Series(
        np.where(count, state or "", ""), index=cells.index, dtype=object
    ).replace("", None)
    out["valuation_method"] = None
    out["comment_obs"] = None
    out["source_id"] = mapping.constants.get("source_id")
    out["edition"] = mapping.constants.get("edition")
    out["share_base"] = None
    out["source_file"] = provenance.source_file
    out["source_sha256"] = provenance.source_sha256
    out["source_row"] = pd.array([pd.NA] * n, dtype="Int64")
    out["source_column"] = ids.map(
        {i: (s.source_column or mapping.unit_id) for i, s in series.items()}
    )
    out["mapping_file"] = provenance.mapping_file
    return typed(out.reindex(columns=list(columns)))


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The architecture's dtypes: str/None attributes, float64, Int64."""
    out = frame.copy()
    for column in out.columns:
        if column in ("obs_value",):
            out[column] = out[column].astype("float64")
        elif column in ("unit_mult", "source_row"):
            out[column] = out[column].astype("Int64")
        elif column in _TEXT_COLUMNS:
            values = out[column].astype(object)
            out[column] = values.where(values.notna(), None).astype(object)
    return out.reset_index(drop=True)


def _dimension(cells: pd.DataFrame, dim: str) -> pd.Series:
    if dim in cells.columns:
        return cells[dim].astype(str)
    return pd.Series(TOTAL, index=cells.index, dtype=object)


def sort_frame(frame: pd.DataFrame, key: Sequence[str]) -> pd.DataFrame:
    """Rows in key order (deterministic output)."""
    return frame.sort_values(list(key), kind="stable", ignore_index=True)


def by_partition(
    frame: pd.DataFrame,
) -> Mapping[tuple[str, str], pd.DataFrame]:
    """The frame split by (REF_AREA, TIME_PERIOD), in sorted order."""
    return {
        (str(a), str(t)): part.reset_index(drop=True)
        for (a, t), part in frame.groupby(["ref_area", "time_period"], sort=True)
    }
