"""The register path: validate units, aggregate, protect, build satellite tables.

:func:`process_register` runs, for one register file (or one country and year
of it), with one DuckDB connection:

1. **validation** of every unit in DuckDB SQL (:mod:`.validate`): one scan counts
   the failing units of every rule, one counts distinct identifiers, and only a
   failing rule costs a scan to list its first units by line;
2. the **fine cells** (:mod:`.aggregate`): one streaming scan groups the units by
   every dimension the breakdowns use; codes are judged on these distinct code
   combinations (step 1 continued). A failing rule of severity *error* blocks
   the register here: nothing is rolled up or published, every finding is
   returned;
3. **roll-up** of the fine cells to the breakdowns' cells, with each cell's unit
   count and largest two contributions (one targeted scan for the second);
4. **primary** disclosure control (frequency, dominance, p %; ``sdc.yaml``) and
   **secondary** suppression across all relations of each country and year,
   checked by solving them (:mod:`.protect`, :mod:`.audit`);
5. the **satellite tables** of ``schemas/tables/`` built from the protected
   observations with :func:`sse_stats.accounts.build_tables` and protected again
   with :func:`sse_stats.accounts.protection.protect_published` (a cell the
   tables expose is suppressed in the observations too, and the round repeats).
   Countries are independent, so steps 4-5 run in up to two forked workers.

Memory does not grow with the register: DuckDB streams the file (with
``memory_limit``), and Python only ever holds cells. The file's SHA-256 is
computed in a thread meanwhile.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pandas as pd

from sse_stats.accounts import build_tables, load_shells
from sse_stats.accounts.disclosure import SdcParameters, load_sdc
from sse_stats.accounts.protection import protect_published
from sse_stats.accounts.shells import KEY_COLUMNS, TableShell, load_context
from sse_stats.errors import Finding
from sse_stats.harmonise.frame import curated_columns
from sse_stats.register.aggregate import (
    FINE,
    fine_cells,
    roll_up,
    second_bounds,
    second_contributions,
)
from sse_stats.register.audit import IdentitySpec
from sse_stats.register.mapping import RegisterMapping, load_register_mapping
from sse_stats.register.observations import (
    Provenance,
    observation_frame,
    sort_frame,
    typed,
)
from sse_stats.register.protect import (
    FREE,
    SECONDARY,
    SUPPRESSED,
    identity_specs,
    primary_status,
    protect_observations,
)
from sse_stats.register.source import (
    Units,
    column_types,
    file_sha256,
    register_format,
)
from sse_stats.register.validate import (
    Outcome,
    Partition,
    RegisterValidation,
    check_codes,
    check_units,
    code_sets,
)
from sse_stats.schema.load import cached_schema
from sse_stats.validate.catalogue import RuleCatalogue, cached_rules

DEFAULT_MAPPING = "make_register"
DEFAULT_MEMORY_LIMIT = "1GB"
_MAX_TABLE_ROUNDS = 10
GROUPS_PER_WORKER = 1
"""Groups of countries per table worker: one each (a group has a fixed cost)."""


@dataclass(slots=True, kw_only=True)
class RegisterResult:
    """What the register path produced for one file (or one country and year).

    ``observations`` is the harmonised frame of every published cell (empty when
    ``blocked``); ``tables`` the protected satellite tables by name (empty when
    blocked or when tables were not asked for). ``outcomes`` counts every unit
    per rule (passes, fails, not applicable); ``findings`` lists at most
    ``limit`` units per rule. ``timings`` are seconds per step.
    """

    mapping: str
    source_file: str
    source_sha256: str
    units: int
    blocked: bool
    findings: list[Finding]
    outcomes: dict[str, Outcome]
    observations: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    fine_cells: int = 0
    by_partition: dict[Partition, RegisterValidation] = field(default_factory=dict)
    blocked_partitions: list[Partition] = field(default_factory=list)

    def for_partition(self, partition: Partition) -> RegisterResult:
        """The result of one country and year, as if it had been run alone."""
        validation = self.by_partition.get(partition, RegisterValidation())
        blocked = partition in self.blocked_partitions
        observations = self.observations
        tables = self.tables
        if not blocked and not observations.empty:
            area, year = partition
            mine = (observations["ref_area"] == area) & (
                observations["time_period"] == year
            )
            observations = observations[mine].reset_index(drop=True)
            tables = {
                name: (
                    t
                    if t.empty
                    else t[
                        (t["ref_area"] == area) & (t["time_period"] == year)
                    ].reset_index(drop=True)
                )
                for name, t in tables.items()
            }
        return RegisterResult(
            mapping=self.mapping,
            source_file=self.source_file,
            source_sha256=self.source_sha256,
            units=validation.units,
            blocked=blocked,
            findings=_ordered(validation.findings),
            outcomes=validation.outcomes,
            observations=pd.DataFrame() if blocked else observations,
            tables={} if blocked else tables,
            timings=self.timings,
            fine_cells=self.fine_cells,
            by_partition={partition: validation},
            blocked_partitions=[partition] if blocked else [],
        )

    @property
    def partitions(self) -> list[tuple[str, str]]:
        """(REF_AREA, TIME_PERIOD) pairs of the observations, sorted."""
        if self.observations.empty:
            return []
        pairs = self.observations[["ref_area", "time_period"]].drop_duplicates()
        return sorted((str(a), str(t)) for a, t in pairs.itertuples(index=False))

    def suppressed(self) -> dict[str, int]:
        """Observations by CONF_STATUS (F published; A, G, M primary; S secondary)."""
        if self.observations.empty:
            return {}
        counts = self.observations["conf_status"].value_counts()
        return {str(k): int(v) for k, v in sorted(counts.items())}


def connect(
    *, threads: int | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for the register path, memory bounded (spills to disk)."""
    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": memory_limit,
        "python_enable_replacements": False,
        "preserve_insertion_order": False,
    }
    if threads is not None:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    # DuckDB 2.0 pushes TRY_CAST into the CSV reader as a hard cast, so one
    # unreadable value fails the whole read instead of becoming a finding
    # (duckdb/duckdb#23818, fix pending in #24167). Only the CSV reader uses it.
    con.execute("SET disabled_optimizers = 'type_pushdown'")
    return con


