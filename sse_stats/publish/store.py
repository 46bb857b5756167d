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

How a write stays atomic (the same steps for a whole table and for partitions):

1. Under the store lock, ``recover`` finishes or discards earlier writes.
2. The complete new content is written to ``.staging/<uuid>/new/`` (same file
   system, outside the analysts' glob) and fsynced.
3. ``plan.json`` is written to a temporary name, fsynced and renamed: this is
   the commit point. It lists the moves ``final -> old`` then ``new -> final``.
4. The moves run (two renames per table or partition) and ``.staging/<uuid>``
   is deleted.

``publish_tables`` runs the same steps for several tables at once and builds
the serving copy inside the same staging folder: one plan moves every table
and then ``sse.duckdb`` (one ``rename`` over the old file), so Parquet and the
serving copy always hold the same publication. Views listed in the table
``meta.views`` are created in every serving copy, in place of a Parquet table
of the same name.

A crash before step 3 leaves the old table untouched and a staging folder
without a plan: ``recover`` deletes it. A crash after step 3 leaves a plan:
``recover`` replays the remaining moves (roll forward), so the final path holds
the complete new content; this also covers the instant between the two renames
when the final path is absent. ``recover`` is idempotent, runs at the start of
every write, read and serving-copy build, and can be called on its own.

POSIX only: the store lock is ``fcntl.flock`` (released by the kernel when a
writer dies) and ``os.replace`` over an open ``sse.duckdb`` fails on Windows.

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

import datetime as dt
import fcntl
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sse_stats.errors import StoreError, StoreLockedError

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
"""Schema, table and partition-column names (used with ``fullmatch``)."""

PARTITION_VALUE = re.compile(r"[A-Z0-9_]{1,16}")
"""Codes allowed in a partition folder name (used with ``fullmatch``)."""

PARQUET_DIR = "parquet"
SERVING_FILE = "sse.duckdb"
STAGING_DIR = ".staging"
STORAGE_VERSION = "v1.4.0"
"""Oldest DuckDB able to open the serving copy (stack.md pitfall 12)."""

_PLAN = "plan.json"
_LOCK = "lock"
_UNPARTITIONED_FILE = "data.parquet"
_META_TABLES = ("meta", "tables")
VIEWS_TABLE = ("meta", "views")
"""Table of view definitions (``view_schema``, ``view_name``, ``sql``).

Every serving copy creates these views (after the tables), in place of any
Parquet table of the same name; the SQL is written by the library, never taken
from a submission."""
_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    # A missing table must not resolve to a Python variable (stack.md pitfall 14).
    "python_enable_replacements": False,
}
_NULLABLE_INTEGERS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
}
_CONNECT_BACKOFF_SECONDS = 0.2
_STORE_LOCK_TIMEOUT_SECONDS = 120.0
# Glob metacharacters would change what read_parquet matches; "=" in a parent
# folder would be read as one more hive partition column.
_UNSAFE_ROOT_CHARS = frozenset("*?[]{}=")
_READ_PARQUET = (
    "SELECT * FROM read_parquet($glob, hive_partitioning = true, "
    # Without autocast, hive columns stay VARCHAR ("001" stays a code, not 1).
    "hive_types_autocast = false, union_by_name = true)"
)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What ``recover`` found: interrupted writes finished or discarded.

    Attributes:
        rolled_forward: Committed writes whose remaining moves were replayed.
        discarded: Uncommitted staging folders and stale serving copies deleted.
    """

    rolled_forward: int = 0
    discarded: int = 0


@dataclass(frozen=True, slots=True)
class _Move:
    """One step of a plan: move ``final`` to ``old``, then ``new`` to ``final``.

    ``final`` is relative to ``curated``; ``new`` and ``old`` are relative to the
    staging folder. ``new`` is None when the old content is only removed.
    ``old`` is None for a single file replaced in one ``rename`` (the serving
    copy): readers see the old file or the new one, never no file.
    """

    final: str
    new: str | None
    old: str | None


# --------------------------------------------------------------------------
# DuckDB connections
# --------------------------------------------------------------------------


@contextmanager
def open_duckdb(
    path: Path, *, read_only: bool, retries: int = 5
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a short-lived DuckDB connection; retry while another process holds it.

    Replacement scans are off. A lock conflict is retried ``retries`` times with
    exponential backoff (0.2 s, 0.4 s, ...); any other failure raises at once.

    Args:
        path: The DuckDB file.
        read_only: Open without the write lock (several readers may share it).
        retries: Number of connection attempts (at least 1).

    Yields:
        The open connection, closed when the block exits.

    Raises:
        StoreLockedError: Another process still holds the file after the last try.
        StoreError: The file cannot be opened for another reason.

    Examples:
        >>> import tempfile
        >>> db = Path(tempfile.mkdtemp()) / "x.duckdb"
        >>> with open_duckdb(db, read_only=False) as con:
        ...     con.sql("SELECT 42").fetchall()
        [(42,)]
    """
    con = _connect(path, read_only=read_only, retries=retries)
    try:
        yield con
    finally:
        con.close()


