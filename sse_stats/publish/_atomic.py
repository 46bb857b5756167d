"""Atomic, durable writes to the curated store: staging, commit, recovery (private).

What it is for: the machinery behind every write of ``publish.store`` and
``publish.serving``: the store lock, the staging folder, the plan that is the
commit point, its replay after a crash, and the fsyncs that make each step
durable. Callers use the public functions of ``publish.store``.

How a write stays atomic (the same steps for a whole table and for partitions):

1. Under the store lock, ``recover`` finishes or discards earlier writes.
2. The complete new content is written to ``.staging/<uuid>/new/`` (same file
   system, outside the analysts' glob) and fsynced.
3. ``plan.json`` is written to a temporary name, fsynced and renamed: this is
   the commit point. It lists the moves ``final -> old`` then ``new -> final``.
4. The moves run (two renames per table or partition) and ``.staging/<uuid>``
   is deleted.

A crash before step 3 leaves the old table untouched and a staging folder
without a plan: ``recover`` deletes it. A crash after step 3 leaves a plan:
``recover`` replays the remaining moves (roll forward), so the final path holds
the complete new content; this also covers the instant between the two renames
when the final path is absent. ``recover`` is idempotent, runs at the start of
every write, read and serving-copy build, and can be called on its own.

POSIX only: the store lock is ``fcntl.flock`` (released by the kernel when a
writer dies) and ``os.replace`` over an open ``sse.duckdb`` fails on Windows.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from sse_stats.errors import StoreError, StoreLockedError
from sse_stats.publish._paths import (
    _UNPARTITIONED_FILE,
    PARQUET_DIR,
    SERVING_FILE,
    STAGING_DIR,
    _inside,
    _relative,
    _typed,
    _visible,
)
from sse_stats.publish.connections import scratch_connection

_PLAN = "plan.json"
_LOCK = "lock"
_STORE_LOCK_TIMEOUT_SECONDS = 120.0


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
