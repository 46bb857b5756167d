"""Stage checked submissions, promote accepted ones, publish the curated tables.

What it is for: the three steps between ``check_submission`` and the analysts'
tables (schema.md §8.1, §11; stack.md §3.2 "stage, then promote"):

1. ``stage_submission`` keeps everything one check found, accepted or not, in
   ``curated/staging/<stem>.<sha8>/`` and writes the contract's report JSON to
   ``curated/reports/<source_file>.<sha8>.json``.
2. ``promote_submission`` marks an **accepted** staged submission as cleared for
   publication (``promoted.json``); it refuses anything else. In the pipeline it
   runs only when the blocking check passed.
3. ``publish_curated`` rebuilds ``harmonised.observations`` (promoted accepted
   submissions only; a newer one for the same ``ref_area`` and ``edition``
   supersedes the older one's rows), ``validation.findings``,
   ``validation.rule_summary`` and ``meta.submissions`` from every staged
   submission, then swaps in the serving copy ``sse.duckdb`` (``publish.store``).

What it is not for: reading, harmonising or validating (``sse_stats.check``),
the atomic Parquet and DuckDB mechanics (``publish.store``), Dagster
(``pipelines/``).

Layout under ``curated``::

    staging/<stem>.<sha8>/observations.parquet   harmonised frame (absent if unusable)
    staging/<stem>.<sha8>/findings.parquet       findings + checked_at, trigger, version
    staging/<stem>.<sha8>/rule_summary.parquet   per-rule counts
    staging/<stem>.<sha8>/submission.json        meta record, written last
    staging/<stem>.<sha8>/promoted.json          written by promote_submission
    reports/<source_file>.<sha8>.json            JSON of sse-stats check --format json

Every file is written to a temporary name in its folder and renamed into place.
Staged folders are kept: they are the record of what was received, so
``publish_curated`` can always rebuild the curated tables from them. Raw files
are only read; nothing is written outside ``curated``. File names are
untrusted: folder and report names keep ``[A-Za-z0-9._-]`` only (other
characters become ``_`` and a short hash of the real name is appended).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sse_stats import __version__
from sse_stats.check import add_history, check_submission, country_from_name, is_template
from sse_stats.errors import Finding, StoreError, UsageError
from sse_stats.publish.store import publish_serving_copy, write_table_parquet
from sse_stats.settings import Paths
from sse_stats.validate.report import ValidationReport

STAGING_DIR = "staging"
REPORTS_DIR = "reports"
TRIGGERS = ("cli", "sensor", "manual", "batch")
"""What started a check (``validation.findings.trigger``, schema.md §11.2)."""

ACCEPTED, REJECTED, UNUSABLE, SUPERSEDED = (
    "accepted",
    "rejected",
    "unusable",
    "superseded",
)
STATUSES = (ACCEPTED, REJECTED, UNUSABLE, SUPERSEDED)

_OBSERVATIONS = "observations.parquet"
_FINDINGS = "findings.parquet"
_RULE_SUMMARY = "rule_summary.parquet"
_RECORD = "submission.json"
_PROMOTED = "promoted.json"
_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._-]")
_MAX_STEM = 100
_NO_SHA = "nosha256"
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
_MINIMAL_OBSERVATIONS = [
    "ref_area",
    "edition",
    "obs_value",
    "source_file",
    "source_sha256",
    "source_row",
    "source_column",
    "mapping_file",
]


class UnsafeFileError(UsageError):
    """A raw file name or link that the pipeline refuses to read."""

    title = "file refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class StagedSubmission:
    """One staged submission: where it is and what its check found.

    ``status`` is accepted, rejected or unusable. ``message`` explains an
    unusable submission whose layout could not be chosen (no finding exists
    for that). ``report`` is the check's report when this object comes from
    ``stage_submission`` (``None`` when read back from the staging folder).
    """

    source_file: str
    source_sha256: str | None
    folder: Path
    report_file: Path | None
    status: str
    rows: int
    errors: int
    warnings: int
    infos: int
    mapping_file: str | None
    country: str | None
    ref_areas: tuple[str, ...]
    editions: tuple[str, ...]
    received_at: str
    message: str | None = None
    promoted_at: str | None = None
    report: ValidationReport | None = field(default=None, repr=False, compare=False)

    @property
    def accepted(self) -> bool:
        """No error finding: the submission may be promoted."""
        return self.status == ACCEPTED

    def metadata(self) -> dict[str, str | int | None]:
        """Plain scalars describing the submission (for run metadata and logs)."""
        return {
            "status": self.status,
            "rows": self.rows,
            "errors": self.errors,
            "warnings": self.warnings,
            "infos": self.infos,
            "source_sha256": self.source_sha256,
            "mapping_file": self.mapping_file,
            "country": self.country,
            "ref_areas": ",".join(self.ref_areas),
            "editions": ",".join(self.editions),
            "staged": str(self.folder),
            "report": None if self.report_file is None else str(self.report_file),
            "message": self.message,
        }

    def findings_markdown(self, limit: int = 20) -> str:
        """The first ``limit`` findings as a markdown table (or the usage message)."""
        if self.report is None:
            return _md_escape(self.message or "no findings recorded")
        return findings_markdown(self.report.findings, limit=limit)


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """Submission files found in a raw folder.

    Attributes:
        names: File names safe to read, sorted.
        refused: ``(name, reason)`` for files that will not be read.
    """

    names: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicationSummary:
    """What ``publish_curated`` published."""

    submissions_by_status: Mapping[str, int]
    observations_by_country: Mapping[str, int]
    tables: Mapping[str, int]
    serving_file: Path

    @property
    def accepted(self) -> int:
        """Accepted submissions with rows in ``harmonised.observations``."""
        return self.submissions_by_status.get(ACCEPTED, 0)

    @property
    def rejected(self) -> int:
        """Submissions with at least one error finding."""
        return self.submissions_by_status.get(REJECTED, 0)

    @property
    def unusable(self) -> int:
        """Submissions that could not be read (or had no layout)."""
        return self.submissions_by_status.get(UNUSABLE, 0)

    @property
    def superseded(self) -> int:
        """Accepted submissions whose rows were all replaced by newer ones."""
        return self.submissions_by_status.get(SUPERSEDED, 0)

    @property
    def observations(self) -> int:
        """Rows of ``harmonised.observations``."""
        return sum(self.observations_by_country.values())


# --------------------------------------------------------------------------
# Raw files: names are untrusted
# --------------------------------------------------------------------------


def name_problem(name: str) -> str | None:
    """Why a raw file name is refused, or ``None`` when it is acceptable.

    Refused: empty names, path separators, ``..``, control and format
    characters (including bidirectional overrides).

    Examples:
        >>> name_problem("PRT_2021.csv") is None
        True
        >>> name_problem("../x.csv")
        "it contains a path separator or '..'"
    """
    if not name or name in (".", ".."):
        return "it is empty"
    if "/" in name or "\\" in name or ".." in name or (os.altsep and os.altsep in name):
        return "it contains a path separator or '..'"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "it contains a control character"
    return None


def submission_path(raw: Path, name: str) -> Path:
    """``raw / name`` after checking the name and where the file really is.

    Raises:
        UnsafeFileError: the name is refused (``name_problem``), it is a
            symbolic link that leaves ``raw``, or it is not a regular file.
    """
    problem = name_problem(name)
    if problem is not None:
        raise UnsafeFileError(f"{name!r} refused: {problem}", name=repr(name))
    path = raw / name
    if path.is_symlink() and not path.resolve().is_relative_to(raw.resolve()):
        raise UnsafeFileError(
            f"{name!r} refused: it is a symbolic link to a file outside the raw "
            f"folder {raw}; copy the file into the raw folder instead",
            name=name,
        )
    if not path.is_file():
        raise UnsafeFileError(f"{name!r}: no such regular file in {raw}", name=name)
    return path


def list_submissions(raw: Path) -> Listing:
    """Every ``*.csv`` in ``raw`` (hidden files skipped), split into safe and refused.

    Directories and other non-files named ``*.csv`` are skipped; symbolic links
    are followed only when they stay inside ``raw``.

    Raises:
        UsageError: ``raw`` is not a directory.
    """
    if not raw.is_dir():
        raise UsageError(f"the raw folder {raw} does not exist or is not a directory")
    names: list[str] = []
    refused: list[tuple[str, str]] = []
    for entry in sorted(raw.iterdir(), key=lambda p: p.name):
        name = entry.name
        if name.startswith(".") or not name.endswith(".csv"):
            continue
        if not entry.is_symlink() and not entry.is_file():
            continue
        try:
            submission_path(raw, name)
        except UnsafeFileError as exc:
            refused.append((name, exc.description))
        else:
            names.append(name)
    return Listing(names=tuple(names), refused=tuple(refused))


def check_raw_file(raw: Path, name: str, *, schemas_dir: Path) -> ValidationReport:
    """``check_submission`` on a raw file, choosing the layout from its name.

    The canonical template (first header ``STRUCTURE``) needs no country; any
    other file is read with ``schemas/mappings/<ISO3>.yaml`` for the ISO3 code
    its name starts with (``PRT_2019-2020.csv``).

    Raises:
        UnsafeFileError: see ``submission_path``.
        UsageError: no layout can be chosen for the file.
    """
    path = submission_path(raw, name)
    if is_template(path):
        return check_submission(path, schemas_dir=schemas_dir)
    country = country_from_name(name)
    if country is None:
        raise UsageError(
            f"{name} is not in the canonical template (its first column is not "
            "STRUCTURE) and its name does not start with an ISO 3166-1 alpha-3 "
            "code: rename it <ISO3>_....csv so schemas/mappings/<ISO3>.yaml is used"
        )
    try:
        return check_submission(path, schemas_dir=schemas_dir, country=country)
    except UsageError as exc:
        if isinstance(exc, UnsafeFileError):
            raise
        raise UsageError(f"{name}: {exc.description}") from exc


def stage_raw_file(paths: Paths, name: str, *, trigger: str) -> StagedSubmission:
    """Check one raw file and stage the result (the pipeline's validation step).

    A file whose layout cannot be chosen is staged as ``unusable`` with the
    reason in ``message`` (it still appears in ``meta.submissions``).

    Raises:
        UnsafeFileError: the file is refused and nothing is staged.
    """
    path = submission_path(paths.raw, name)
    try:
        report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    except UnsafeFileError:
        raise
    except UsageError as exc:
        return stage_unusable(
            path, paths.curated, message=exc.description, trigger=trigger
        )
    history = country_history(paths.curated, report, exclude=report.sha256)
    report = add_history(report, history, schemas_dir=paths.schemas)
    return stage_submission(report, paths.curated, trigger=trigger)


def country_history(
    curated: Path, report: ValidationReport, *, exclude: str | None
) -> pd.DataFrame | None:
    """Observations of earlier accepted submissions for the report's countries.

    Every edition is kept (they are the vintages level-2 rules compare with);
    the submission itself (by SHA-256) is left out.
    """
    if report.frame is None or not len(report.frame):
        return None
    areas = set(_text(report.frame, "ref_area"))
    frames = []
    for entry in _staged_entries(curated):
        if (
            entry.record.get("status") != ACCEPTED
            or entry.record.get("source_sha256") == exclude
            or not areas & set(entry.record.get("ref_areas") or [])
            or not (entry.folder / _OBSERVATIONS).is_file()
        ):
            continue
        frame = _read_parquet(entry.folder / _OBSERVATIONS)
        frames.append(frame[frame["ref_area"].isin(sorted(areas))])
    return pd.concat(frames, ignore_index=True) if frames else None


# --------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------


def stage_submission(
    report: ValidationReport,
    curated: Path,
    *,
    trigger: str,
    received_at: dt.datetime | None = None,
) -> StagedSubmission:
    """Keep what one check found under ``curated/staging/`` and write its report.

    Re-staging the same content (same name and SHA-256) replaces the folder's
    files, keeps the first ``received_at`` and withdraws an earlier promotion,
    so a re-checked submission must be promoted again.

    Args:
        report: The result of ``check_submission``.
        curated: The curated directory.
        trigger: cli, sensor, manual or batch.
        received_at: When the file was received (default: first staging, UTC).

    Returns:
        The staged submission, with ``report`` attached.

    Raises:
        UsageError: ``trigger`` is not one of ``TRIGGERS``.
        StoreError: a path would leave ``curated``.
    """
    _check_trigger(trigger)
    now = _now()
    folder = _staging_folder(curated, report.file, report.sha256)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _PROMOTED).unlink(missing_ok=True)
    received = _received_at(folder, report.sha256, received_at, now)
    frame = report.frame
    if frame is not None:
        _write_parquet(frame, folder / _OBSERVATIONS)
    else:
        (folder / _OBSERVATIONS).unlink(missing_ok=True)
    findings = report.findings_frame().assign(
        checked_at=pd.Timestamp(now), trigger=trigger, sse_stats_version=__version__
    )
    _write_parquet(findings, folder / _FINDINGS)
    _write_parquet(_summary_frame(report), folder / _RULE_SUMMARY)
    report_file = _report_path(curated, report.file, report.sha256)
    report_file.parent.mkdir(parents=True, exist_ok=True)
    _write_text(report_file, report.to_json() + "\n")
    counts = report.counts
    record: dict[str, Any] = {
        "source_file": report.file,
        "source_sha256": report.sha256,
        "size": report.size,
        "received_at": received,
        "checked_at": now.isoformat(),
        "trigger": trigger,
        "layout": report.mapping_file or "canonical",
        "mapping_file": report.mapping_file,
        "country": report.country,
        "ref_areas": _distinct(frame, "ref_area"),
        "editions": _distinct(frame, "edition"),
        "rows": 0 if frame is None else len(frame),
        "errors": counts["error"],
        "warnings": counts["warning"],
        "infos": counts["info"],
        "status": report.status,
        "message": None,
        "report_file": report_file.relative_to(curated.resolve()).as_posix(),
        "sse_stats_version": __version__,
    }
    _write_text(folder / _RECORD, json.dumps(record, ensure_ascii=False, indent=1))
    return _from_record(curated, folder, record, report=report)


def stage_unusable(
    path: Path, curated: Path, *, message: str, trigger: str
) -> StagedSubmission:
    """Record a file that could not be checked at all (no layout for it).

    Only ``submission.json`` is written, with status ``unusable`` and
    ``message``; there are no findings and no report.
    """
    _check_trigger(trigger)
    now = _now()
    sha256, size = _hash_file(path)
    folder = _staging_folder(curated, path.name, sha256)
    folder.mkdir(parents=True, exist_ok=True)
    for name in (_PROMOTED, _OBSERVATIONS, _FINDINGS, _RULE_SUMMARY):
        (folder / name).unlink(missing_ok=True)
    record: dict[str, Any] = {
        "source_file": path.name,
        "source_sha256": sha256,
        "size": size,
        "received_at": _received_at(folder, sha256, None, now),
        "checked_at": now.isoformat(),
        "trigger": trigger,
        "layout": None,
        "mapping_file": None,
        "country": None,
        "ref_areas": [],
        "editions": [],
        "rows": 0,
        "errors": 0,
        "warnings": 0,
        "infos": 0,
        "status": UNUSABLE,
        "message": message,
        "report_file": None,
        "sse_stats_version": __version__,
    }
    _write_text(folder / _RECORD, json.dumps(record, ensure_ascii=False, indent=1))
    return _from_record(curated, folder, record)


def promote_submission(paths: Paths, name: str) -> StagedSubmission:
    """Clear the staged, accepted version of a raw file for publication.

    The raw file is hashed again, so a file replaced after its check is never
    promoted on the strength of the earlier check.

    Raises:
        UnsafeFileError: see ``submission_path``.
        UsageError: the submission is not accepted.
        StoreError: this version of the file was never staged.
    """
    path = submission_path(paths.raw, name)
    sha256, _size = _hash_file(path)
    folder = _staging_folder(paths.curated, name, sha256)
    record = _read_record(folder)
    if record is None or record.get("source_file") != name:
        raise StoreError(
            f"{name} (sha256 {(sha256 or '')[:8]}) has not been staged: the file "
            "changed after its check or was never checked; validate it again",
            name=name,
        )
    if record.get("status") != ACCEPTED:
        raise UsageError(
            f"{name} is {record.get('status')}: only accepted submissions are "
            "promoted (schema.md §8.1)"
        )
    promoted_at = _now().isoformat()
    _write_text(
        folder / _PROMOTED,
        json.dumps({"promoted_at": promoted_at, "source_sha256": sha256}),
    )
    return _from_record(paths.curated, folder, record, promoted_at=promoted_at)


# --------------------------------------------------------------------------
# Publication
# --------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    folder: Path
    record: dict[str, Any]
    promoted_at: str | None
    observations: int = 0
    superseded_by: list[str] = field(default_factory=list)


def publish_curated(
    curated: Path, *, schemas_dir: Path | None = None
) -> PublicationSummary:
    """Rebuild the curated tables from every staged submission; swap in sse.duckdb.

    ``harmonised.observations`` holds the rows of promoted, accepted
    submissions. Submissions are taken newest first (``received_at``, then file
    name): a submission's rows for a ``(ref_area, edition)`` already supplied by
    a newer one are dropped, and a submission left with no row is marked
    ``superseded`` in ``meta.submissions``; other editions coexist as vintages.
    ``validation.findings``, ``validation.rule_summary`` and
    ``meta.submissions`` cover every staged submission. Each table is replaced
    atomically (``publish.store``), then the serving copy is rebuilt.

    Args:
        curated: The curated directory.
        schemas_dir: ``schemas/``, used only for the columns of an empty
            observations table when no submission has a harmonised frame.

    Returns:
        Submissions by status, observations by country, rows per table.

    Raises:
        StoreError: a staged file is unreadable or a table cannot be written.
    """
    entries = _staged_entries(curated)
    frames = _published_frames(entries)
    observations = _concat(frames, _empty_observations(entries, schemas_dir))
    findings = _concat(
        [
            _read_parquet(e.folder / _FINDINGS)
            for e in entries
            if (e.folder / _FINDINGS).is_file()
        ],
        _empty_findings(),
    )
    summary = _concat(
        [
            _read_parquet(e.folder / _RULE_SUMMARY)
            for e in entries
            if (e.folder / _RULE_SUMMARY).is_file()
        ],
        _empty_summary(),
    )
    submissions = _submissions_frame(entries)
    tables = {
        "harmonised.observations": len(observations),
        "validation.findings": len(findings),
        "validation.rule_summary": len(summary),
        "meta.submissions": len(submissions),
    }
    write_table_parquet(
        curated, "harmonised", "observations", observations, partition_by="ref_area"
    )
    write_table_parquet(curated, "validation", "findings", findings, partition_by=None)
    write_table_parquet(
        curated, "validation", "rule_summary", summary, partition_by=None
    )
    write_table_parquet(curated, "meta", "submissions", submissions, partition_by=None)
    serving = publish_serving_copy(curated)
    by_country = (
        observations["ref_area"].value_counts().sort_index()
        if "ref_area" in observations.columns
        else pd.Series(dtype="int64")
    )
    return PublicationSummary(
        submissions_by_status=dict(sorted(Counter(submissions["status"]).items())),
        observations_by_country={str(k): int(v) for k, v in by_country.items()},
        tables=tables,
        serving_file=serving,
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


def _published_frames(entries: list[_Entry]) -> list[pd.DataFrame]:
    """Rows of promoted accepted submissions, newest first, superseded rows dropped."""
    candidates = [
        e
        for e in entries
        if e.record.get("status") == ACCEPTED
        and e.promoted_at is not None
        and (e.folder / _OBSERVATIONS).is_file()
    ]
    candidates.sort(
        key=lambda e: (
            str(e.record.get("received_at")),
            str(e.record.get("source_file")),
            e.folder.name,
        ),
        reverse=True,
    )
    claimed: dict[tuple[str, str], str] = {}
    frames: list[pd.DataFrame] = []
    for entry in candidates:
        frame = _read_parquet(entry.folder / _OBSERVATIONS)
        keys = list(zip(_text(frame, "ref_area"), _text(frame, "edition"), strict=True))
        taken = pd.Series([k in claimed for k in keys], index=frame.index, dtype="bool")
        entry.superseded_by = sorted({claimed[k] for k in keys if k in claimed})
        kept = frame.loc[~taken]
        entry.observations = len(kept)
        if len(frame) and kept.empty:
            entry.record = {**entry.record, "status": SUPERSEDED}
        for key in keys:
            claimed.setdefault(key, str(entry.record.get("source_file")))
        if not kept.empty:
            frames.append(kept)
    return frames


def _submissions_frame(entries: list[_Entry]) -> pd.DataFrame:
    """``meta.submissions``: one row per staged submission."""
    rows = []
    for e in entries:
        r = e.record
        rows.append(
            {
                "source_file": r.get("source_file"),
                "source_sha256": r.get("source_sha256"),
                "size": r.get("size"),
                "received_at": r.get("received_at"),
                "checked_at": r.get("checked_at"),
                "promoted_at": e.promoted_at,
                "trigger": r.get("trigger"),
                "layout": r.get("layout"),
                "mapping_file": r.get("mapping_file"),
                "country": r.get("country"),
                "ref_areas": ",".join(r.get("ref_areas") or []),
                "editions": ",".join(r.get("editions") or []),
                "rows": r.get("rows", 0),
                "observations": e.observations,
                "errors": r.get("errors", 0),
                "warnings": r.get("warnings", 0),
                "infos": r.get("infos", 0),
                "status": r.get("status"),
                "superseded_by": ",".join(e.superseded_by) or None,
                "message": r.get("message"),
                "report_file": r.get("report_file"),
                "staged_as": e.folder.name,
                "sse_stats_version": r.get("sse_stats_version"),
            }
        )
    columns = [
        "source_file",
        "source_sha256",
        "size",
        "received_at",
        "checked_at",
        "promoted_at",
        "trigger",
        "layout",
        "mapping_file",
        "country",
        "ref_areas",
        "editions",
        "rows",
        "observations",
        "errors",
        "warnings",
        "infos",
        "status",
        "superseded_by",
        "message",
        "report_file",
        "staged_as",
        "sse_stats_version",
    ]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    times = ("received_at", "checked_at", "promoted_at")
    ints = ("size", "rows", "observations", "errors", "warnings", "infos")
    for name in times:
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame.astype(
        dict.fromkeys(ints, "Int64")
        | {n: "str" for n in columns if n not in times and n not in ints}
    )


# --------------------------------------------------------------------------
# Markdown for run metadata
# --------------------------------------------------------------------------


def findings_markdown(findings: Sequence[Finding], *, limit: int = 20) -> str:
    """The first ``limit`` findings as a markdown table; submitted text is escaped.

    Examples:
        >>> print(findings_markdown([]))
        No findings.
    """
    if not findings:
        return "No findings."
    lines = [
        "| row | column | value | rule | severity | message |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings[:limit]:
        cells = [
            "" if f.row is None else str(f.row),
            f.column or "",
            f.value or "",
            f.rule,
            f.severity,
            f.message,
        ]
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    if len(findings) > limit:
        lines.append(f"\n{len(findings) - limit} more findings in the report.")
    return "\n".join(lines)


def _md_escape(text: str, width: int = 200) -> str:
    """One table cell: no newlines, pipes or HTML; long text cut."""
    flat = " ".join(text.split())
    if len(flat) > width:
        flat = flat[: width - 1] + "…"
    return (
        flat.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("`", "\\`")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


# --------------------------------------------------------------------------
# Helpers: names, paths, files
# --------------------------------------------------------------------------


def _safe(text: str, original: str, limit: int, *, force_hash: bool = False) -> str:
    """``text`` with only ``[A-Za-z0-9._-]``, plus a name hash if anything changed.

    Examples:
        >>> _safe("PRT_2021", "PRT_2021.csv", 100)
        'PRT_2021'
        >>> _safe("a b", "a b.csv", 100)
        'a_b_0c5916'
    """
    safe = _UNSAFE_CHAR.sub("_", text)
    safe = re.sub(r"^\.+", lambda m: "_" * len(m.group()), safe)[:limit] or "_"
    if force_hash or safe != text:
        digest = hashlib.sha256(original.encode("utf-8", "surrogateescape")).hexdigest()
        safe = f"{safe}_{digest[:6]}"
    return safe


def _sha8(sha256: str | None) -> str:
    if sha256 is None or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        return _NO_SHA
    return sha256[:8]


def _staging_folder(curated: Path, source_file: str, sha256: str | None) -> Path:
    """``curated/staging/<stem>.<sha8>`` from an untrusted file name."""
    stem = source_file[:-4] if source_file.endswith(".csv") else source_file
    # a.txt gets a name hash, so it never shares a folder with a.csv
    name = _safe(
        stem, source_file, _MAX_STEM, force_hash=not source_file.endswith(".csv")
    )
    return _inside(curated, f"{STAGING_DIR}/{name}.{_sha8(sha256)}")


def _report_path(curated: Path, source_file: str, sha256: str | None) -> Path:
    """``curated/reports/<source_file>.<sha8>.json`` from an untrusted file name."""
    name = _safe(source_file, source_file, _MAX_STEM + 4)
    return _inside(curated, f"{REPORTS_DIR}/{name}.{_sha8(sha256)}.json")


def _inside(curated: Path, relative: str) -> Path:
    """``curated / relative``, refused if it resolves outside ``curated``."""
    root = curated.resolve()
    path = root / relative
    if not path.resolve().is_relative_to(root):
        raise StoreError(
            f"refusing to write {path}: it resolves outside {root}", path=str(path)
        )
    return path


def _check_trigger(trigger: str) -> None:
    if trigger not in TRIGGERS:
        raise UsageError(f"trigger {trigger!r} is not one of {', '.join(TRIGGERS)}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _received_at(
    folder: Path, sha256: str | None, given: dt.datetime | None, now: dt.datetime
) -> str:
    """The given time, else the first staging of this content, else now."""
    if given is not None:
        if given.tzinfo is None:
            raise UsageError("received_at must be timezone-aware")
        return given.astimezone(dt.UTC).isoformat()
    previous = _read_record(folder)
    if previous is not None and previous.get("source_sha256") == sha256:
        return str(previous["received_at"])
    return now.isoformat()


def _distinct(frame: pd.DataFrame | None, column: str) -> list[str]:
    if frame is None or column not in frame.columns:
        return []
    return sorted({str(v) for v in frame[column].dropna().unique()})


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


def _empty_findings() -> pd.DataFrame:
    empty = ValidationReport(file="", sha256=None, size=None, findings=())
    return empty.findings_frame().assign(
        checked_at=pd.Series(dtype="datetime64[us, UTC]"),
        trigger=pd.Series(dtype="str"),
        sse_stats_version=pd.Series(dtype="str"),
    )


def _empty_observations(
    entries: list[_Entry], schemas_dir: Path | None
) -> pd.DataFrame:
    """Zero rows with the observation columns (a staged frame's, else the schema's)."""
    for entry in entries:
        path = entry.folder / _OBSERVATIONS
        if path.is_file():
            return _read_parquet(path).iloc[0:0]
    columns = _MINIMAL_OBSERVATIONS
    if schemas_dir is not None:
        from sse_stats.harmonise.frame import curated_columns
        from sse_stats.schema.load import cached_schema

        columns = curated_columns(cached_schema(schemas_dir.resolve()))
    dtypes = {"obs_value": "float64", "unit_mult": "Int64", "source_row": "Int64"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "str")) for c in columns})


def _concat(frames: list[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    """Stack frames (text columns as ``str``), or ``empty`` when there are none."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return empty
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    text = [c for c in frame.columns if frame[c].dtype == object]
    return frame.astype(dict.fromkeys(text, "str")).reset_index(drop=True)


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


def _from_record(
    curated: Path,
    folder: Path,
    record: Mapping[str, Any],
    *,
    report: ValidationReport | None = None,
    promoted_at: str | None = None,
) -> StagedSubmission:
    report_file = record.get("report_file")
    return StagedSubmission(
        source_file=str(record["source_file"]),
        source_sha256=record.get("source_sha256"),
        folder=folder,
        report_file=None if report_file is None else curated.resolve() / report_file,
        status=str(record["status"]),
        rows=int(record.get("rows", 0)),
        errors=int(record.get("errors", 0)),
        warnings=int(record.get("warnings", 0)),
        infos=int(record.get("infos", 0)),
        mapping_file=record.get("mapping_file"),
        country=record.get("country"),
        ref_areas=tuple(record.get("ref_areas") or ()),
        editions=tuple(record.get("editions") or ()),
        received_at=str(record.get("received_at")),
        message=record.get("message"),
        promoted_at=promoted_at,
        report=report,
    )