def _connect(path: Path, *, read_only: bool, retries: int) -> duckdb.DuckDBPyConnection:
    """Connect with retries on lock conflicts (see ``open_duckdb``)."""
    last: duckdb.IOException | None = None
    for attempt in range(max(retries, 1)):
        try:
            return duckdb.connect(str(path), read_only=read_only, config=dict(_CONFIG))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise StoreError(f"cannot open {path}: {exc}", path=str(path)) from exc
            last = exc
            if attempt < retries - 1:
                time.sleep(_CONNECT_BACKOFF_SECONDS * 2**attempt)
        except duckdb.Error as exc:
            # e.g. a second connection to the same file with another read_only
            # setting in this process (stack.md §3.4).
            raise StoreError(f"cannot open {path}: {exc}", path=str(path)) from exc
    raise StoreLockedError(
        f"{path} is held by another process ({last}); close that connection "
        "or retry later",
        path=str(path),
        detail=str(last),
    )


_SCRATCH: dict[str, tuple[int, duckdb.DuckDBPyConnection]] = {}
_SCRATCH_LOCK = threading.Lock()
# Connections of a parent process: closing them in a forked child is unsafe.
_INHERITED: list[duckdb.DuckDBPyConnection] = []


@contextmanager
def scratch_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection to a private in-memory database.

    Opening a DuckDB database costs about 12 ms; a cursor of one kept open
    per process costs 0.2 ms, which matters when a publication reads and
    writes a dozen small tables. Each cursor is its own connection (frames
    registered on it are not seen by others) with replacement scans off; it
    is closed when the block exits. Safe across threads and after ``fork``.

    Examples:
        >>> with scratch_connection() as con:
        ...     con.sql("SELECT 42").fetchall()
        [(42,)]
    """
    with _SCRATCH_LOCK:
        pid, base = _SCRATCH.get("base", (-1, None)) if _SCRATCH else (-1, None)
        if base is None or pid != os.getpid():
            if base is not None:
                _INHERITED.append(base)
            base = duckdb.connect(":memory:", config=dict(_CONFIG))
            _SCRATCH["base"] = (os.getpid(), base)
        con = base.cursor()
    try:
        yield con
    finally:
        con.close()


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


# --------------------------------------------------------------------------
# Serving copy
# --------------------------------------------------------------------------


def publish_serving_copy(
    curated: Path, tables: Mapping[str, pd.DataFrame] | None = None
) -> Path:
    """Rebuild ``curated/sse.duckdb`` from every Parquet table, then swap it in.

    Every folder ``parquet/<schema>/<table>/`` becomes the table
    ``<schema>.<table>``; ``tables`` adds in-memory tables keyed
    ``"<schema>.<table>"``. ``meta.tables`` lists every table with its row
    count and the build time. The copy is written to ``sse.duckdb.tmp-<uuid>``
    with storage version v1.4.0 (readable by DuckDB >= 1.4) and renamed over
    ``sse.duckdb``: a reader holding the old file keeps reading the old,
    consistent copy (Linux keeps the old inode) and never blocks the swap.
    Within one process, DuckDB's instance cache hands every new ``connect``
    on the same path the database already open there: a notebook sees the new
    copy only once all its connections to the old one are closed.

    Args:
        curated: The curated directory.
        tables: Extra tables not stored as Parquet, e.g. ``{"meta.lineage": f}``.

    Returns:
        The path of ``sse.duckdb``.

    Raises:
        StoreError: A name is not allowed, a table is given twice, a table
            folder holds no Parquet file, or DuckDB fails.
        StoreLockedError: A writer held the store lock for too long.

    Examples:
        >>> import tempfile
        >>> curated = Path(tempfile.mkdtemp())
        >>> frame = pd.DataFrame({"ref_area": ["PRT"], "obs_value": [1.0]})
        >>> _ = write_table_parquet(curated, "harmonised", "observations", frame)
        >>> with open_duckdb(publish_serving_copy(curated), read_only=True) as con:
        ...     con.sql("SELECT row_count FROM meta.tables").fetchall()
        [(1,)]
    """
    root = _checked_root(curated)
    extra = {_split_key(key): frame for key, frame in (tables or {}).items()}
    with _os_errors(f"cannot publish {root / SERVING_FILE}"), _store_lock(root):
        _recover_locked(root)  # also deletes stale sse.duckdb.tmp-* files
        folders = _table_folders(root)
        clashes = (folders.keys() & extra.keys()) | (
            {_META_TABLES} & (folders.keys() | extra.keys())
        )
        if clashes:
            name = ".".join(min(clashes))
            raise StoreError(
                f"{name} is given twice (Parquet folder, in-memory table or the "
                "built-in meta.tables); publish it one way only",
                table=name,
            )
        names = sorted({*folders, *extra, _META_TABLES})
        tmp = root / f"{SERVING_FILE}.tmp-{uuid.uuid4().hex}"
        wal = tmp.with_name(tmp.name + ".wal")
        try:
            sources = {key: [_glob(folder)] for key, folder in folders.items()}
            _build_serving_file(tmp, sources, extra, names)
            if wal.exists():  # CHECKPOINT + DETACH should have merged it
                raise StoreError(f"DuckDB left {wal}; the copy would be incomplete")
            _fsync(tmp)
            tmp.replace(root / SERVING_FILE)
            _fsync(root)
        except duckdb.Error as exc:
            raise StoreError(f"cannot build the serving copy {tmp}: {exc}") from exc
        finally:
            for leftover in (tmp, wal):
                leftover.unlink(missing_ok=True)
    return root / SERVING_FILE


def _build_serving_file(
    tmp: Path,
    sources: Mapping[tuple[str, str], list[str]],
    extra: Mapping[tuple[str, str], pd.DataFrame],
    names: list[tuple[str, str]],
) -> None:
    """Write every table into a new DuckDB file at ``tmp`` (see the callers).

    ``sources`` gives each Parquet table its globs. Views listed in
    ``meta.views`` are created after the tables and replace tables of the
    same name.
    """
    built_at = dt.datetime.now(dt.UTC)
    con = duckdb.connect(":memory:", config=dict(_CONFIG))
    try:
        views = _view_definitions(con, sources, extra)
        # Paths are bound parameters; only checked, quoted identifiers are spliced
        # into SQL, hence the S608 exemptions below.
        con.execute(
            f"ATTACH $path AS serving (STORAGE_VERSION '{STORAGE_VERSION}')",
            {"path": str(tmp)},
        )
        for schema in sorted({schema for schema, _ in [*names, *views]}):
            con.execute(f"CREATE SCHEMA serving.{_quote(schema)}")
        counts: list[tuple[str, str, int, dt.datetime, str]] = []
        for schema, table in names:
            target = f"serving.{_quote(schema)}.{_quote(table)}"
            if (schema, table) in views:
                continue  # created below, from meta.views
            if (schema, table) in sources:
                glob = sources[schema, table]
                # Rows of one partition together: fewer, fuller row groups from
                # many small partition files, and zone maps that skip the other
                # countries when an analyst filters on ref_area.
                column = _partition_column(glob)
                order = "" if column is None else f" ORDER BY {_quote(column)}"
                con.execute(
                    f"CREATE TABLE {target} AS {_READ_PARQUET}{order}", {"glob": glob}
                )
            elif (schema, table) in extra:
                con.register("_frame", _typed(extra[schema, table]))
                con.execute(f"CREATE TABLE {target} AS SELECT * FROM _frame")  # noqa: S608
                con.unregister("_frame")
            else:
                continue  # meta.tables, filled below
            # fetchall, not fetchone: in DuckDB 2.0 an unfinished result blocks
            # the connection's next statement (stack.md pitfall 15).
            rows = con.execute(f"SELECT count(*) FROM {target}").fetchall()  # noqa: S608
            counts.append((schema, table, int(rows[0][0]), built_at, "BASE TABLE"))
        if views:
            # A view's names resolve in the database that holds it: created
            # with "serving" as the default catalog, it keeps working when the
            # file is opened on its own (catalog "sse").
            con.execute("USE serving")
            for (schema, view), sql in views.items():
                name = f"{_quote(schema)}.{_quote(view)}"
                con.execute(f"CREATE VIEW {name} AS {sql}")
                rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()  # noqa: S608
                counts.append((schema, view, int(rows[0][0]), built_at, "VIEW"))
            con.execute("USE memory")
        # "schema"/"table" are SQL keywords: analysts would have to quote them.
        con.execute(
            "CREATE TABLE serving.meta.tables (table_schema VARCHAR, "
            "table_name VARCHAR, row_count BIGINT, built_at TIMESTAMPTZ, "
            "table_type VARCHAR)"
        )
        if counts:
            con.executemany(
                "INSERT INTO serving.meta.tables VALUES (?, ?, ?, ?, ?)", sorted(counts)
            )
        con.execute("CHECKPOINT serving")
        con.execute("DETACH serving")
    finally:
        con.close()


def _partition_column(globs: list[str]) -> str | None:
    """The hive partition column of a table's globs (``<folder>/**/*.parquet``)."""
    for glob in globs:
        folder = Path(glob.removesuffix("/**/*.parquet"))
        names = [folder.name]
        if folder.is_dir():
            names += [p.name for p in folder.iterdir() if p.is_dir()]
        for name in names:
            column, equals, _value = name.partition("=")
            if equals and IDENTIFIER.fullmatch(column):
                return column
    return None


