"""Names, paths and types of the curated store (private).

What it is for: the layout of ``curated/`` (``parquet/<schema>/<table>/``,
``sse.duckdb``, ``.staging/``) and the checks that keep names and codes from
submissions out of paths and SQL: schema, table and column names must be
lower-case identifiers, partition codes ``[A-Z0-9_]{1,16}``, and no path may
leave ``curated``. Also the DuckDB query that reads a table's Parquet files
and the dtype fix applied before a frame is written. (The staged submissions
have their own helpers in ``publish._files``.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from sse_stats.errors import StoreError

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")
"""Schema, table and partition-column names (used with ``fullmatch``)."""

PARTITION_VALUE = re.compile(r"[A-Z0-9_]{1,16}")
"""Codes allowed in a partition folder name (used with ``fullmatch``)."""

PARQUET_DIR = "parquet"
SERVING_FILE = "sse.duckdb"
STAGING_DIR = ".staging"
_UNPARTITIONED_FILE = "data.parquet"
# Glob metacharacters would change what read_parquet matches; "=" in a parent
# folder would be read as one more hive partition column.
_UNSAFE_ROOT_CHARS = frozenset("*?[]{}=")
_READ_PARQUET = (
    "SELECT * FROM read_parquet($glob, hive_partitioning = true, "
    # Without autocast, hive columns stay VARCHAR ("001" stays a code, not 1).
    "hive_types_autocast = false, union_by_name = true)"
)


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


def _visible(folder: Path) -> Iterator[Path]:
    """Entries of ``folder`` except hidden ones (``.DS_Store``, editors' files)."""
    return (p for p in folder.iterdir() if not p.name.startswith("."))
