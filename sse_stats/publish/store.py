"""The curated store: Parquet tables written atomically, and the serving DuckDB copy.

What it is for: every file under ``curated/parquet/`` and ``curated/sse.duckdb``
is written here, so an analyst who globs ``parquet/<schema>/<table>/**/*.parquet``
or opens ``sse.duckdb`` never sees a half-written table (schema.md §11;
stack.md pitfalls 12-16). What it is not for: building or validating tables
(``accounts``, ``validate``).

Layout under ``curated``::

    parquet/<schema>/<table>/ref_area=<CODE>/part-0.parquet   partitioned table
    parquet/<schema>/<table>/data.parquet                     small table
    sse.duckdb                                                serving copy
    .staging/lock                                             store lock (flock)
    .staging/<uuid>/{new,old,plan.json}                       one write in flight

This module holds the table operations most callers use: write, replace
partitions, read, recover, and ``publish_tables``. The other parts live in
``publish.connections`` (DuckDB connections), ``publish.serving`` (building
``sse.duckdb``), ``publish._atomic`` (staging, commit point, crash recovery,
store lock, fsync: how a write stays atomic is described there) and
``publish._paths`` (names, paths, types).

``publish_tables`` runs the same steps for several tables at once and builds
the serving copy inside the same staging folder: one plan moves every table
and then ``sse.duckdb`` (one ``rename`` over the old file), so Parquet and the
serving copy always hold the same publication.

Examples:
    >>> import tempfile
    >>> curated = Path(tempfile.mkdtemp())
    >>> frame = pd.DataFrame({"ref_area": ["PRT", "ESP"], "obs_value": [1.0, 2.0]})
    >>> write_table_parquet(curated, "harmonised", "observations", frame).name
    'observations'
    >>> sorted(read_table(curated, "harmonised", "observations")["ref_area"])
    ['ESP', 'PRT']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sse_stats.errors import StoreError
from sse_stats.publish._atomic import (
    _PLAN,
    Recovery,
    _build,
    _commit,
    _discard,
    _empty_files_to_remove,
    _makedirs,
    _Move,
    _new_stage,
    _os_errors,
    _recover_locked,
    _store_lock,
    _write_parquet,
)
from sse_stats.publish._paths import (
    _READ_PARQUET,
    _UNPARTITIONED_FILE,
    SERVING_FILE,
    STAGING_DIR,
    _check_identifier,
    _checked_root,
    _glob,
    _partition_values,
    _relative,
    _table_dir,
    _visible,
)
from sse_stats.publish.connections import scratch_connection
from sse_stats.publish.serving import _META_TABLES, _build_serving_file, _table_folders

_NULLABLE_INTEGERS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}


# --------------------------------------------------------------------------
# Parquet tables
# --------------------------------------------------------------------------


def write_table_parquet(
    curated: Path,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    *,
    partition_by: str | None = "ref_area",
) -> Path:
    """Replace a whole table with ``frame``, atomically.

    With ``partition_by`` present in ``frame``, one hive folder per value is
    written (``<table>/ref_area=PRT/part-0.parquet``) and the partition column is
    kept only in the folder name. Otherwise, or when ``frame`` is empty, the
    table is a single ``<table>/data.parquet``. An object column with no value
    at all is written as VARCHAR (the contract's type for attributes), since it
    has no type of its own.

    Args:
        curated: The curated directory (created if missing).
        schema: Schema name, e.g. ``harmonised``.
        table: Table name, e.g. ``observations``.
        frame: The complete new content of the table.
        partition_by: Column whose codes name the partition folders, or None.

    Returns:
        The table folder ``curated/parquet/<schema>/<table>``.

    Raises:
        StoreError: A name or partition value is not allowed (nothing is
            written), or the files cannot be written.
        StoreLockedError: Another writer held the store lock for too long.

    Examples:
        >>> import tempfile
        >>> curated = Path(tempfile.mkdtemp())
        >>> frame = pd.DataFrame({"ref_area": ["PRT"], "time_period": ["2021"]})
        >>> folder = write_table_parquet(curated, "harmonised", "observations", frame)
        >>> [p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")]
        ['ref_area=PRT/part-0.parquet']
    """
    root = _checked_root(curated)
    final = _table_dir(root, schema, table)
    if partition_by is not None:
        _check_identifier(partition_by, "partition column")
        if partition_by not in frame.columns or frame.empty:
            partition_by = None
        else:
            _partition_values(frame[partition_by])  # refuse bad codes before any I/O
    with _os_errors(f"cannot write {schema}.{table}"), _store_lock(root):
        _recover_locked(root)
        stage = _new_stage(root)
        _build(stage, frame, stage / "new", partition_by)
        _commit(
            root, stage, [_Move(final=_relative(root, final), new="new", old="old")]
        )
    return final


def replace_partitions(
    curated: Path,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    partition_by: str = "ref_area",
) -> Path:
    """Replace only the partitions present in ``frame``; keep the others.

    Used when one country's submission is re-published. Each partition folder is
    swapped with the same staging, commit and rename steps as a whole table, and
    all partitions of one call share one plan, so after a crash ``recover``
    completes all of them. A table that exists as a single zero-row
    ``data.parquet`` (an empty table) is replaced by the new partitions.

    Args:
        curated: The curated directory (created if missing).
        schema: Schema name.
        table: Table name.
        frame: Rows of the partitions to replace; must contain ``partition_by``.
        partition_by: The table's partition column.

    Returns:
        The table folder ``curated/parquet/<schema>/<table>``.

    Raises:
        StoreError: A name or partition value is not allowed, ``frame`` lacks the
            partition column, or the existing table is not partitioned by it
            (nothing is written in these cases); or the files cannot be written.
        StoreLockedError: Another writer held the store lock for too long.

    Examples:
        >>> import tempfile
        >>> curated = Path(tempfile.mkdtemp())
        >>> both = pd.DataFrame({"ref_area": ["PRT", "ESP"], "obs_value": [1.0, 2.0]})
        >>> _ = write_table_parquet(curated, "harmonised", "observations", both)
        >>> prt = pd.DataFrame({"ref_area": ["PRT"], "obs_value": [9.0]})
        >>> _ = replace_partitions(curated, "harmonised", "observations", prt)
        >>> table = read_table(curated, "harmonised", "observations")
        >>> sorted(zip(table["ref_area"], table["obs_value"]))
        [('ESP', 2.0), ('PRT', 9.0)]
    """
    root = _checked_root(curated)
    final = _table_dir(root, schema, table)
    _check_identifier(partition_by, "partition column")
    if partition_by not in frame.columns:
        raise StoreError(
            f"{schema}.{table}: the rows to publish have no column {partition_by!r}; "
            "add it or rewrite the whole table with write_table_parquet",
            schema=schema,
            table=table,
        )
    values = _partition_values(frame[partition_by])
    if not values:
        return final
    with _os_errors(f"cannot write {schema}.{table}"), _store_lock(root):
        _recover_locked(root)
        moves = _empty_files_to_remove(root, final, partition_by)
        stage = _new_stage(root)
        _build(stage, frame, stage / "new", partition_by)
        for value in values:
            name = f"{partition_by}={value}"
            target = _relative(root, final / name)
            moves.append(_Move(final=target, new=f"new/{name}", old=f"old/{name}"))
        _commit(root, stage, moves)
    return final


def read_table(curated: Path, schema: str, table: str) -> pd.DataFrame:
    """Read a table from its Parquet files (hive partitions included).

    Partition columns come back last and as strings. Interrupted writes are
    recovered first, so the result is always a complete version of the table.

    Args:
        curated: The curated directory.
        schema: Schema name.
        table: Table name.

    Returns:
        The table, or an empty frame (no columns) if it was never written.

    Raises:
        StoreError: A name is not allowed or the files cannot be read.
        StoreLockedError: A writer held the store lock for too long.

    Examples:
        >>> import tempfile
        >>> read_table(Path(tempfile.mkdtemp()), "meta", "submissions").shape
        (0, 0)
    """
    root = _checked_root(curated)
    final = _table_dir(root, schema, table)
    if not root.is_dir():
        return pd.DataFrame()
    with _os_errors(f"cannot read {schema}.{table}"), _store_lock(root):
        _recover_locked(root)
        if not final.is_dir() or next(final.rglob("*.parquet"), None) is None:
            return pd.DataFrame()
        with scratch_connection() as con:
            try:
                rel = con.sql(_READ_PARQUET, params={"glob": _glob(final)})
                frame = rel.df()
                # DuckDB hands an all-NULL VARCHAR column to pandas as object dtype.
                text = [
                    c
                    for c, t in zip(rel.columns, rel.types, strict=True)
                    if t == "VARCHAR"
                ]
                return frame.astype(dict.fromkeys(text, "str")) if text else frame
            except duckdb.Error as exc:
                raise StoreError(
                    f"{schema}.{table}: cannot read {final}: {exc}"
                ) from exc


def read_small_tables(
    curated: Path, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], pd.DataFrame]:
    """Read several unpartitioned tables at once, faster than ``read_table``.

    One lock and one recovery for all of them, and Apache Arrow instead of a
    DuckDB query per table (a publication reads four such tables before it
    writes them again). Integer columns stay integers when they hold NULLs
    (nullable ``Int64``), times stay in UTC, LIST columns come back as
    arrays. A table that is missing, empty or partitioned is read with
    ``read_table``'s rules instead.

    Args:
        curated: The curated directory.
        keys: ``(schema, table)`` pairs.

    Returns:
        One frame per key (no columns when the table was never written).

    Examples:
        >>> import tempfile
        >>> curated = Path(tempfile.mkdtemp())
        >>> frame = pd.DataFrame({"n": pd.array([1, None], dtype="Int64")})
        >>> _ = write_table_parquet(curated, "meta", "t", frame, partition_by=None)
        >>> read_small_tables(curated, [("meta", "t")])["meta", "t"]["n"].tolist()
        [1, <NA>]
    """
    root = _checked_root(curated)
    folders = {key: _table_dir(root, *key) for key in keys}
    found: dict[tuple[str, str], pd.DataFrame] = {}
    if not root.is_dir():
        return {key: pd.DataFrame() for key in keys}
    others: list[tuple[str, str]] = []
    with _os_errors("cannot read the tables"), _store_lock(root):
        _recover_locked(root)
        for key, folder in folders.items():
            entries = list(_visible(folder)) if folder.is_dir() else []
            if [e.name for e in entries] != [_UNPARTITIONED_FILE]:
                others.append(key)
                continue
            try:
                table = pq.read_table(folder / _UNPARTITIONED_FILE)
            except (OSError, ValueError) as exc:
                raise StoreError(
                    f"{'.'.join(key)}: cannot read {folder}: {exc}"
                ) from exc
            found[key] = table.to_pandas(types_mapper=_NULLABLE_INTEGERS.get)
    for key in others:
        found[key] = read_table(curated, *key)
    return {key: found[key] for key in keys}


def recover(curated: Path) -> Recovery:
    """Finish or discard writes interrupted by a crash; idempotent.

    A staging folder with a committed ``plan.json`` has its remaining moves
    replayed (roll forward: the new table is put in place); one without a plan
    is deleted (the old table was never touched). Stale temporary serving
    copies (``sse.duckdb.tmp-*``) are deleted too. Takes the store lock, so it
    never touches a write in progress.

    Args:
        curated: The curated directory.

    Returns:
        How many writes were rolled forward and how many leftovers discarded.

    Raises:
        StoreError: A plan is unreadable or inconsistent with the files.
        StoreLockedError: A writer held the store lock for too long.

    Examples:
        >>> import tempfile
        >>> recover(Path(tempfile.mkdtemp()))
        Recovery(rolled_forward=0, discarded=0)
    """
    root = _checked_root(curated)
    if not (root / STAGING_DIR).is_dir():
        return Recovery()
    with _os_errors(f"cannot recover {root}"), _store_lock(root):
        return _recover_locked(root)


# --------------------------------------------------------------------------
# Several tables and the serving copy in one commit
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TableChange:
    """New content for one table, for ``publish_tables``.

    Attributes:
        schema: Schema name.
        table: Table name.
        frame: The whole new table (``partitions`` is None), or the rows of
            the partitions listed in ``partitions``.
        partition_by: Partition column, or None for a single ``data.parquet``.
        partitions: Codes of the partitions to replace. A code without rows in
            ``frame`` is deleted; the other partitions are kept. None replaces
            the whole table.
    """

    schema: str
    table: str
    frame: pd.DataFrame
    partition_by: str | None = "ref_area"
    partitions: frozenset[str] | None = None


def publish_tables(curated: Path, changes: Sequence[TableChange]) -> Path:
    """Change several tables and rebuild ``sse.duckdb`` as one atomic commit.

    Every change is written to one staging folder, the serving copy is built
    there from the tables as they will be after the commit, and a single plan
    then moves everything into place (``sse.duckdb`` last, with one rename).
    After a crash, ``recover`` finishes all of it or none of it, so the Parquet
    tables and ``sse.duckdb`` always hold the same publication. With
    ``partitions``, only the listed partition folders move: the cost of the
    Parquet writes grows with the rows changed, not with the table. A change
    that would leave a table without any partition writes it as an empty
    ``data.parquet`` with the frame's columns.

    Args:
        curated: The curated directory (created if missing).
        changes: At most one change per table; may be empty (the serving copy
            is rebuilt alone).

    Returns:
        The path of ``sse.duckdb``.

    Raises:
        StoreError: A name or code is not allowed, a table is changed twice, a
            frame has rows outside its listed partitions, an existing table is
            not partitioned by the change's column (nothing is written in
            these cases), or a file or DuckDB step fails.
        StoreLockedError: Another writer held the store lock for too long.

    Examples:
        >>> import tempfile
        >>> curated = Path(tempfile.mkdtemp())
        >>> both = pd.DataFrame({"ref_area": ["PRT", "ESP"], "obs_value": [1.0, 2.0]})
        >>> _ = publish_tables(curated, [TableChange(schema="harmonised",
        ...     table="observations", frame=both)])
        >>> prt = pd.DataFrame({"ref_area": ["PRT"], "obs_value": [9.0]})
        >>> path = publish_tables(curated, [TableChange(schema="harmonised",
        ...     table="observations", frame=prt, partitions=frozenset({"PRT"}))])
        >>> from sse_stats.publish.connections import open_duckdb
        >>> with open_duckdb(path, read_only=True) as con:
        ...     con.sql("SELECT ref_area, obs_value FROM harmonised.observations "
        ...             "ORDER BY 1").fetchall()
        [('ESP', 2.0), ('PRT', 9.0)]
    """
    root = _checked_root(curated)
    seen: set[tuple[str, str]] = set()
    for change in changes:
        _check_change(change)
        key = (change.schema, change.table)
        if key in seen or key == _META_TABLES:
            raise StoreError(
                f"{'.'.join(key)} is changed twice or is the built-in meta.tables",
                table=".".join(key),
            )
        seen.add(key)
    with _os_errors(f"cannot publish under {root}"), _store_lock(root):
        _recover_locked(root)
        stage = _new_stage(root)
        try:
            sources = {
                key: [_glob(folder)] for key, folder in _table_folders(root).items()
            }
            moves: list[_Move] = []
            for number, change in enumerate(changes):
                moves += _stage_change(root, stage, number, change, sources)
            serving = stage / "new" / SERVING_FILE
            _makedirs(serving.parent)
            try:
                _build_serving_file(
                    serving, sources, {}, sorted({*sources, _META_TABLES})
                )
            except duckdb.Error as exc:
                raise StoreError(f"cannot build the serving copy: {exc}") from exc
            if serving.with_name(serving.name + ".wal").exists():
                raise StoreError("DuckDB left a WAL file; the copy would be incomplete")
            moves.append(_Move(final=SERVING_FILE, new=f"new/{SERVING_FILE}", old=None))
            _commit(root, stage, moves)
        except BaseException:
            if stage.exists() and not (stage / _PLAN).exists():
                _discard(stage)
            raise
    return root / SERVING_FILE


def _check_change(change: TableChange) -> None:
    """Refuse bad names and codes before any I/O."""
    _check_identifier(change.schema, "schema")
    _check_identifier(change.table, "table")
    if change.partition_by is not None:
        _check_identifier(change.partition_by, "partition column")
    if change.partitions is None:
        if change.partition_by in change.frame.columns and len(change.frame):
            _partition_values(change.frame[str(change.partition_by)])
        return
    name = f"{change.schema}.{change.table}"
    if change.partition_by is None or change.partition_by not in change.frame.columns:
        raise StoreError(
            f"{name}: replacing partitions needs the partition column in the rows",
            table=name,
        )
    listed = _partition_values(pd.Series(sorted(change.partitions), name="partitions"))
    outside = set(_partition_values(change.frame[change.partition_by])) - set(listed)
    if outside:
        raise StoreError(
            f"{name}: rows for {sorted(outside)} outside the partitions to replace",
            table=name,
        )


def _stage_change(
    root: Path,
    stage: Path,
    number: int,
    change: TableChange,
    sources: dict[tuple[str, str], list[str]],
) -> list[_Move]:
    """Write one change under ``stage/new/<number>``; return its moves.

    ``sources`` is updated to the globs the table will have after the commit.
    """
    key = (change.schema, change.table)
    final = _table_dir(root, *key)
    target = stage / "new" / str(number)
    _makedirs(target.parent)
    pb = change.partition_by
    if change.partitions is not None and pb is not None:
        values = _partition_values(change.frame[pb]) if len(change.frame) else []
        removals = _empty_files_to_remove(root, final, pb, old=f"old/{number}")
        existing = {
            entry.name.split("=", 1)[1]
            for entry in (_visible(final) if final.is_dir() else iter(()))
            if entry.is_dir() and entry.name.startswith(f"{pb}=")
        }
        kept = sorted(existing - change.partitions)
        if kept or values:
            if values:
                _write_parquet(change.frame, target, pb)
            moves = removals
            for value in sorted(change.partitions):
                name = f"{pb}={value}"
                if value in values:
                    new: str | None = f"new/{number}/{name}"
                elif (final / name).exists():
                    new = None
                else:
                    continue
                moves.append(
                    _Move(
                        final=_relative(root, final / name),
                        new=new,
                        old=f"old/{number}/{name}",
                    )
                )
            sources[key] = [_glob(final / f"{pb}={v}") for v in kept]
            if values:
                sources[key].append(_glob(target))
            return moves
        frame = change.frame.iloc[0:0]  # nothing left: an empty table
    else:
        frame = change.frame
    if pb is not None and (pb not in frame.columns or frame.empty):
        pb = None
    _write_parquet(frame, target, pb)
    sources[key] = [_glob(target)]
    return [
        _Move(final=_relative(root, final), new=f"new/{number}", old=f"old/{number}")
    ]