def _view_definitions(
    con: duckdb.DuckDBPyConnection,
    sources: Mapping[tuple[str, str], list[str]],
    extra: Mapping[tuple[str, str], pd.DataFrame],
) -> dict[tuple[str, str], str]:
    """``meta.views`` as ``{(schema, view): sql}`` (empty when there is none)."""
    if VIEWS_TABLE in sources:
        rows = con.execute(
            f"SELECT view_schema, view_name, sql FROM ({_READ_PARQUET}) ORDER BY 1, 2",  # noqa: S608
            {"glob": sources[VIEWS_TABLE]},
        ).fetchall()
    elif VIEWS_TABLE in extra:
        frame = extra[VIEWS_TABLE]
        rows = list(
            zip(frame["view_schema"], frame["view_name"], frame["sql"], strict=True)
        )
    else:
        return {}
    views: dict[tuple[str, str], str] = {}
    for schema, view, sql in rows:
        _check_identifier(schema, "view schema")
        _check_identifier(view, "view name")
        if (schema, view) in (_META_TABLES, VIEWS_TABLE):
            raise StoreError(f"a view may not be named {schema}.{view}")
        views[schema, view] = str(sql)
    return views


def _table_folders(root: Path) -> dict[tuple[str, str], Path]:
    """Find ``parquet/<schema>/<table>/`` folders; names are checked, never trusted."""
    found: dict[tuple[str, str], Path] = {}
    parquet = root / PARQUET_DIR
    if not parquet.is_dir():
        return found
    for schema_dir in sorted(_visible(parquet)):
        _check_identifier(schema_dir.name, f"schema folder {schema_dir}")
        for table_dir in sorted(_visible(schema_dir)):
            _check_identifier(table_dir.name, f"table folder {table_dir}")
            if next(table_dir.rglob("*.parquet"), None) is None:
                raise StoreError(
                    f"{table_dir} holds no Parquet file; delete the folder or "
                    "write the table again",
                    folder=str(table_dir),
                )
            found[schema_dir.name, table_dir.name] = table_dir
    return found


