"""The register file as a stream of units in DuckDB SQL (never loaded into pandas).

:func:`units_sql` gives a ``WITH units AS (…)`` clause and its parameters: one row
per unit with

* ``__uid``: the unit identifier as stored; ``__row``: where the unit is, for
  findings: the physical line for CSV (header = 1, so row index + 2) and the
  1-based record number for Parquet;
* ``"d_<dimension>"``: each dimension as VARCHAR after recoding (``''`` when
  empty, so a missing code is a finding, never a NULL key);
* ``"v_<variable>"``: each variable as a BIGINT of ``10^-decimals`` (exact sums),
  NULL when empty or unreadable; ``"t_<variable>"``: the value as stored.

Every value (file path, codes, constants, partition) is a bound parameter;
column names come from the mapping, checked as identifiers when it was loaded.
DuckDB reads only the columns a query uses, in parallel, in bounded memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from sse_stats.errors import UsageError
from sse_stats.register.mapping import DimensionSource, RegisterMapping, Variable

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_HASH_CHUNK = 1 << 22


def register_format(path: Path) -> str:
    """``csv`` or ``parquet`` from the file name.

    Raises:
        UsageError: another extension.

    Examples:
        >>> register_format(Path("reg.parquet"))
        'parquet'
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(
            f"{path.name}: a register is a .csv or .parquet file, one row per unit"
        )
    return fmt


