"""Helpers shared by staging and publication: names, paths, files (private).

What it is for: what ``publish.raw_files``, ``publish.staging`` and
``publish.publication`` have in common: the names of the files in a staged
folder, reading the staged submissions back (``_staged_entries``), paths that
never leave ``curated``, atomic writes (temporary name, then rename), reads of
staged Parquet and JSON files that fail with ``StoreError``, and small
conversions of table values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sse_stats.errors import StoreError
from sse_stats.validate.report import ValidationReport

STAGING_DIR = "staging"
_OBSERVATIONS = "observations.parquet"
_FINDINGS = "findings.parquet"
_RULE_SUMMARY = "rule_summary.parquet"
_RECORD = "submission.json"
_PROMOTED = "promoted.json"
_SUMMARY_COLUMNS = {
    "source_file": "str",
    "source_sha256": "str",
    "rule": "str",
    "level": "int64",
    "severity": "str",
    "items": "int64",
    "passes": "int64",
    "fails": "int64",
    "not_applicable": "int64",
}


@dataclass(slots=True)
class _Entry:
    folder: Path
    record: dict[str, Any]
    promoted_at: str | None
    observations: int = 0
    superseded_by: list[str] = field(default_factory=list)
    also_received_as: list[str] = field(default_factory=list)
    duplicate_of: str | None = None

    @property
    def sha256(self) -> str | None:
        value = self.record.get("source_sha256")
        return None if value is None else str(value)

    @property
    def areas(self) -> set[str]:
        return {str(a) for a in self.record.get("ref_areas") or []}

    def signature(self) -> tuple[str, str, str]:
        """What ``meta.submissions`` must show for this entry to be unchanged."""
        return (
            _iso(self.record.get("checked_at")),
            _iso(self.promoted_at),
            ",".join(self.also_received_as) + "|" + (self.duplicate_of or ""),
        )


def _staged_entries(curated: Path) -> list[_Entry]:
    """Every complete staged submission (a folder with submission.json)."""
    staging = _inside(curated, STAGING_DIR)
    if not staging.is_dir():
        return []
    entries: list[_Entry] = []
    for folder in sorted(p for p in staging.iterdir() if p.is_dir()):
        record = _read_record(folder)
        if record is None:
            continue
        promoted = _read_json(folder / _PROMOTED)
        promoted_at = None
        if promoted is not None and promoted.get("source_sha256") == record.get(
            "source_sha256"
        ):
            promoted_at = str(promoted.get("promoted_at"))
        entries.append(_Entry(folder=folder, record=record, promoted_at=promoted_at))
    return entries


def _inside(curated: Path, relative: str) -> Path:
    """``curated / relative``, refused if it resolves outside ``curated``."""
    root = curated.resolve()
    path = root / relative
    if not path.resolve().is_relative_to(root):
        raise StoreError(
            f"refusing to write {path}: it resolves outside {root}", path=str(path)
        )
    return path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _text(frame: pd.DataFrame, column: str) -> list[str]:
    """A column as text, missing values (or a missing column) as ""."""
    if column not in frame.columns:
        return [""] * len(frame)
    return [str(v) for v in frame[column].astype("str").fillna("")]


def _summary_frame(report: ValidationReport) -> pd.DataFrame:
    rows = [
        {"source_file": report.file, "source_sha256": report.sha256, **s}
        for s in report.summary()
    ]
    frame = pd.DataFrame.from_records(rows, columns=list(_SUMMARY_COLUMNS))
    return frame.astype(_SUMMARY_COLUMNS)


def _empty_summary() -> pd.DataFrame:
    return pd.DataFrame(columns=list(_SUMMARY_COLUMNS)).astype(_SUMMARY_COLUMNS)


def _hash_file(path: Path) -> tuple[str | None, int | None]:
    """SHA-256 and size of a file, or ``(None, None)`` if it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    except OSError:
        return None, None
    return digest.hexdigest(), size


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (temporary file in the same folder, then rename)."""
    tmp = _tmp_name(path)
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame to Parquet atomically."""
    tmp = _tmp_name(path)
    try:
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"cannot read the staged file {path}: {exc}; stage the submission again",
            path=str(path),
        ) from exc


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"cannot read {path}: {exc}; stage the submission again", path=str(path)
        ) from exc
    return data if isinstance(data, dict) else None


def _read_record(folder: Path) -> dict[str, Any] | None:
    return _read_json(folder / _RECORD)


def _blank(value: object) -> str:
    """Text of a value; "" for None and missing values."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    return str(value)


def _iso(value: object) -> str:
    """A timestamp (text or Timestamp) as UTC ISO text; "" when missing."""
    if not _blank(value):
        return ""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return str(stamp.tz_convert("UTC").isoformat())


def _conform(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the dtypes of ``like`` (a table read back through DuckDB
    returns integers with NULLs as floats and times in the session's zone)."""
    frame = frame.copy()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC")
    common = {
        name: like[name].dtype
        for name in like.columns
        if name in frame.columns
        and not isinstance(like[name].dtype, pd.DatetimeTZDtype)
    }
    return frame.astype(common) if len(frame.columns) else frame
