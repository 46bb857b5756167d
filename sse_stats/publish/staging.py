"""Stage checked submissions and promote accepted ones.

What it is for: the steps between a file in the raw folder and the published
tables (schema.md §8.1, §11; stack.md §3.2 "stage, then promote"):

1. ``stage_raw_file`` checks one file (given by name or key; a key's SHA-256
   is verified) and keeps everything the check found, accepted or not, in
   ``curated/staging/<stem>.<sha8>/``, with the contract's report JSON in
   ``curated/reports/<source_file>.<sha8>.json``.
2. ``promote_submission`` marks an **accepted** staged submission as cleared
   for publication (``promoted.json``); it refuses anything else. In the
   pipeline it runs only when the blocking check passed.

``publish_curated`` (``publish.publication``) then publishes the staged
submissions.

What it is not for: listing the raw folder (``publish.raw_files``), publishing
the curated tables (``publish.publication``), reading, harmonising or
validating (``sse_stats.check``), Dagster (``pipelines/``).

Layout under ``curated``::

    staging/<stem>.<sha8>/observations.parquet   harmonised frame (absent if unusable)
    staging/<stem>.<sha8>/findings.parquet       findings + checked_at, trigger, version
    staging/<stem>.<sha8>/rule_summary.parquet   per-rule counts
    staging/<stem>.<sha8>/submission.json        meta record, written last
    staging/<stem>.<sha8>/promoted.json          written by promote_submission
    staging/.lock                                one publication at a time (flock)
    reports/<source_file>.<sha8>.json            JSON of sse-stats check --format json

Every file is written to a temporary name in its folder and renamed into place.
Staged folders are kept: they are the record of what was received, so
``publish_curated(full=True)`` can always rebuild the curated tables from them.
Raw files are only read; nothing is written outside ``curated``. File names
are untrusted: names with path separators, ``..``, control or shell characters
are refused (``publish.raw_files``), and folder and report names keep
``[A-Za-z0-9._-]`` only (other characters become ``_`` and a short hash of the
real name is appended).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sse_stats import __version__
from sse_stats.check import add_history
from sse_stats.errors import StoreError, UsageError
from sse_stats.publish._files import (
    _FINDINGS,
    _OBSERVATIONS,
    _PROMOTED,
    _RECORD,
    _RULE_SUMMARY,
    STAGING_DIR,
    _hash_file,
    _inside,
    _now,
    _read_json,
    _read_parquet,
    _read_record,
    _staged_entries,
    _summary_frame,
    _text,
    _write_parquet,
    _write_text,
)
from sse_stats.publish.raw_files import (
    RawFile,
    SubmissionChangedError,
    UnsafeFileError,
    check_raw_file,
    parse_submission_key,
    submission_path,
)
from sse_stats.publish.run_markdown import _md_escape, findings_markdown
from sse_stats.schema.load import safe_yaml
from sse_stats.settings import Paths
from sse_stats.validate.report import ValidationReport

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

_UNSAFE_CHAR = re.compile(r"[^A-Za-z0-9._-]")
_MAX_STEM = 100
_NO_SHA = "nosha256"


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
    reason: str | None = None
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
            "reason": self.reason,
        }

    def findings_markdown(self, limit: int = 20) -> str:
        """The first ``limit`` findings as a markdown table (or the usage message)."""
        if self.report is None:
            return _md_escape(self.message or "no findings recorded")
        return findings_markdown(self.report.findings, limit=limit)


def stage_raw_file(paths: Paths, key: str, *, trigger: str) -> StagedSubmission:
    """Check one raw file and stage the result (the pipeline's validation step).

    ``key`` is a submission key (``<name>@<sha8>``, whose SHA-256 is verified)
    or a bare name (the file's current content). A file whose layout cannot be
    chosen is staged as ``unusable`` with the reason in ``message`` (it still
    appears in ``meta.submissions``).

    Raises:
        UnsafeFileError: the file is refused and nothing is staged.
        SubmissionChangedError: the file no longer holds the key's bytes;
            nothing is staged.
    """
    name, sha8 = parse_submission_key(key)
    path = submission_path(paths.raw, name)
    try:
        report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    except UnsafeFileError:
        raise
    except UsageError as exc:
        _verify(name, sha8, _hash_file(path)[0])
        return stage_unusable(
            path,
            paths.curated,
            message=exc.description,
            trigger=trigger,
            source_path=name,
        )
    _verify(name, sha8, report.sha256)
    history = country_history(paths.curated, report, exclude=report.sha256)
    report = add_history(report, history, schemas_dir=paths.schemas)
    return stage_submission(
        report,
        paths.curated,
        trigger=trigger,
        schemas_dir=paths.schemas,
        source_path=name,
    )


def _verify(name: str, sha8: str | None, sha256: str | None) -> None:
    """Refuse to go on when the file no longer holds the bytes of its key."""
    if sha8 is None or (sha256 or "")[:8] == sha8:
        return
    raise SubmissionChangedError(
        f"{name!r} no longer holds the bytes of submission {name}@{sha8} (its "
        f"SHA-256 now starts {(sha256 or 'unreadable')[:8]}); the new content is "
        "a new submission, registered under its own key",
        name=name,
    )


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


def stage_submission(
    report: ValidationReport,
    curated: Path,
    *,
    trigger: str,
    received_at: dt.datetime | None = None,
    schemas_dir: Path | None = None,
    source_path: str | None = None,
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
        schemas_dir: The ``schemas/`` the check used: the digests of its rule
            files and of the mapping are recorded (None: not recorded).
        source_path: The file's name in the raw folder (default: its name).

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
        "source_path": source_path or report.file,
        "source_sha256": report.sha256,
        "size": report.size,
        "received_at": received,
        "checked_at": now.isoformat(),
        "trigger": trigger,
        "layout": report.mapping_file or "canonical",
        # schema.md §2: the message columns are recorded once per file. A file
        # is read into the one supported structure and action (any other value
        # is an error finding), so these are what its rows were checked as.
        "structure_id": None if frame is None else _structure_id(schemas_dir),
        "action": None if frame is None else "I",
        "mapping_file": report.mapping_file,
        "mapping_sha256": _mapping_digest(schemas_dir, report.mapping_file),
        "rules_sha256": None if schemas_dir is None else rules_digest(schemas_dir),
        "country": report.country,
        "ref_areas": _distinct(frame, "ref_area"),
        "editions": _distinct(frame, "edition"),
        "rows": 0 if frame is None else len(frame),
        "errors": counts["error"],
        "warnings": counts["warning"],
        "infos": counts["info"],
        "status": report.status,
        "reason": _reason(report),
        "message": None,
        "report_file": report_file.relative_to(curated.resolve()).as_posix(),
        "sse_stats_version": __version__,
    }
    _write_text(folder / _RECORD, json.dumps(record, ensure_ascii=False, indent=1))
    return _from_record(curated, folder, record, report=report)


def stage_unusable(
    path: Path,
    curated: Path,
    *,
    message: str,
    trigger: str,
    source_path: str | None = None,
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
        "source_path": source_path or path.name,
        "source_sha256": sha256,
        "size": size,
        "received_at": _received_at(folder, sha256, None, now),
        "checked_at": now.isoformat(),
        "trigger": trigger,
        "layout": None,
        "structure_id": None,
        "action": None,
        "mapping_file": None,
        "mapping_sha256": None,
        "rules_sha256": None,
        "country": None,
        "ref_areas": [],
        "editions": [],
        "rows": 0,
        "errors": 0,
        "warnings": 0,
        "infos": 0,
        "status": UNUSABLE,
        "reason": message,
        "message": message,
        "report_file": None,
        "sse_stats_version": __version__,
    }
    _write_text(folder / _RECORD, json.dumps(record, ensure_ascii=False, indent=1))
    return _from_record(curated, folder, record)


def promote_submission(paths: Paths, key: str) -> StagedSubmission:
    """Clear the staged, accepted version of a raw file for publication.

    ``key`` is a submission key or a bare name (as for ``stage_raw_file``).
    The raw file is hashed again, so a file replaced after its check is never
    promoted on the strength of the earlier check.

    Raises:
        UnsafeFileError: see ``submission_path``.
        SubmissionChangedError: the file no longer holds the key's bytes.
        UsageError: the submission is not accepted.
        StoreError: this version of the file was never staged.
    """
    name, sha8 = parse_submission_key(key)
    path = submission_path(paths.raw, name)
    sha256, _size = _hash_file(path)
    _verify(name, sha8, sha256)
    folder = _staging_folder(paths.curated, path.name, sha256)
    record = _read_record(folder)
    if record is None or record.get("source_file") != path.name:
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


def staged_unchanged(paths: Paths, raw_file: RawFile) -> StagedSubmission | None:
    """The staged result of this exact submission, if checking again would not
    change it; else None.

    "Unchanged" means: staged from the same bytes (SHA-256), with the same
    rule files and mapping (digests) and the same library version, and
    promoted if it was accepted. Level-2 findings (growth, revisions) depend on
    the other submissions and may be older than they would be now: they are
    warnings and infos only (schema.md §8.1), and a re-check refreshes them.
    """
    folder = _staging_folder(paths.curated, Path(raw_file.name).name, raw_file.sha256)
    record = _read_record(folder)
    if (
        record is None
        or record.get("source_sha256") != raw_file.sha256
        or record.get("source_path", record.get("source_file")) != raw_file.name
        or record.get("sse_stats_version") != __version__
        or record.get("status") == UNUSABLE
        or record.get("rules_sha256") != rules_digest(paths.schemas)
        or record.get("mapping_sha256")
        != _mapping_digest(paths.schemas, record.get("mapping_file"))
    ):
        return None
    promoted = _read_json(folder / _PROMOTED)
    promoted_at = None
    if promoted is not None and promoted.get("source_sha256") == raw_file.sha256:
        promoted_at = str(promoted.get("promoted_at"))
    if record.get("status") == ACCEPTED and promoted_at is None:
        return None
    return _from_record(paths.curated, folder, record, promoted_at=promoted_at)


def staging_state(curated: Path) -> str:
    """A digest that changes whenever a submission is staged or promoted.

    Cheap (file names, sizes and times only): a sensor compares it with the
    state it last published to decide whether to publish again.
    """
    digest = hashlib.sha256()
    staging = _inside(curated, STAGING_DIR)
    if staging.is_dir():
        for folder in sorted(p for p in staging.iterdir() if p.is_dir()):
            for name in (_RECORD, _PROMOTED):
                try:
                    stat = (folder / name).stat()
                except OSError:
                    continue
                digest.update(
                    f"{folder.name}/{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode()
                )
    return digest.hexdigest()


def _structure_id(schemas_dir: Path | None) -> str | None:
    """The SDMX structure submissions are read into (``concepts.yaml``)."""
    if schemas_dir is None:
        return None
    from sse_stats.schema.load import cached_schema

    return cached_schema(schemas_dir.resolve()).structure_id or None


def rules_digest(schemas_dir: Path) -> str | None:
    """SHA-256 over the rule files ``schemas/rules/*.yaml`` (names and bytes).

    Examples:
        >>> from sse_stats.settings import Paths
        >>> len(rules_digest(Paths.default().schemas) or "")
        64
    """
    files = sorted((schemas_dir / "rules").glob("*.yaml"))
    return _files_digest(schemas_dir, files) if files else None


def _mapping_digest(schemas_dir: Path | None, mapping_file: str | None) -> str | None:
    """SHA-256 over a mapping file and the flag vocabulary it names."""
    if schemas_dir is None or mapping_file is None:
        return None
    path = schemas_dir / "mappings" / Path(mapping_file).name
    if not path.is_file():
        return None
    files = [path]
    try:
        doc = safe_yaml(path.read_text(encoding="utf-8")) or {}
        vocabulary = (doc.get("flags") or {}).get("vocabulary")
    except (OSError, yaml.YAMLError, AttributeError):
        vocabulary = None
    if isinstance(vocabulary, str) and re.fullmatch(r"[A-Z0-9_]+", vocabulary):
        flagmap = schemas_dir / "flagmaps" / f"{vocabulary}.csv"
        if flagmap.is_file():
            files.append(flagmap)
    return _files_digest(schemas_dir, files)


def _files_digest(base: Path, files: Sequence[Path]) -> str:
    """SHA-256 of ``<relative path> NUL <sha256 of bytes> LF`` for each file."""
    digest = hashlib.sha256()
    for path in sorted(files):
        sha256, _size = _hash_file(path)
        relative = path.relative_to(base).as_posix()
        digest.update(f"{relative}\0{sha256}\n".encode())
    return digest.hexdigest()


def _reason(report: ValidationReport) -> str | None:
    """Why a submission is rejected or unusable, in one line (rules and counts)."""
    if report.status == ACCEPTED:
        return None
    if report.unusable:
        first = next((f for f in report.findings if f.unusable), None)
        return f"unusable: {first.rule}: {first.message}" if first else "unusable"
    errors = Counter(f.rule for f in report.findings if f.severity == "error")
    rules = ", ".join(f"{rule} ({n})" for rule, n in errors.most_common(5))
    more = "" if len(errors) <= 5 else f", {len(errors) - 5} more rules"
    return f"{sum(errors.values())} error findings: {rules}{more}"


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


def _check_trigger(trigger: str) -> None:
    if trigger not in TRIGGERS:
        raise UsageError(f"trigger {trigger!r} is not one of {', '.join(TRIGGERS)}")


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
        reason=record.get("reason"),
        promoted_at=promoted_at,
        report=report,
    )