def quoted(name: str) -> str:
    """A double-quoted SQL identifier (names are checked by the mapping loader)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True, kw_only=True)
class Units:
    """The units to read: a register file, its mapping and column types, a filter.

    ``ref_area`` and ``time_period`` keep only one country and year (a
    partition); ``types`` come from :func:`column_types`. ``numbers`` names
    the variables validation found to be a number in every unit
    (``register_value_is_number`` passed): a floating-point one is then read
    with a plain rounding, without re-testing its decimals unit by unit.
    """

    mapping: RegisterMapping
    path: Path
    types: Mapping[str, str] = field(default_factory=dict)
    ref_area: str | None = None
    time_period: str | None = None
    numbers: frozenset[str] = frozenset()

    def sql(self, *, row_numbers: bool = True) -> tuple[str, dict[str, object]]:
        """``WITH units AS (…)`` and its parameters (:func:`units_sql`)."""
        return units_sql(
            self.mapping,
            self.path,
            types=self.types or None,
            ref_area=self.ref_area,
            time_period=self.time_period,
            row_numbers=row_numbers,
            numbers=self.numbers,
        )


def units_sql(
    mapping: RegisterMapping,
    path: Path,
    *,
    types: Mapping[str, str] | None = None,
    ref_area: str | None = None,
    time_period: str | None = None,
    row_numbers: bool = True,
    numbers: frozenset[str] = frozenset(),
) -> tuple[str, dict[str, object]]:
    """``WITH units AS (…)`` over the register, and its named parameters.

    Args:
        mapping: the register mapping.
        path: the register file (``.csv`` or ``.parquet``).
        types: DuckDB type of each register column (:func:`column_types`);
            numbers are read without a cast where the file already holds them
            as integers. ``None``: every value goes through ``TRY_CAST``.
        ref_area, time_period: keep only the units of one country and year.
        row_numbers: number the units (``__row``); without, ``__row`` is NULL and
            the reader skips the numbering (for queries that never cite a line).
        numbers: variables known to be numbers in every unit (:class:`Units`).
    """
    params: dict[str, object] = {"file": str(path)}
    if not row_numbers:
        reader = "read_parquet" if register_format(path) == "parquet" else "read_csv"
        options = (
            "" if reader == "read_parquet" else ", header = true, all_varchar = true"
        )
        source = f"{reader}($file{options})"
        row = "NULL"
    elif register_format(path) == "parquet":
        source = "read_parquet($file, file_row_number = true)"
        row = "file_row_number + 1"
    else:
        # WITH ORDINALITY numbers records in file order (1-based) even when the
        # CSV is read in parallel; one record per physical line after the header.
        source = "read_csv($file, header = true, all_varchar = true) WITH ORDINALITY"
        row = "ordinality + 1"
    columns = [f"{quoted(mapping.unit_id)} AS __uid", f"{row} AS __row"]
    for dim, spec in mapping.dimensions.items():
        raw = raw_dimension(spec, params)
        columns.append(f"{raw} AS {quoted('r_' + dim)}")
        columns.append(f"{dimension_code(spec, raw, params)} AS {quoted('d_' + dim)}")
    for variable in mapping.variables.values():
        kind = (types or {}).get(variable.name, "VARCHAR")
        value = _number(variable, kind, checked=variable.name in numbers)
        columns.append(f"{value} AS {quoted('v_' + variable.name)}")
        columns.append(f"{quoted(variable.name)} AS {quoted('t_' + variable.name)}")
    where = []
    if ref_area is not None:
        params["want_ref_area"] = ref_area
        where.append("d_ref_area = $want_ref_area")
    if time_period is not None:
        params["want_time_period"] = time_period
        where.append("d_time_period = $want_time_period")
    body = f"SELECT {', '.join(columns)} FROM {source}"  # noqa: S608
    if where:
        body = f"SELECT * FROM ({body}) WHERE {' AND '.join(where)}"  # noqa: S608
    return f"WITH units AS ({body})", params


def raw_dimension(spec: DimensionSource, params: dict[str, object]) -> str:
    """The register column of a dimension as stored (or its constant)."""
    if spec.constant is not None:
        params[f"k_{spec.dimension}"] = spec.constant
        return f"$k_{spec.dimension}"
    assert spec.column is not None
    return quoted(spec.column)


def dimension_code(spec: DimensionSource, raw: str, params: dict[str, object]) -> str:
    """The harmonised code from the raw value ``raw`` (text, recoded; ``''`` if empty).

    Written over any column reference, so the fine cells (grouped by the raw
    values) are translated once per cell rather than once per unit.
    """
    expr = f"coalesce(CAST({raw} AS VARCHAR), '')"
    if spec.recode:
        whens = []
        for i, (old, new) in enumerate(sorted(spec.recode.items())):
            params[f"rc_{spec.dimension}_{i}_from"] = old
            params[f"rc_{spec.dimension}_{i}_to"] = new
            whens.append(
                f"WHEN $rc_{spec.dimension}_{i}_from THEN $rc_{spec.dimension}_{i}_to"
            )
        expr = f"CASE {expr} {' '.join(whens)} ELSE {expr} END"
    return expr


_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
             "UINTEGER", "UBIGINT", "HUGEINT")  # fmt: skip
_FLOATS = ("FLOAT", "DOUBLE", "REAL")


def _number(variable: Variable, kind: str, *, checked: bool = False) -> str:
    """A value as a BIGINT of ``10^-decimals``; NULL when empty or not such a number.

    Integers are used as they are; floating-point values must have at most
    ``decimals`` digits after the point; text is parsed with ``TRY_CAST``.
    With ``checked`` (every unit's value passed that test), a floating-point
    value is only rounded: the same number, without the test (a fifth of the
    cost of the fine aggregation's scan of the values).
    """
    column = quoted(variable.name)
    scale = 10**variable.decimals
    if kind in _INTEGERS:
        return column if scale == 1 else f"({column} * {scale})"
    if kind in _FLOATS:
        # A binary float is within rounding of a number with ``decimals`` digits.
        product = f"({column} * {scale})"
        if checked:
            return f"CAST(round({product}) AS BIGINT)"
        off = f"abs({product} - round({product}))"
        return (
            f"CASE WHEN {off} <= 1e-9 * greatest(abs({product}), 1) "
            f"THEN CAST(round({product}) AS BIGINT) END"
        )
    if variable.decimals == 0:
        return f"TRY_CAST({column} AS BIGINT)"
    return (
        f"CAST(TRY_CAST({column} AS DECIMAL(18, {variable.decimals})) * {scale} "
        "AS BIGINT)"
    )


def column_types(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, str]:
    """Every column of the register and its DuckDB type (VARCHAR for CSV).

    Raises:
        UsageError: the file is missing or cannot be read as CSV or Parquet
            (the reader's reason, first line, is in the message).
    """
    if register_format(path) == "parquet":
        sql = "DESCRIBE SELECT * FROM read_parquet($file)"
    else:
        sql = (
            "DESCRIBE SELECT * FROM read_csv($file, header = true, all_varchar = true)"
        )
    try:
        rows = con.execute(sql, {"file": str(path)}).fetchall()
    except duckdb.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UsageError(
            f"{path.name}: cannot be read as a {register_format(path)} register "
            f"({reason[:200]}) (rule: file_is_readable)"
        ) from exc
    return {str(r[0]): str(r[1]) for r in rows}


def check_columns(
    con: duckdb.DuckDBPyConnection, mapping: RegisterMapping, path: Path
) -> list[str]:
    """Register columns the mapping reads but the file lacks (empty: all there)."""
    present = column_types(con, path)
    return [c for c in mapping.columns() if c not in present]


def file_sha256(path: Path) -> str:
    """SHA-256 of the register's bytes, read in 4 MiB chunks (flat memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