def process_register(
    path: Path,
    schemas_dir: Path,
    *,
    mapping: str | RegisterMapping = DEFAULT_MAPPING,
    ref_area: str | None = None,
    time_period: str | None = None,
    limit: int = 50,
    tables: bool = True,
    threads: int | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    workers: int | None = None,
) -> RegisterResult:
    """Run the register path on one file.

    Args:
        path: the register, ``.csv`` or ``.parquet``, one row per unit.
        schemas_dir: the ``schemas/`` folder.
        mapping: a mapping name under ``schemas/registers/`` or a loaded mapping.
        ref_area, time_period: process only the units of one country and year
            (a Dagster partition); ``None`` processes every one in the file.
        limit: findings listed per rule (every failing unit is counted).
        tables: build the satellite tables too.
        threads, memory_limit: DuckDB settings (``None``: every core).
        workers: processes that build the satellite tables of several countries
            at once (``None``: one per core, at most 2; 1: none forked).

    Returns:
        The :class:`RegisterResult`; ``blocked`` when a rule of severity error
        failed (then nothing is aggregated beyond the fine cells).

    Raises:
        UsageError: the file is not ``.csv`` or ``.parquet``.
        SchemaFileError: the mapping or another schema file is malformed.
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    register_format(path)
    catalogue = cached_rules((schemas_dir / "rules").resolve())
    spec = (
        mapping
        if isinstance(mapping, RegisterMapping)
        else load_register_mapping(schemas_dir, mapping, rule_names=list(catalogue))
    )
    hashing = ThreadPoolExecutor(max_workers=1)
    sha_future = hashing.submit(file_sha256, path)
    con = connect(threads=threads, memory_limit=memory_limit)
    try:
        types = column_types(con, path)
        findings = missing_columns(spec, path, types, catalogue)
        if findings:
            return _blocked(
                spec,
                path,
                sha_future.result(),
                RegisterValidation(findings=findings),
                timings,
            )
        units = Units(
            mapping=spec,
            path=path,
            types=types,
            ref_area=ref_area,
            time_period=time_period,
        )
        validation = check_units(con, units, catalogue, limit=limit)
        # Values every unit has as a number are read without re-testing them.
        units = replace(
            units, numbers=frozenset(spec.variables) - frozenset(validation.empty)
        )
        timings["validate_units"] = _lap(clock)
        clock = time.perf_counter()
        fine = fine_cells(
            con, units, negative=validation.negative, empty=validation.empty
        )
        timings["aggregate_fine"] = _lap(clock)
        clock = time.perf_counter()
        check_codes(
            con, FINE, units, catalogue, code_sets(schemas_dir, spec), validation,
            limit=limit,
        )  # fmt: skip
        timings["validate_codes"] = _lap(clock)
        blocked = validation.blocked_partitions(catalogue)
        if blocked and drop_partitions(con, blocked) == 0:
            return _blocked(spec, path, sha_future.result(), validation, timings, fine)
        clock = time.perf_counter()
        cells = roll_up(
            con, spec, negative=validation.negative, recode=validation.recode
        )
        timings["roll_up"] = _lap(clock)
        clock = time.perf_counter()
        params = load_sdc(schemas_dir)
        status = primary_status(
            cells,
            params,
            count_series=spec.count_series.id,
            top2=lambda wanted: second_contributions(
                con,
                units,
                cells,
                wanted,
                negative=validation.negative,
                empty=validation.empty,
            ),
            top2_bounds=lambda wanted: second_bounds(
                con, spec, cells, wanted, negative=validation.negative
            ),
        )
        timings["primary"] = _lap(clock)
    finally:
        con.close()
        hashing.shutdown(wait=True)  # no thread left when workers are forked
    sha = sha_future.result()
    clock = time.perf_counter()
    provenance = Provenance(
        source_file=path.name, source_sha256=sha, mapping_file=spec.file
    )
    columns = curated_columns(cached_schema(schemas_dir))
    frame = observation_frame(cells, status, spec, provenance, columns)
    observations, built = protect_partitions(
        frame,
        schemas_dir,
        load_shells(schemas_dir) if tables else {},
        workers=min(2, os.cpu_count() or 1) if workers is None else workers,
    )
    timings["secondary_and_tables"] = _lap(clock)
    return RegisterResult(
        mapping=spec.name,
        source_file=path.name,
        source_sha256=sha,
        units=validation.units,
        blocked=bool(blocked),
        findings=_ordered(validation.findings),
        outcomes=validation.outcomes,
        observations=observations,
        tables=built,
        timings=timings,
        fine_cells=fine,
        by_partition=validation.by_partition,
        blocked_partitions=sorted(blocked),
    )


def protect_partitions(
    frame: pd.DataFrame,
    schemas_dir: Path,
    shells: Mapping[str, TableShell],
    *,
    workers: int = 1,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Secondary suppression, then the satellite tables (every country and year).

    Countries never share a cell or a relation (REF_AREA is in every key, and
    the tables are protected country by country), so with ``workers > 1`` they
    are split into contiguous groups (in REF_AREA order, balanced by rows)
    handled by forked processes; the result is the same as with one worker, row
    for row. Without ``fork`` (not POSIX) everything stays in this process.
    """
    with _no_cycle_collection():
        return _protect_partitions(frame, schemas_dir, shells, workers=workers)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector (restored after, forked workers inherit it).

    The table step allocates some hundred thousand small dicts and tuples, none
    in a reference cycle; each collection of the old generation walks the
    whole heap (the DuckDB results included): 5-10 % of the step (measured).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _protect_partitions(
    frame: pd.DataFrame,
    schemas_dir: Path,
    shells: Mapping[str, TableShell],
    *,
    workers: int,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    identities = identity_specs(load_context(schemas_dir))
    params = load_sdc(schemas_dir)
    useful = _useful(shells, frame) if not frame.empty else {}
    areas = sorted(str(a) for a in frame["ref_area"].unique()) if len(frame) else []
    if workers <= 1 or len(areas) < 2 or "fork" not in mp.get_all_start_methods():
        observations, built = _protect_group(frame, identities, useful, shells, params)
    else:
        # Groups of about equal rows, one per worker: more groups balance
        # unequal countries better but each costs a fixed setup (measured).
        groups = _groups(frame, areas, workers * GROUPS_PER_WORKER)
        parts = [frame[frame["ref_area"].isin(g)] for g in groups]
        # This process takes the first group itself: one fork fewer, and its
        # result is not pickled back (each group's tables are megabytes).
        context = mp.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=max(1, min(workers - 1, len(parts) - 1)), mp_context=context
        ) as pool:
            futures = [
                pool.submit(_protect_group, part, identities, useful, shells, params)
                for part in parts[1:]
            ]
            results = [_protect_group(parts[0], identities, useful, shells, params)]
            results += [future.result() for future in futures]
        observations = pd.concat([r[0] for r in results], ignore_index=True)
        built = {}
        for name in results[0][1]:
            frames = [r[1][name] for r in results if not r[1][name].empty]
            built[name] = (
                pd.concat(frames, ignore_index=True) if frames else results[0][1][name]
            )
        # Each group is sorted by key and holds whole countries in REF_AREA
        # order (the key's first column): together they are in key order.
        if not observations["ref_area"].is_monotonic_increasing:
            observations = sort_frame(observations, _key_of(frame))
    return observations[list(frame.columns)], built


