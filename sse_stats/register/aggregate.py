"""Aggregate a register to cells with their contributions, in DuckDB.

Three steps, none of which loads units into Python:

1. :func:`fine_cells`: one streaming scan groups the units by every dimension
   any breakdown uses (the finest cells, a few hundred thousand at most): the
   number of units and, per series, the sum (exact, integers of
   ``10^-decimals``), the largest contribution and, for a series that may be
   negative, the sum of absolute values. Kept as a temporary table.
2. :func:`roll_up`: the published cells are ``GROUPING SETS`` of the fine cells
   (sums of sums, the largest of the largest, and the two largest fine maxima).
3. :func:`second_contributions`: the second largest contribution of a cell is
   the larger of its second fine maximum and the second largest unit of the fine
   cell that holds its largest. Only cells where it can matter (sensitive if the
   second were as large as the first) need it, so one targeted scan reads the
   units of those few fine cells (``max(x, 2)``); for a CSV register the fine
   cells keep their two largest instead (parsing the text again costs more).
   Before it, :func:`second_bounds` brackets the value from the fine cells
   alone: where both ends give the same verdict, no unit is read.

Contributions are absolute values where a series may be negative (a negative
value added discloses its unit as much as a positive one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from sse_stats.register.mapping import RegisterMapping, Series
from sse_stats.register.source import Units, dimension_code, quoted, register_format

FINE = "__register_fine"
"""Name of the temporary table of fine cells in the connection."""

TOTAL = "_T"
_CANDIDATES = "__register_candidates"


def magnitude_series(mapping: RegisterMapping) -> list[Series]:
    """The summed series (every series but N_UNITS)."""
    return [s for s in mapping.series if not s.is_count]


def absolute(series: Series, negative: Iterable[str]) -> bool:
    """Whether contributions are taken in absolute value for ``series``."""
    return series.may_be_negative or bool(set(series.terms) & set(negative))


def _unit_value(series: Series, empty: Iterable[str] = ()) -> str:
    """A unit's contribution: the sum of its terms (an empty term adds 0).

    ``coalesce`` only where a term has empty values and there are several
    terms (``sum`` and ``max`` skip NULL by themselves).
    """
    gaps = set(empty) if len(series.terms) > 1 else set()
    return " + ".join(
        f"coalesce({quoted('v_' + t)}, 0)" if t in gaps else quoted("v_" + t)
        for t in series.terms
    )


def keeps_top2(units: Units) -> bool:
    """Whether the fine cells keep their two largest contributions.

    For a CSV register: parsing the text again to find the second largest
    contribution of a few cells (:func:`second_contributions`) costs a whole
    scan (3.5 s at 10M units), keeping the two largest in every fine cell
    about 0.8 s. For Parquet the rescan is cheaper (0.25 s against 1.6 s, as the
    bounds of :func:`second_bounds` leave few cells to read).
    """
    return register_format(units.path) == "csv"


def fine_cells(
    con: duckdb.DuckDBPyConnection,
    units: Units,
    *,
    negative: Iterable[str] = (),
    empty: Iterable[str] = (),
) -> int:
    """Create the fine-cell table :data:`FINE`; return its number of rows.

    Units are grouped by their raw dimension values (``r_…``, as stored: no
    cast per unit); the harmonised codes (``d_…``) are computed once per fine
    cell afterwards. With :func:`keeps_top2`, each series also keeps its two
    largest contributions (``top2_…``, a list).
    """
    mapping = units.mapping
    dims = ["ref_area", "time_period", *mapping.grouped_dimensions]
    raw = ", ".join(quoted("r_" + d) for d in dims)
    parts = ["count(*) AS n"]
    top2 = keeps_top2(units)
    for series in magnitude_series(mapping):
        value = _unit_value(series, empty)
        contribution = f"abs({value})" if absolute(series, negative) else value
        parts.append(f"sum({value}) AS {quoted('sum_' + series.id)}")
        parts.append(f"max({contribution}) AS {quoted('max_' + series.id)}")
        if absolute(series, negative):
            parts.append(f"sum(abs({value})) AS {quoted('abs_' + series.id)}")
        if top2:
            parts.append(f"max({contribution}, 2) AS {quoted('top2_' + series.id)}")
    cte, params = units.sql(row_numbers=False)
    codes = ", ".join(
        f"{dimension_code(mapping.dimensions[d], quoted('r_' + d), params)} "
        f"AS {quoted('d_' + d)}"
        for d in dims
    )
    con.execute(f"DROP TABLE IF EXISTS {FINE}")
    con.execute(
        f"CREATE TEMP TABLE {FINE} AS SELECT row_number() OVER () AS fid, {codes}, * "  # noqa: S608
        f"FROM ({cte} SELECT {raw}, {', '.join(parts)} FROM units GROUP BY {raw})",
        params,
    )
    row = con.execute(f"SELECT count(*) FROM {FINE}").fetchone()  # noqa: S608
    return 0 if row is None else int(row[0])


def grouping_sets(mapping: RegisterMapping) -> list[tuple[str, ...]]:
    """Every grouping set of every breakdown, without repeats, in a fixed order."""
    seen: dict[tuple[str, ...], None] = {}
    for breakdown in mapping.breakdowns:
        for gset in breakdown.grouping_sets():
            seen.setdefault(gset, None)
    return list(seen)


def roll_up(
    con: duckdb.DuckDBPyConnection,
    mapping: RegisterMapping,
    *,
    negative: Iterable[str] = (),
    recode: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """The published cells, long: one row per cell and series.

    Columns: the dimensions (``_T`` where a breakdown totals them), ``series``,
    ``n`` (units of the cell), ``text`` (the exact sum, scaled back to the
    series' decimals), ``value`` (float), ``top1``, ``fine2`` (the second fine
    maximum), ``fid`` (the fine cell holding ``top1``) and ``total_abs``
    (the total dominance is judged against).
    """
    dims = list(mapping.grouped_dimensions)
    sets = grouping_sets(mapping)
    recoded, params = _recoded_dims(dims, recode or {})
    series = magnitude_series(mapping)
    negative = set(negative)
    inner = [
        "fid",
        "n",
        '"d_ref_area"',
        '"d_time_period"',
        *recoded,
        *(quoted(f"{kind}_{s.id}") for s in series for kind in ("sum", "max")),
        *(quoted("abs_" + s.id) for s in series if absolute(s, negative)),
    ]
    outer = ['"d_ref_area"', '"d_time_period"']
    for dim in dims:
        col = quoted("d_" + dim)
        outer.append(
            f"CASE WHEN GROUPING({col}) = 1 THEN '{TOTAL}' ELSE {col} END AS {col}"
        )
    outer.append(
        "GROUPING(" + ", ".join(quoted("d_" + d) for d in dims) + ") AS gid"
        if dims
        else "0 AS gid"
    )
    outer.append("sum(n) AS n")
    for s in series:
        total, top = quoted("sum_" + s.id), quoted("max_" + s.id)
        outer += [
            f"CAST(sum({total}) AS VARCHAR) AS {quoted('text_' + s.id)}",
            f"CAST(sum({total}) AS DOUBLE) AS {quoted('value_' + s.id)}",
            f"CAST(max({top}) AS DOUBLE) AS {quoted('top1_' + s.id)}",
            f"CAST(coalesce(max({top}, 2)[2], 0) AS DOUBLE) "
            f"AS {quoted('fine2_' + s.id)}",
            f"arg_max(fid, {top}) AS {quoted('fid_' + s.id)}",
        ]
        if absolute(s, negative):
            outer.append(
                f"CAST(sum({quoted('abs_' + s.id)}) AS DOUBLE) "
                f"AS {quoted('abs_' + s.id)}"
            )
    sets_sql = ", ".join(
        "(" + ", ".join(quoted("d_" + d) for d in ("ref_area", "time_period", *g)) + ")"
        for g in sets
    )
    sql = (
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {FINE}) "  # noqa: S608
        f"GROUP BY GROUPING SETS ({sets_sql})"
    )
    wide = con.execute(sql, params).fetchdf()
    return _long(wide, mapping, dims, sets, negative)


def _recoded_dims(
    dims: Sequence[str], recode: Mapping[str, Mapping[str, str]]
) -> tuple[list[str], dict[str, object]]:
    """Dimension expressions after reading bad codes as _U and coop codes by group."""
    params: dict[str, object] = {}
    out = []
    for dim in dims:
        col = quoted("d_" + dim)
        expr = col
        bad = sorted(recode.get(dim, {}))
        if bad:
            params[f"bad_{dim}"] = bad
            expr = (
                f"CASE WHEN list_contains($bad_{dim}, {col}) THEN '_U' ELSE {col} END"
            )
        if dim in ("coop_type", "coop_level") and "sse_entity" in dims:
            entity = quoted("d_sse_entity")
            expr = (
                f"CASE WHEN {entity} <> 'COOP' THEN '_Z' "
                f"WHEN ({expr}) = '_Z' THEN '_U' ELSE ({expr}) END"
            )
        out.append(expr if expr == col else f"{expr} AS {col}")
    return out, params


def _long(
    wide: pd.DataFrame,
    mapping: RegisterMapping,
    dims: Sequence[str],
    sets: Sequence[tuple[str, ...]],
    negative: set[str],
) -> pd.DataFrame:
    """Rows of the breakdowns that admit them, one per published series."""
    wide = wide.rename(
        columns={f"d_{d}": d for d in ("ref_area", "time_period", *dims)}
    )
    # GROUPING() sets a bit per dimension that is totalled (first dimension = high bit).
    gid_of = {
        gset: sum(1 << (len(dims) - 1 - i) for i, d in enumerate(dims) if d not in gset)
        for gset in sets
    }
    by_series: dict[str, list[Series]] = {}
    for s in mapping.series:
        by_series.setdefault(s.measure, []).append(s)
    frames = []
    for breakdown in mapping.breakdowns:
        gids = [gid_of[g] for g in breakdown.grouping_sets()]
        mask = wide["gid"].isin(gids)
        for dim, codes in breakdown.within.items():
            mask &= wide[dim].isin(codes)
        rows = wide[mask]
        if rows.empty:
            continue
        for measure in sorted(breakdown.measures):
            for s in by_series.get(measure, []):
                frames.append(_series_rows(rows, s, dims, negative))
    cols = [
        "ref_area",
        "time_period",
        *dims,
        "series",
        "n",
        "text",
        "value",
        "top1",
        "fine2",
        "fid",
        "total_abs",
    ]
    if not frames:
        return pd.DataFrame(columns=cols)
    out = pd.concat(frames, ignore_index=True)
    out = out.drop_duplicates(subset=["ref_area", "time_period", *dims, "series"])
    return out[cols].sort_values(
        ["ref_area", "time_period", *dims, "series"], ignore_index=True
    )


def _series_rows(
    rows: pd.DataFrame, series: Series, dims: Sequence[str], negative: set[str]
) -> pd.DataFrame:
    out = rows[["ref_area", "time_period", *dims, "n"]].copy()
    out["series"] = series.id
    if series.is_count:
        out["text"] = out["n"].astype("int64").astype(str)
        out["value"] = out["n"].astype("float64")
        for col in ("top1", "fine2", "total_abs"):
            out[col] = np.nan
        out["fid"] = pd.NA
        return out
    scale = series.decimals
    text = rows[f"text_{series.id}"].astype(str)
    out["text"] = text if scale == 0 else text.map(lambda t: _scaled(t, scale))
    out["value"] = rows[f"value_{series.id}"] / 10**scale
    out["top1"] = rows[f"top1_{series.id}"] / 10**scale
    out["fine2"] = rows[f"fine2_{series.id}"] / 10**scale
    out["fid"] = rows[f"fid_{series.id}"]
    if absolute(series, negative):
        out["total_abs"] = rows[f"abs_{series.id}"] / 10**scale
    else:
        out["total_abs"] = out["value"].abs()
    return out


def _scaled(text: str, decimals: int) -> str:
    """``"838"`` with 1 decimal → ``"83.8"`` (exact)."""
    return str(Decimal(text).scaleb(-decimals).quantize(Decimal(1).scaleb(-decimals)))


def second_contributions(
    con: duckdb.DuckDBPyConnection,
    units: Units,
    cells: pd.DataFrame,
    wanted: pd.Series,
    *,
    negative: Iterable[str] = (),
    empty: Iterable[str] = (),
) -> pd.Series:
    """The second largest contribution of each cell where ``wanted`` (else NaN).

    One scan of the register, reading only the units of the fine cells that hold
    the largest contribution of a wanted cell (joined on the raw values); none
    when the fine cells kept their two largest (:func:`keeps_top2`).
    """
    top2 = pd.Series(np.nan, index=cells.index)
    if not bool(wanted.any()):
        return top2
    pick, ties, need = _untied(cells, wanted)
    top2[ties[ties].index] = pick.loc[ties, "top1"]
    if need.empty:
        return top2
    mapping = units.mapping
    dims = ["ref_area", "time_period", *mapping.grouped_dimensions]
    negative = set(negative)
    series = {s.id: s for s in magnitude_series(mapping)}
    used = sorted(set(need["series"]))
    lists = ", ".join(
        f"max({'abs(' if absolute(series[i], negative) else '('}"
        f"{_unit_value(series[i], empty)}), 2) AS {quoted('l_' + i)}"
        for i in used
    )
    if keeps_top2(units):  # the fine cells hold them: no scan of the units
        params: dict[str, object] = {}
        lists = ", ".join(f"{quoted('top2_' + i)} AS {quoted('l_' + i)}" for i in used)
        sql = (
            f"SELECT f.fid, {lists} FROM {FINE} f SEMI JOIN {_CANDIDATES} k "  # noqa: S608
            "ON f.fid = k.fid"
        )
    else:
        on = " AND ".join(
            f"u.{quoted('r_' + d)} IS NOT DISTINCT FROM c.{quoted('r_' + d)}"
            for d in dims
        )
        cte, params = units.sql(row_numbers=False)
        sql = (
            f"{cte}, c AS (SELECT f.* FROM {FINE} f SEMI JOIN {_CANDIDATES} k "  # noqa: S608
            f"ON f.fid = k.fid) SELECT c.fid, {lists} FROM units u JOIN c ON {on} "
            "GROUP BY c.fid"
        )
    found = _for_fine_cells(con, need, sql, params)
    for ident in used:
        rows = need[need["series"] == ident]
        scale = 10 ** series[ident].decimals
        inner = (
            rows["fid"]
            .astype("int64")
            .map(lambda f, i=ident: _second(found.at[f, f"l_{i}"]))
        )
        top2[rows.index] = np.maximum(
            rows["fine2"].to_numpy(), inner.to_numpy() / scale
        )
    return top2


def second_bounds(
    con: duckdb.DuckDBPyConnection,
    mapping: RegisterMapping,
    cells: pd.DataFrame,
    wanted: pd.Series,
    *,
    negative: Iterable[str] = (),
) -> tuple[pd.Series, pd.Series]:
    """Lower and upper bounds of the second largest contribution (NaN elsewhere).

    Read from the fine cells only (no unit). The second largest unit of a cell
    is at least its second fine maximum (``fine2``). It is at most the largest
    (``top1``), and unless another fine cell ties with the largest, at most the
    larger of ``fine2`` and the rest of the fine cell holding the largest: its
    sum of contributions less its maximum, as contributions are never negative
    (absolute values where a series has negatives). A fine cell of one unit
    leaves nothing: the bounds meet.
    """
    low = pd.Series(np.nan, index=cells.index)
    high = pd.Series(np.nan, index=cells.index)
    if not bool(wanted.any()):
        return low, high
    pick, ties, need = _untied(cells, wanted)
    low[pick.index] = pick["fine2"]
    high[pick.index] = pick["top1"]
    low[ties[ties].index] = pick.loc[ties, "top1"]
    if need.empty:
        return low, high
    negative = set(negative)
    series = {s.id: s for s in magnitude_series(mapping)}
    used = sorted(set(need["series"]))
    columns = ", ".join(
        f"{quoted(('abs_' if absolute(series[i], negative) else 'sum_') + i)} "
        f"- {quoted('max_' + i)} AS {quoted('rest_' + i)}"
        for i in used
    )
    columns += ", n"
    found = _for_fine_cells(
        con,
        need,
        f"SELECT f.fid, {columns} FROM {FINE} f SEMI JOIN {_CANDIDATES} k "  # noqa: S608
        "ON f.fid = k.fid",
    )
    for ident in used:
        rows = need[need["series"] == ident]
        holder = found.loc[rows["fid"].astype("int64")]
        rest = holder[f"rest_{ident}"].astype("float64").fillna(0.0).to_numpy()
        rest = rest / 10 ** series[ident].decimals
        others = np.maximum(holder["n"].astype("float64").to_numpy() - 1, 1)
        fine2 = rows["fine2"].to_numpy()
        # The largest of the holder's other units is at least their mean.
        low[rows.index] = np.maximum(fine2, rest / others)
        high[rows.index] = np.maximum(fine2, np.minimum(rows["top1"].to_numpy(), rest))
    return low, high


def _untied(
    cells: pd.DataFrame, wanted: pd.Series
) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """The wanted cells; which tie their largest with another fine cell (their
    second is the largest); the others, whose second needs their fine cells."""
    pick = cells[wanted]
    ties = pick["fine2"] >= pick["top1"]
    return pick, ties, pick[~ties]


def _for_fine_cells(
    con: duckdb.DuckDBPyConnection,
    need: pd.DataFrame,
    sql: str,
    params: dict[str, object] | None = None,
) -> pd.DataFrame:
    """Run ``sql`` with the fine cells of ``need`` as :data:`_CANDIDATES`, by fid."""
    fids = pd.DataFrame({"fid": sorted({int(f) for f in need["fid"]})})
    con.register(_CANDIDATES, fids)
    try:
        return con.execute(sql, params or {}).fetchdf().set_index("fid")
    finally:
        con.unregister(_CANDIDATES)


def _second(values: Any) -> float:
    items = list(values) if values is not None else []
    return float(items[1]) if len(items) > 1 and items[1] is not None else 0.0
