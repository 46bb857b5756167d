"""Register partitions in the curated store: one partition per country and year.

Registers live under ``<raw>/registers/<mapping>/<file>.csv|parquet`` (the folder
names the mapping of ``schemas/registers/``). :func:`discover` lists the
(country, year) partitions each file holds; :func:`process_partition` runs the
register path for one of them, :func:`process_partitions` for several in one
scan; :func:`publish_register` writes its rows with
:func:`sse_stats.publish.store.replace_partitions`, so adding or re-running a
country and year rewrites only that partition:

* ``register.observations``: the harmonised frame (docs/architecture.md);
* ``register.outcomes``: per rule, the units that passed, failed or were not
  applicable, and whether the partition was blocked (always one row per rule,
  so a re-run always replaces it);
* ``register.findings``: the unit-level findings (schema.md §8.1 columns), at
  most ``limit`` per rule. ``replace_partitions`` cannot delete a partition, so
  findings of an earlier run stay until a run has findings again: read them
  with ``register.outcomes`` (a rule with 0 fails has no current finding);
* ``register.<table>``: each satellite table built from the register.

Each table is partitioned by ``register_partition`` = ``<REF_AREA>_<YEAR>``
(hive folder ``register_partition=PRT_2022``). A blocked partition writes its
findings and keeps its previously published observations and tables, as a
rejected submission keeps the previous one. The serving copy (``sse.duckdb``) is
not rebuilt here: its cost grows with the store, and the publication asset
rebuilds it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sse_stats.errors import Finding, UsageError
from sse_stats.ingest.read import escape_text
from sse_stats.publish.store import replace_partitions
from sse_stats.register.mapping import load_register_mapping
from sse_stats.register.process import (
    RegisterResult,
    connect,
    findings_frame,
    process_register,
)
from sse_stats.register.source import FORMATS, Units
from sse_stats.validate.catalogue import cached_rules

REGISTER_SCHEMA = "register"
PARTITION_COLUMN = "register_partition"
REGISTERS_DIR = "registers"
_KEY = re.compile(r"([A-Z]{3})_([0-9]{4})")


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterFile:
    """A register file and the mapping that reads it."""

    path: Path
    mapping: str

    @property
    def fingerprint(self) -> str:
        """Size and modification time: changes when the file is replaced."""
        stat = self.path.stat()
        return f"{stat.st_size}-{stat.st_mtime_ns}"


def partition_key(ref_area: str, time_period: str) -> str:
    """``PRT_2022``: the partition of a country and year (Dagster and Parquet).

    Examples:
        >>> partition_key("PRT", "2022")
        'PRT_2022'
    """
    key = f"{ref_area}_{time_period}"
    if not _KEY.fullmatch(key):
        raise UsageError(f"{key!r} is not a country and year (ISO3_YYYY)")
    return key


def split_key(key: str) -> tuple[str, str]:
    """``("PRT", "2022")`` from ``PRT_2022``.

    Examples:
        >>> split_key("PRT_2022")
        ('PRT', '2022')
    """
    match = _KEY.fullmatch(key)
    if match is None:
        raise UsageError(f"{key!r} is not a register partition (ISO3_YYYY)")
    return match.group(1), match.group(2)


def register_files(raw_registers: Path) -> list[RegisterFile]:
    """Every ``<mapping>/<file>.csv|parquet`` under ``raw_registers``, sorted."""
    if not raw_registers.is_dir():
        return []
    out = []
    for folder in sorted(p for p in raw_registers.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix.lower() in FORMATS:
                out.append(RegisterFile(path=path, mapping=folder.name))
    return out


def discover(raw_registers: Path, schemas_dir: Path) -> dict[str, RegisterFile]:
    """The partitions the registers hold: ``{PRT_2022: RegisterFile}``.

    Reads only the country and year columns (DuckDB). Codes that do not make a
    partition key never become a partition: :func:`stray_units` lists those
    units (every partition run of the file reports them).

    Raises:
        UsageError: two files hold the same country and year.
    """
    out: dict[str, RegisterFile] = {}
    for register in register_files(raw_registers):
        for area, year in units_by_country_year(register, schemas_dir):
            key = f"{area}_{year}"
            if not _KEY.fullmatch(key):
                continue
            if key in out:
                raise UsageError(
                    f"{key} is in two registers: {out[key].path} and {register.path}; "
                    "keep one"
                )
            out[key] = register
    return dict(sorted(out.items()))


def units_by_country_year(
    register: RegisterFile, schemas_dir: Path
) -> dict[tuple[str, str], int]:
    """Units of the file per (REF_AREA, TIME_PERIOD) code pair, valid or not.

    One scan of the two columns (DuckDB).
    """
    mapping = load_register_mapping(schemas_dir, register.mapping)
    cte, params = Units(mapping=mapping, path=register.path).sql(row_numbers=False)
    con = connect(threads=1)
    try:
        rows = con.execute(
            f"{cte} SELECT d_ref_area, d_time_period, count(*) FROM units "  # noqa: S608
            "GROUP BY ALL",
            params,
        ).fetchall()
    finally:
        con.close()
    return {(str(area), str(year)): int(n) for area, year, n in rows}


@dataclass(frozen=True, slots=True, kw_only=True)
class StrayUnits:
    """Units of a register file that no partition holds, and the first of them."""

    count: int
    findings: list[Finding]


def stray_units(
    register: RegisterFile, schemas_dir: Path, *, limit: int = 50
) -> StrayUnits:
    """Units whose REF_AREA and TIME_PERIOD make no country and year (``ISO3_YYYY``).

    A partition run reads only its own country and year, so such a unit would
    be in no run: it is reported instead (rule ``register_code_in_codelist``,
    with its line, the register column and the value), never silently left out.
    Counted by :func:`units_by_country_year`; the lines read only when any.
    """
    counts = units_by_country_year(register, schemas_dir)
    count = sum(n for (a, y), n in counts.items() if not _KEY.fullmatch(f"{a}_{y}"))
    if not count:
        return StrayUnits(count=0, findings=[])
    catalogue = cached_rules((schemas_dir / "rules").resolve())
    mapping = load_register_mapping(schemas_dir, register.mapping)
    cte, params = Units(mapping=mapping, path=register.path).sql()
    params = {**params, "key_pattern": _KEY.pattern}
    stray = "NOT regexp_full_match(d_ref_area || '_' || d_time_period, $key_pattern)"
    con = connect(threads=1)
    try:
        listed = con.execute(
            f"{cte} SELECT __row, CAST(__uid AS VARCHAR), d_ref_area, "  # noqa: S608
            f"d_time_period FROM units WHERE {stray} ORDER BY __row "
            f"LIMIT {int(limit)}",
            params,
        ).fetchall()
    finally:
        con.close()
    findings = []
    for line, raw_uid, raw_area, raw_year in listed:
        uid, area, year = (escape_text(str(v)) for v in (raw_uid, raw_area, raw_year))
        bad_area = not re.fullmatch(r"[A-Z]{3}", str(raw_area))
        dimension = "ref_area" if bad_area else "time_period"
        source = mapping.dimensions[dimension]
        findings.append(
            catalogue.finding(
                "register_code_in_codelist",
                file=register.path.name,
                row=int(line),
                column=source.column or dimension.upper(),
                value=str(raw_area if bad_area else raw_year),
                detail=f'unit "{uid}": REF_AREA "{area}" and TIME_PERIOD "{year}" '
                "make no country and year (ISO3_YYYY), so no partition holds it",
            )
        )
    return StrayUnits(count=count, findings=findings)


def process_partition(
    register: RegisterFile, schemas_dir: Path, key: str, **options: object
) -> RegisterResult:
    """:func:`process_register` for the units of one country and year."""
    ref_area, time_period = split_key(key)
    return process_register(
        register.path,
        schemas_dir,
        mapping=register.mapping,
        ref_area=ref_area,
        time_period=time_period,
        **options,  # type: ignore[arg-type]
    )


def process_partitions(
    register: RegisterFile,
    schemas_dir: Path,
    keys: Sequence[str],
    **options: object,
) -> dict[str, RegisterResult]:
    """The results of several countries and years of one register file.

    One key reads only its units (:func:`process_partition`). Several read the
    whole file once and slice the result (:meth:`RegisterResult.for_partition`):
    every country and year is validated, blocked and protected on its own, so
    each slice is what its own run gives, at the cost of one scan instead of
    one per key (an unsorted file is decoded whole by every filtered read).

    Raises:
        UsageError: a key is not a country and year, or the file has no unit
            of it.
    """
    pairs = {key: split_key(key) for key in keys}
    if len(pairs) == 1:
        (key,) = pairs
        return {key: process_partition(register, schemas_dir, key, **options)}
    whole = process_register(
        register.path,
        schemas_dir,
        mapping=register.mapping,
        **options,  # type: ignore[arg-type]
    )
    if whole.blocked and not whole.by_partition:
        # The file itself failed (a column missing): every partition gets it.
        return dict.fromkeys(pairs, whole)
    missing = [key for key, pair in pairs.items() if pair not in whole.by_partition]
    if missing:
        raise UsageError(f"{register.path.name} holds no unit of {missing}")
    return {key: whole.for_partition(pair) for key, pair in pairs.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedRegister:
    """Rows written per table for one partition."""

    key: str
    rows: dict[str, int]
    blocked: bool


def publish_register(
    curated: Path, result: RegisterResult, key: str
) -> PublishedRegister:
    """Write one country and year of a register result to the curated store.

    Args:
        curated: the curated directory.
        result: the result of :func:`process_partition` for ``key``.
        key: the partition (``PRT_2022``).

    Raises:
        UsageError: the result holds rows of another country or year.
        StoreError: the store refused a name or could not be written.
    """
    ref_area, time_period = split_key(key)
    other = [p for p in result.partitions if p != (ref_area, time_period)]
    if other:
        raise UsageError(f"the result holds {other}, not only {key}")
    rows: dict[str, int] = {}
    _write(curated, "outcomes", outcomes_frame(result), key, rows)
    _write(curated, "findings", findings_frame(result.findings), key, rows)
    if result.blocked:
        return PublishedRegister(key=key, rows=rows, blocked=True)
    _write(curated, "observations", result.observations, key, rows)
    for name, table in sorted(result.tables.items()):
        _write(curated, name, table, key, rows)
    return PublishedRegister(key=key, rows=rows, blocked=False)


def outcomes_frame(result: RegisterResult) -> pd.DataFrame:
    """One row per rule: units passed, failed, not applicable; listed findings."""
    listed: dict[str, int] = {}
    for finding in result.findings:
        listed[finding.rule] = listed.get(finding.rule, 0) + 1
    records = [
        {
            "rule": rule,
            "passes": passes,
            "fails": fails,
            "not_applicable": na,
            "listed": listed.get(rule, 0),
            "blocked": result.blocked,
            "units": result.units,
            "source_file": result.source_file,
            "source_sha256": result.source_sha256,
        }
        for rule, (passes, fails, na) in sorted(result.outcomes.items())
    ]
    for rule in sorted(set(listed) - set(result.outcomes)):
        records.append(
            {
                "rule": rule, "passes": 0, "fails": listed[rule], "not_applicable": 0,
                "listed": listed[rule], "blocked": result.blocked,
                "units": result.units, "source_file": result.source_file,
                "source_sha256": result.source_sha256,
            }
        )  # fmt: skip
    return pd.DataFrame.from_records(records)


def _write(
    curated: Path, table: str, frame: pd.DataFrame, key: str, rows: dict[str, int]
) -> None:
    rows[table] = len(frame)
    if frame.empty:
        return
    out = frame.copy()
    out[PARTITION_COLUMN] = key
    replace_partitions(curated, REGISTER_SCHEMA, table, out, PARTITION_COLUMN)