def _key_of(frame: pd.DataFrame) -> list[str]:
    return [c for c in KEY_COLUMNS if c in frame.columns]


def _protect_group(
    frame: pd.DataFrame,
    identities: list[IdentitySpec],
    useful: Mapping[str, TableShell],
    shells: Mapping[str, TableShell],
    params: SdcParameters,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Protect the observations of some countries, build and protect their tables.

    A submitted cell the table protection empties is emptied in the
    observations too and the round repeats, so observations and tables agree.
    """
    observations = typed(protect_observations(frame, identities)[0])
    built: dict[str, pd.DataFrame] = {}
    for _ in range(_MAX_TABLE_ROUNDS):
        if not useful or observations.empty:
            break
        raw, _findings = build_tables(observations, useful)
        built = protect_published(raw, shells, params)
        hit = _newly_suppressed(observations, built)
        if not hit.any():
            break
        observations.loc[hit, ["obs_value", "obs_value_text"]] = [float("nan"), None]
        observations.loc[hit, "obs_status"] = SUPPRESSED
        free = hit & (observations["conf_status"] == FREE)
        observations.loc[free, "conf_status"] = SECONDARY
        observations = typed(protect_observations(observations, identities)[0])
    return sort_frame(observations, _key_of(frame)), built


def _groups(
    observations: pd.DataFrame, areas: list[str], count: int
) -> list[list[str]]:
    """At most ``count`` contiguous groups of countries, about equal in rows."""
    sizes = observations["ref_area"].astype(str).value_counts()
    target = len(observations) / min(count, len(areas))
    groups: list[list[str]] = [[]]
    filled = 0
    for area in areas:
        if filled >= target * len(groups) and len(groups) < count:
            groups.append([])
        groups[-1].append(area)
        filled += int(sizes[area])
    return [g for g in groups if g]


def _useful(
    shells: Mapping[str, TableShell], observations: pd.DataFrame
) -> dict[str, TableShell]:
    """Shells that keep a measure the observations have (the others stay empty)."""
    measures = set(observations["measure"].unique())
    return {
        name: shell
        for name, shell in shells.items()
        if any(selector.measures & measures for selector in shell.cells)
    }


def _newly_suppressed(
    observations: pd.DataFrame, tables: Mapping[str, pd.DataFrame]
) -> pd.Series:
    """Published observations that a protected table left empty (a mask)."""
    key = [c for c in KEY_COLUMNS if c in observations.columns and c != "base_measure"]
    emptied = [
        table.loc[~table["is_derived"] & table["obs_value"].isna(), key]
        for table in tables.values()
        if not table.empty
    ]
    if not emptied:
        return pd.Series(False, index=observations.index)
    holes = pd.concat(emptied, ignore_index=True).astype(object).fillna("")
    holes = holes.drop_duplicates()
    left = observations[key].astype(object).fillna("")
    marked = left.merge(holes, on=key, how="left", indicator=True)
    hit = (marked["_merge"] == "both").to_numpy() & observations["obs_value"].notna()
    return pd.Series(hit, index=observations.index)


def _blocked(
    spec: RegisterMapping,
    path: Path,
    sha: str,
    validation: RegisterValidation,
    timings: dict[str, float],
    fine: int = 0,
) -> RegisterResult:
    return RegisterResult(
        mapping=spec.name,
        source_file=path.name,
        source_sha256=sha,
        units=validation.units,
        blocked=True,
        findings=_ordered(validation.findings),
        outcomes=validation.outcomes,
        observations=pd.DataFrame(),
        timings=timings,
        fine_cells=fine,
        by_partition=validation.by_partition,
        blocked_partitions=sorted(validation.by_partition),
    )


def drop_partitions(
    con: duckdb.DuckDBPyConnection, partitions: Iterable[Partition]
) -> int:
    """Remove the fine cells of blocked countries and years; return the rest."""
    gone = pd.DataFrame(
        sorted(partitions), columns=["ref_area", "time_period"], dtype=object
    )
    con.register("__blocked_partitions", gone)
    try:
        con.execute(
            f"DELETE FROM {FINE} f USING __blocked_partitions b "  # noqa: S608
            "WHERE f.d_ref_area = b.ref_area AND f.d_time_period = b.time_period"
        )
    finally:
        con.unregister("__blocked_partitions")
    row = con.execute(f"SELECT count(*) FROM {FINE}").fetchone()  # noqa: S608
    return 0 if row is None else int(row[0])


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.rule, f.row or 0, f.column or ""))


def _lap(start: float) -> float:
    return round(time.perf_counter() - start, 4)


def findings_frame(findings: list[Finding]) -> pd.DataFrame:
    """Findings as the contract's eight columns (schema.md §8.1)."""
    columns = ["file", "row", "column", "value", "rule", "level", "severity", "message"]
    frame = pd.DataFrame.from_records([f.as_dict() for f in findings], columns=columns)
    frame["row"] = frame["row"].astype("Int64")
    frame["level"] = frame["level"].astype("Int64")
    return frame


def missing_columns(
    spec: RegisterMapping,
    path: Path,
    types: Mapping[str, str],
    catalogue: RuleCatalogue,
) -> list[Finding]:
    """A ``required_column_present`` finding per column the mapping reads but
    the register lacks (the header line of a CSV)."""
    return [
        catalogue.finding(
            "required_column_present",
            file=path.name,
            row=1 if register_format(path) == "csv" else None,
            column=column,
            value=None,
            detail=f'the register has no column "{column}" (mapping {spec.file})',
        )
        for column in spec.columns()
        if column not in types
    ]


def validation_only(
    path: Path,
    schemas_dir: Path,
    *,
    mapping: str = DEFAULT_MAPPING,
    limit: int = 50,
) -> RegisterValidation:
    """Unit-level validation alone (columns, units and codes), for ``check``.

    Raises:
        UsageError: the file is not ``.csv`` or ``.parquet``.
        SchemaFileError: the mapping or another schema file is malformed.
    """
    register_format(path)
    catalogue: RuleCatalogue = cached_rules((schemas_dir / "rules").resolve())
    spec = load_register_mapping(schemas_dir, mapping, rule_names=list(catalogue))
    con = connect()
    try:
        types = column_types(con, path)
        missing = missing_columns(spec, path, types, catalogue)
        if missing:
            return RegisterValidation(findings=missing)
        units = Units(mapping=spec, path=path, types=types)
        result = check_units(con, units, catalogue, limit=limit)
        fine_cells(con, units, negative=result.negative, empty=result.empty)
        check_codes(
            con, FINE, units, catalogue, code_sets(schemas_dir, spec), result,
            limit=limit,
        )  # fmt: skip
    finally:
        con.close()
    return result