def _visible(folder: Path) -> Iterator[Path]:
    """Entries of ``folder`` except hidden ones (``.DS_Store``, editors' files)."""
    return (p for p in folder.iterdir() if not p.name.startswith("."))


# --------------------------------------------------------------------------
# Staging, commit, recovery
# --------------------------------------------------------------------------


@contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Turn a file-system error into a ``StoreError`` saying what was being done."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"{what}: {exc}") from exc


@contextmanager
def exclusive_lock(path: Path, *, timeout: float, holder: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the block.

    Waits with a growing back-off up to ``timeout`` seconds, then raises
    :class:`StoreLockedError` naming the file and who holds it (``holder``:
    "another writer", "another publication"). Not re-entrant: one ``flock`` per
    open descriptor, so take it once per call. Closing the descriptor releases it
    (also when the process dies).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreLockedError(
                        f"{holder} has held {path} for over {timeout:.0f} s; "
                        "wait for it to finish or stop it",
                        path=str(path),
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        yield
    finally:
        os.close(fd)


@contextmanager
def _store_lock(root: Path) -> Iterator[None]:
    """Hold the store's exclusive lock (not re-entrant: take it once per call)."""
    with exclusive_lock(
        root / STAGING_DIR / _LOCK,
        timeout=_STORE_LOCK_TIMEOUT_SECONDS,
        holder="another writer",
    ):
        yield


def _new_stage(root: Path) -> Path:
    """Create an empty staging folder for one write."""
    stage = root / STAGING_DIR / uuid.uuid4().hex
    stage.mkdir()
    return stage


def _build(
    stage: Path, frame: pd.DataFrame, target: Path, partition_by: str | None
) -> None:
    """Write ``frame`` into the new folder ``target``; discard ``stage`` on failure."""
    try:
        _write_parquet(frame, target, partition_by)
    except BaseException:
        _discard(stage)
        raise


def _write_parquet(frame: pd.DataFrame, target: Path, partition_by: str | None) -> None:
    """Write ``frame`` into the new folder ``target`` (one file, or hive folders)."""
    with scratch_connection() as con:
        try:
            rel = con.from_df(_typed(frame))
            if partition_by is None:
                target.mkdir()
                rel.write_parquet(str(target / _UNPARTITIONED_FILE))
            else:
                # Partition columns stay out of the files (DuckDB's default), so
                # a hive read returns them exactly once.
                rel.write_parquet(
                    str(target),
                    partition_by=[partition_by],
                    filename_pattern="part-{i}",
                )
        except (duckdb.Error, OSError) as exc:
            raise StoreError(f"cannot write Parquet under {target}: {exc}") from exc


def _commit(root: Path, stage: Path, moves: list[_Move]) -> None:
    """Make the staged content durable, write the plan (commit point), apply it."""
    _fsync_tree(stage)
    plan = [{"final": m.final, "new": m.new, "old": m.old} for m in moves]
    tmp = stage / (_PLAN + ".tmp")
    tmp.write_text(json.dumps(plan, indent=1), encoding="utf-8")
    _fsync(tmp)
    tmp.replace(stage / _PLAN)
    _fsync(stage)
    _apply_plan(root, stage)


def _recover_locked(root: Path) -> Recovery:
    """``recover`` with the store lock already held."""
    rolled = discarded = 0
    staging = root / STAGING_DIR
    for stage in sorted(p for p in staging.iterdir() if p.is_dir()):
        if (stage / _PLAN).is_file():
            _apply_plan(root, stage)
            rolled += 1
        else:
            _discard(stage)
            discarded += 1
    # Only a serving-copy build holding the lock writes these, so any left is stale.
    for leftover in root.glob(f"{SERVING_FILE}.tmp-*"):
        leftover.unlink()
        discarded += 1
    return Recovery(rolled_forward=rolled, discarded=discarded)


def _apply_plan(root: Path, stage: Path) -> None:
    """Run the moves of ``stage/plan.json`` that are not done yet, then clean up.

    Each step looks at the files to decide whether it already ran, so a crash
    at any point can be followed by another call (idempotent).
    """
    for move in _read_plan(root, stage):
        final = _inside(root, move.final)
        new = None if move.new is None else _inside(stage, move.new)
        if new is not None and not new.exists():
            continue  # new content already at its final place
        if move.old is None:  # one file, replaced in one rename
            if new is not None:
                new.replace(final)
                _fsync(final.parent)
            continue
        old = _inside(stage, move.old)
        if final.exists():
            if old.exists():
                raise StoreError(
                    f"cannot finish the interrupted write {stage}: both {final} and "
                    f"{old} exist; keep the right one, then delete {stage}",
                    stage=str(stage),
                )
            old.parent.mkdir(parents=True, exist_ok=True)
            final.rename(old)
            _fsync(final.parent)
        if new is not None:
            _makedirs(final.parent)
            new.rename(final)
            _fsync(final.parent)
    _discard(stage)


def _read_plan(root: Path, stage: Path) -> list[_Move]:
    """Load a plan, refusing anything that would write outside ``root``."""
    try:
        raw = json.loads((stage / _PLAN).read_text(encoding="utf-8"))
        moves = [_Move(final=m["final"], new=m["new"], old=m["old"]) for m in raw]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise StoreError(
            f"unreadable plan {stage / _PLAN} ({exc}); inspect {stage} and delete it",
            stage=str(stage),
        ) from exc
    for move in moves:
        parts = Path(move.final).parts
        serving = move.final == SERVING_FILE and move.old is None
        table = len(parts) >= 3 and parts[0] == PARQUET_DIR and move.old is not None
        if not (serving or table):
            raise StoreError(f"plan {stage / _PLAN} targets {move.final!r}")
    return moves


def _discard(stage: Path) -> None:
    """Delete a staging folder: plan first, so a half-deleted folder has none."""
    (stage / _PLAN).unlink(missing_ok=True)
    _fsync(stage)
    shutil.rmtree(stage)
    _fsync(stage.parent)


def _empty_files_to_remove(
    root: Path, final: Path, partition_by: str, *, old: str = "old"
) -> list[_Move]:
    """Moves that drop an empty ``data.parquet``; refuse any other layout."""
    moves: list[_Move] = []
    if not final.is_dir():
        return moves
    for entry in sorted(_visible(final)):
        if entry.is_dir() and entry.name.startswith(f"{partition_by}="):
            continue
        if entry.is_file() and pq.ParquetFile(entry).metadata.num_rows == 0:
            moves.append(
                _Move(final=_relative(root, entry), new=None, old=f"{old}/{entry.name}")
            )
            continue
        raise StoreError(
            f"{final} is not partitioned by {partition_by} ({entry.name} exists); "
            "rewrite the whole table with write_table_parquet",
            folder=str(final),
        )
    return moves


# --------------------------------------------------------------------------
# Names, paths, types
# --------------------------------------------------------------------------


def _check_identifier(name: str, what: str) -> None:
    """Refuse a name that is not ``[a-z][a-z0-9_]*`` (names reach paths and SQL)."""
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise StoreError(
            f"{what} {name!r} is not a lower-case identifier ([a-z][a-z0-9_]*)",
            name=repr(name),
        )


def _partition_values(column: pd.Series) -> list[str]:
    """Distinct partition codes, sorted; refuse anything but ``[A-Z0-9_]{1,16}``."""
    values: list[str] = []
    for value in column.unique():
        # Codes come from submissions: untrusted until they match the pattern.
        if not isinstance(value, str) or not PARTITION_VALUE.fullmatch(value):
            raise StoreError(
                f"partition value {value!r} in column {column.name!r} is not a code "
                "([A-Z0-9_]{1,16}); nothing was written",
                value=repr(value),
                column=str(column.name),
            )
        values.append(value)
    return sorted(values)


def _split_key(key: str) -> tuple[str, str]:
    """``"meta.lineage"`` -> ``("meta", "lineage")``, both names checked."""
    schema, _, table = key.partition(".")
    _check_identifier(schema, f"schema of {key!r}")
    _check_identifier(table, f"table of {key!r}")
    return schema, table


def _quote(identifier: str) -> str:
    """Quote an identifier already checked by ``_check_identifier``."""
    return f'"{identifier}"'


def _checked_root(curated: Path) -> Path:
    """Absolute curated path, refused if it would change the meaning of a glob."""
    root = Path(curated).resolve()
    bad = sorted({c for c in str(root) if c in _UNSAFE_ROOT_CHARS})
    if bad:
        raise StoreError(
            f"curated directory {root} contains {''.join(bad)!r}, which DuckDB "
            "would read as a glob pattern or a hive partition; choose another path",
            path=str(root),
        )
    return root


def _table_dir(root: Path, schema: str, table: str) -> Path:
    """``root/parquet/<schema>/<table>`` after checking both names."""
    _check_identifier(schema, "schema")
    _check_identifier(table, "table")
    return _inside(root, f"{PARQUET_DIR}/{schema}/{table}")


def _inside(base: Path, relative: str) -> Path:
    """``base / relative``, refused if it leaves ``base`` (``..``, symlinks)."""
    rel = Path(relative)
    path = base / rel
    if (
        rel.is_absolute()
        or ".." in rel.parts
        or not path.parent.resolve().is_relative_to(base.resolve())
    ):
        raise StoreError(f"refusing to write {path}: outside {base}", path=str(path))
    return path


def _relative(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` as a POSIX string (stored in plans)."""
    return path.relative_to(root).as_posix()


def _glob(table_dir: Path) -> str:
    """The analysts' glob for one table (partitioned or not)."""
    return f"{table_dir}/**/*.parquet"


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Give object columns without any value the string dtype.

    DuckDB types such a column as NULL, which Parquet stores as a null type;
    attributes are VARCHAR in the contract (schema.md §11.1).
    """
    empty = [
        name
        for name in frame.columns
        if frame[name].dtype == object and bool(frame[name].isna().all())
    ]
    if not empty:
        return frame
    return frame.astype(dict.fromkeys(empty, "str"))


# --------------------------------------------------------------------------
# Durability
# --------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    """Flush a file or a folder entry list to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(top: Path) -> None:
    """Flush every file and folder under ``top``."""
    for folder, _subfolders, files in os.walk(top):
        for name in files:
            _fsync(Path(folder) / name)
        _fsync(Path(folder))


def _makedirs(folder: Path) -> None:
    """``mkdir -p`` that also flushes each new entry in its parent."""
    missing = [folder, *folder.parents]
    for path in reversed([p for p in missing if not p.exists()]):
        path.mkdir()
        _fsync(path.parent)
