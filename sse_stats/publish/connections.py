"""Short-lived DuckDB connections to the curated store and to scratch memory.

What it is for: every DuckDB connection the store and its callers open goes
through here, with replacement scans off (a missing table must not resolve to a
Python variable, stack.md pitfall 14): ``open_duckdb`` for a file such as
``curated/sse.duckdb`` (retrying while another process holds its lock), and
``scratch_connection`` for a private in-memory database reused per process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from sse_stats.errors import StoreError, StoreLockedError

_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    # A missing table must not resolve to a Python variable (stack.md pitfall 14).
    "python_enable_replacements": False,
}
_CONNECT_BACKOFF_SECONDS = 0.2


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
