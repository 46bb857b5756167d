"""The serving copy ``curated/sse.duckdb``: one DuckDB file with every table.

What it is for: building the serving copy from the Parquet tables (and
in-memory tables), with ``meta.tables`` (row counts, build time) and the views
listed in ``meta.views``, written with an old storage version so any DuckDB
client >= 1.4 opens it (stack.md pitfall 12). ``publish_serving_copy`` rebuilds
it alone and swaps it in with one rename; ``store.publish_tables`` builds it in
the same staging folder as the tables it publishes, so Parquet and the serving
copy always hold the same publication. Views listed in the table
``meta.views`` are created in every serving copy, in place of a Parquet table
of the same name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pandas as pd

from sse_stats.errors import StoreError
from sse_stats.publish._atomic import _fsync, _os_errors, _recover_locked, _store_lock
from sse_stats.publish._paths import (
    _READ_PARQUET,
    IDENTIFIER,
    PARQUET_DIR,
    SERVING_FILE,
    _check_identifier,
    _checked_root,
    _glob,
    _quote,
    _split_key,
    _typed,
    _visible,
)
from sse_stats.publish.connections import _CONFIG

STORAGE_VERSION = "v1.4.0"
"""Oldest DuckDB able to open the serving copy (stack.md pitfall 12)."""
_META_TABLES = ("meta", "tables")
VIEWS_TABLE = ("meta", "views")
"""Table of view definitions (``view_schema``, ``view_name``, ``sql``).

Every serving copy creates these views (after the tables), in place of any
Parquet table of the same name; the SQL is written by the library, never taken
from a submission."""


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
        >>> from sse_stats.publish.connections import open_duckdb
        >>> from sse_stats.publish.store import write_table_parquet
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
