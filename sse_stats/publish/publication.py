"""Stage checked submissions, promote accepted ones, publish the curated tables.

What it is for: the steps between a file in the raw folder and the analysts'
tables (schema.md §8.1, §11; stack.md §3.2 "stage, then promote"):

0. ``scan_raw`` lists the raw folder (and its ``<ISO3>/`` sub-folders) and
   names each file by its identity, ``<name>@<sha8>`` (``submission_key``):
   the same bytes under two names are one submission, and a file changed
   under the same name is a new one.
1. ``stage_raw_file`` checks one file (given by name or key; a key's SHA-256
   is verified) and keeps everything the check found, accepted or not, in
   ``curated/staging/<stem>.<sha8>/``, with the contract's report JSON in
   ``curated/reports/<source_file>.<sha8>.json``.
2. ``promote_submission`` marks an **accepted** staged submission as cleared
   for publication (``promoted.json``); it refuses anything else. In the
   pipeline it runs only when the blocking check passed.
3. ``publish_curated`` publishes the staged submissions: the tables below and
   the serving copy ``sse.duckdb`` in **one** atomic commit
   (``store.publish_tables``), and only the ``ref_area`` partitions touched by
   submissions staged or promoted since the last publication (the first
   publication, or ``full=True``, rebuilds everything).

Tables written here (schema.md §11.2):

- ``harmonised.observations``: rows of promoted accepted submissions; a newer
  one for the same ``ref_area`` and ``edition`` supersedes the older one's rows;
  other editions coexist as vintages.
- ``harmonised.observations_current`` and ``harmonised.revisions``
  (``publish.editions``): Parquet tables, and views in ``sse.duckdb``.
- ``validation.findings``, ``validation.rule_summary``: every staged
  submission.
- ``meta.submissions``: one row per file received, with the digests of the
  rule files and of the mapping used, and the status: accepted, rejected
  (with ``reason``), unusable, superseded. Identical bytes received under
  several names count once: the promoted (else earliest received) copy is the
  submission, listing the other names in ``also_received_as``; each other copy
  names it in ``duplicate_of``, publishes nothing (an accepted copy shows as
  superseded) and adds no findings.
- ``meta.lineage``: one row per table (or ``ref_area`` partition) built, with
  the SHA-256 of its input submissions, the library version and the rule and
  mapping digests; rows accumulate across publications.
- ``meta.views``: the view definitions the serving copy creates.

What it is not for: reading, harmonising or validating (``sse_stats.check``),
the atomic Parquet and DuckDB mechanics (``publish.store``), Dagster
(``pipelines/``).

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
are refused, and folder and report names keep ``[A-Za-z0-9._-]`` only (other
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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from sse_stats import __version__
from sse_stats.check import (
    add_history,
    check_submission,
    country_from_name,
    is_template,
)
from sse_stats.errors import Finding, StoreError, UsageError
from sse_stats.publish.editions import current_and_revisions, view_definitions
from sse_stats.publish.store import (
    PARQUET_DIR,
    TableChange,
    exclusive_lock,
    publish_tables,
    read_small_tables,
)
from sse_stats.schema.load import safe_yaml
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

OBSERVATIONS = ("harmonised", "observations")
CURRENT = ("harmonised", "observations_current")
REVISIONS = ("harmonised", "revisions")
FINDINGS = ("validation", "findings")
RULE_SUMMARY = ("validation", "rule_summary")
SUBMISSIONS = ("meta", "submissions")
LINEAGE = ("meta", "lineage")
VIEWS = ("meta", "views")
PARTITIONED = (OBSERVATIONS, CURRENT, REVISIONS)
"""Tables partitioned by ``ref_area`` (rebuilt partition by partition)."""

KEY_SEPARATOR = "@"
_KEY = re.compile(r"(?P<name>.+\.csv)@(?P<sha8>[0-9a-f]{8})", re.DOTALL)
_COUNTRY_FOLDER = re.compile(r"[A-Z]{3}")
# Characters a shell, a glob or a quoting layer would interpret. Spaces,
# parentheses and accents are common in NSO file names and stay allowed.
_SHELL_CHARS = frozenset("`$;|&<>*?!\"'{}[]")
_OBSERVATIONS = "observations.parquet"
_FINDINGS = "findings.parquet"
_RULE_SUMMARY = "rule_summary.parquet"
_RECORD = "submission.json"
_PROMOTED = "promoted.json"
_LOCK = ".lock"
_LOCK_TIMEOUT_SECONDS = 600.0
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
_SUBMISSION_COLUMNS = [
    "source_file",
    "source_path",
    "source_sha256",
    "size",
    "received_at",
    "received_date",
    "checked_at",
    "promoted_at",
    "trigger",
    "layout",
    "structure_id",
    "action",
    "mapping_file",
    "mapping_sha256",
    "rules_sha256",
    "country",
    "ref_areas",
    "editions",
    "rows",
    "observations",
    "errors",
    "warnings",
    "infos",
    "status",
    "reason",
    "superseded_by",
    "also_received_as",
    "duplicate_of",
    "message",
    "report_file",
    "staged_as",
    "sse_stats_version",
]
_SUBMISSION_TIMES = ("received_at", "checked_at", "promoted_at")
_SUBMISSION_INTS = ("size", "rows", "observations", "errors", "warnings", "infos")
_LINEAGE_LISTS = ("input_sha256", "rules_sha256", "mapping_sha256")


class UnsafeFileError(UsageError):
    """A raw file name or link that the pipeline refuses to read."""

    title = "file refused"


class SubmissionChangedError(UnsafeFileError):
    """A submission key names bytes the raw file no longer holds."""

    title = "file changed"


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Listing:
    """Submission files found in a raw folder.

    Attributes:
        names: Names safe to read, sorted; a file in a country sub-folder is
            named ``<ISO3>/<file>.csv``.
        refused: ``(name, reason)`` for files that will not be read.
    """

    names: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RawFile:
    """One readable raw file and its identity.

    Attributes:
        name: Name relative to the raw folder (``PRT_2021.csv``,
            ``PRT/2021.csv``).
        size: Bytes.
        mtime_ns: Modification time (ns), to skip re-hashing unchanged files.
        sha256: SHA-256 of the content.
    """

    name: str
    size: int
    mtime_ns: int
    sha256: str

    @property
    def key(self) -> str:
        """The submission key ``<name>@<sha8>`` (the Dagster partition key)."""
        return submission_key(self.name, self.sha256)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan:
    """The raw folder, file by file (``scan_raw``).

    Attributes:
        files: Distinct submissions, sorted by name.
        duplicates: ``(file, first)``: ``file`` holds the same bytes as
            ``first`` (the oldest copy) and is not a submission of its own.
        refused: ``(name, reason)`` for files that will not be read.
    """

    files: tuple[RawFile, ...]
    duplicates: tuple[tuple[RawFile, RawFile], ...]
    refused: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicationSummary:
    """What ``publish_curated`` published.

    ``areas`` are the ``ref_area`` partitions rebuilt by this publication
    (every one when ``full``); ``changed`` the submissions new or changed since
    the previous publication.
    """

    submissions_by_status: Mapping[str, int]
    observations_by_country: Mapping[str, int]
    tables: Mapping[str, int]
    serving_file: Path
    areas: tuple[str, ...] = ()
    changed: int = 0
    full: bool = False

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
    characters (including bidirectional overrides), shell characters
    (`` ` $ ; | & < > * ? ! " ' { } [ ] ``) and a leading ``-`` or ``~``.

    Examples:
        >>> name_problem("PRT_2021.csv") is None
        True
        >>> name_problem("../x.csv")
        "it contains a path separator or '..'"
        >>> name_problem("a;rm x.csv")
        "it contains shell characters ';'"
    """
    if not name or name in (".", ".."):
        return "it is empty"
    if "/" in name or "\\" in name or ".." in name or (os.altsep and os.altsep in name):
        return "it contains a path separator or '..'"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        return "it contains a control character"
    shell = sorted({c for c in name if c in _SHELL_CHARS})
    if shell:
        return f"it contains shell characters {''.join(shell)!r}"
    if name[0] in "-~":
        return f"it starts with {name[0]!r}, which commands read as an option or home"
    return None


def submission_key(name: str, sha256: str) -> str:
    """The identity of a submission: ``<name>@<first 8 hex of its SHA-256>``.

    Used as the Dagster partition key and run key: a file changed under the
    same name gets a new key.

    Examples:
        >>> submission_key("PRT_2019-2020.csv", "0123456789abcdef" * 4)
        'PRT_2019-2020.csv@01234567'
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise UsageError(f"{sha256!r} is not a SHA-256 in hex")
    return f"{name}{KEY_SEPARATOR}{sha256[:8]}"


def parse_submission_key(key: str) -> tuple[str, str | None]:
    """``(name, sha8)`` from a submission key; a bare file name gives no sha8.

    Examples:
        >>> parse_submission_key("PRT/2021.csv@0123abcd")
        ('PRT/2021.csv', '0123abcd')
        >>> parse_submission_key("PRT_2021.csv")
        ('PRT_2021.csv', None)
    """
    match = _KEY.fullmatch(key)
    if match is None:
        return key, None
    return match.group("name"), match.group("sha8")


def submission_path(raw: Path, name: str) -> Path:
    """``raw / name`` after checking the name and where the file really is.

    ``name`` is a file name, or ``<ISO3>/<file name>`` for a file in a
    country sub-folder.

    Raises:
        UnsafeFileError: the name is refused (``name_problem``), the folder is
            not an ISO3 code or is a symbolic link, the file is a symbolic link
            that leaves ``raw``, or it is not a regular file.
    """
    folder, _, base = name.rpartition("/")
    problem = name_problem(base)
    if problem is None and folder:
        if not _COUNTRY_FOLDER.fullmatch(folder):
            problem = "only one level of sub-folder, named by an ISO3 code, is read"
        elif (raw / folder).is_symlink():
            problem = f"its folder {folder} is a symbolic link"
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
    """Every ``*.csv`` in ``raw`` and its ``<ISO3>/`` folders, safe or refused.

    Hidden files and folders are skipped, and so are directories and other
    non-files named ``*.csv``; symbolic links are followed only when they stay
    inside ``raw`` (a linked country folder is refused).

    Raises:
        UsageError: ``raw`` is not a directory.
    """
    if not raw.is_dir():
        raise UsageError(f"the raw folder {raw} does not exist or is not a directory")
    names: list[str] = []
    refused: list[tuple[str, str]] = []
    for entry in _raw_entries(raw):
        name = entry.relative_to(raw).as_posix()
        try:
            submission_path(raw, name)
        except UnsafeFileError as exc:
            refused.append((name, exc.description))
        else:
            names.append(name)
    return Listing(names=tuple(names), refused=tuple(refused))


def _raw_entries(raw: Path) -> list[Path]:
    """Candidate files: ``*.csv`` in ``raw`` and in its ``<ISO3>`` folders."""
    found: list[Path] = []
    for entry in sorted(raw.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and _COUNTRY_FOLDER.fullmatch(entry.name):
            if entry.is_symlink():
                found.append(entry / "(linked folder).csv")
                continue
            found += [
                p
                for p in sorted(entry.iterdir(), key=lambda p: p.name)
                if _is_candidate(p)
            ]
        elif _is_candidate(entry):
            found.append(entry)
    return sorted(found, key=lambda p: p.relative_to(raw).as_posix())


def _is_candidate(entry: Path) -> bool:
    return (
        not entry.name.startswith(".")
        and entry.name.endswith(".csv")
        and (entry.is_symlink() or entry.is_file())
    )


def scan_raw(raw: Path, known: Mapping[str, RawFile] | None = None) -> Scan:
    """List the raw folder with each file's identity (``submission_key``).

    Files with the same bytes as another are duplicates, not submissions: the
    oldest (by modification time, then name) is the submission. A file listed
    in ``known`` with the same size and modification time is not hashed again.

    Raises:
        UsageError: ``raw`` is not a directory.
    """
    listing = list_submissions(raw)
    items: list[RawFile] = []
    refused = list(listing.refused)
    for name in listing.names:
        path = raw / name
        try:
            stat = path.stat()
        except OSError as exc:
            refused.append((name, f"cannot be read: {exc.strerror}"))
            continue
        previous = (known or {}).get(name)
        if (
            previous is not None
            and previous.size == stat.st_size
            and previous.mtime_ns == stat.st_mtime_ns
        ):
            sha256: str | None = previous.sha256
        else:
            sha256, _size = _hash_file(path)
        if sha256 is None:
            refused.append((name, "cannot be read"))
            continue
        items.append(
            RawFile(
                name=name, size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=sha256
            )
        )
    first: dict[str, RawFile] = {}
    for item in sorted(items, key=lambda f: (f.mtime_ns, f.name)):
        first.setdefault(item.sha256, item)
    return Scan(
        files=tuple(f for f in items if first[f.sha256] is f),
        duplicates=tuple(
            (f, first[f.sha256]) for f in items if first[f.sha256] is not f
        ),
        refused=tuple(refused),
    )


def check_raw_file(raw: Path, name: str, *, schemas_dir: Path) -> ValidationReport:
    """``check_submission`` on a raw file, choosing the layout from its name.

    The canonical template (first header ``STRUCTURE``) needs no country; any
    other file is read with ``schemas/mappings/<ISO3>.yaml`` for the ISO3 code
    its name starts with (``PRT_2019-2020.csv``), else for the country folder
    it is in (``PRT/2019-2020.csv``).

    Raises:
        UnsafeFileError: see ``submission_path``.
        UsageError: no layout can be chosen for the file.
    """
    path = submission_path(raw, name)
    if is_template(path):
        return check_submission(path, schemas_dir=schemas_dir)
    folder, _, base = name.rpartition("/")
    country = country_from_name(base) or (folder or None)
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


# --------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class _Previous:
    """The tables of the last publication that an incremental one builds on."""

    submissions: pd.DataFrame
    findings: pd.DataFrame
    rule_summary: pd.DataFrame
    lineage: pd.DataFrame

    def signatures(self) -> dict[str, tuple[str, str, str]]:
        frame = self.submissions
        return {
            str(staged): (
                _iso(checked),
                _iso(promoted),
                f"{_blank(also)}|{_blank(dup)}",
            )
            for staged, checked, promoted, also, dup in zip(
                frame["staged_as"],
                frame["checked_at"],
                frame["promoted_at"],
                frame["also_received_as"],
                frame["duplicate_of"],
                strict=True,
            )
        }

    def shas_of(self, staged_as: set[str]) -> set[str | None]:
        frame = self.submissions
        rows = frame[frame["staged_as"].isin(sorted(staged_as))]
        return {_blank(v) or None for v in rows["source_sha256"]}

    def areas_of(self, staged_as: set[str]) -> set[str]:
        frame = self.submissions
        rows = frame[frame["staged_as"].isin(sorted(staged_as))]
        return {a for text in rows["ref_areas"] for a in _blank(text).split(",") if a}


def publish_curated(
    curated: Path, *, schemas_dir: Path | None = None, full: bool = False
) -> PublicationSummary:
    """Publish the staged submissions: tables and ``sse.duckdb`` in one commit.

    Only what changed since the last publication is rebuilt: submissions
    staged, promoted or removed since then, and the ``ref_area`` partitions
    they touch (with every other submission of those areas).
    ``harmonised.observations`` holds the rows of promoted, accepted
    submissions. Submissions are taken newest first (``received_at``, then file
    name): a submission's rows for a ``(ref_area, edition)`` already supplied by
    a newer one are dropped, and a submission left with no row is marked
    ``superseded`` in ``meta.submissions``; other editions coexist as vintages.
    Identical bytes staged under several names count once (the promoted, then
    earliest received, copy). One publication runs at a time (a lock under
    ``staging/``).

    Args:
        curated: The curated directory.
        schemas_dir: ``schemas/``, used only for the columns of an empty
            observations table when no submission has a harmonised frame.
        full: Rebuild every table from every staged submission (also done
            when the previous tables are missing or from an older layout).

    Returns:
        Submissions by status, observations by country, rows per table, and
        what was rebuilt.

    Raises:
        StoreError: a staged file is unreadable or a table cannot be written.
        StoreLockedError: another publication held the lock for too long.
    """
    with _publication_lock(curated):
        return _publish(curated, schemas_dir=schemas_dir, full=full)


def _publish(
    curated: Path, *, schemas_dir: Path | None, full: bool
) -> PublicationSummary:
    entries = _mark_duplicates(_staged_entries(curated))
    previous = None if full else _load_previous(curated)
    full = previous is None
    lineage_before = _read_lineage(curated) if previous is None else previous.lineage
    if previous is None:
        changed = list(entries)
        removed: set[str] = set()
        areas = {a for e in entries for a in e.areas}
    else:
        before = previous.signatures()
        changed = [e for e in entries if before.get(e.folder.name) != e.signature()]
        removed = set(before) - {e.folder.name for e in entries}
        # Copies of the same bytes share their findings: they change together.
        shas = {e.sha256 for e in changed} | previous.shas_of(removed)
        first = {id(e) for e in changed}
        changed = [e for e in entries if id(e) in first or e.sha256 in shas - {None}]
        areas = {a for e in changed for a in e.areas}
        areas |= previous.areas_of(removed | {e.folder.name for e in changed})
        if not changed and not removed and (curated / "sse.duckdb").is_file():
            return _summary(
                curated,
                previous.submissions,
                lineage_before,
                {
                    FINDINGS: len(previous.findings),
                    RULE_SUMMARY: len(previous.rule_summary),
                },
            )
    areas = _closure(entries, areas)
    changed_ids = {id(e) for e in changed}
    touching = [e for e in entries if full or id(e) in changed_ids or e.areas & areas]
    observations = _concat(
        _published_frames(touching), _empty_observations(entries, schemas_dir)
    )
    current, revisions = current_and_revisions(observations, _received_frame(touching))
    submissions = _submissions_frame(touching)
    findings = _concat(
        [
            _read_parquet(e.folder / _FINDINGS)
            for e in changed
            if _has(e, _FINDINGS) and e.duplicate_of is None
        ],
        _empty_findings(),
    )
    summary = _concat(
        [
            _read_parquet(e.folder / _RULE_SUMMARY)
            for e in changed
            if _has(e, _RULE_SUMMARY) and e.duplicate_of is None
        ],
        _empty_summary(),
    )
    if previous is not None:
        keep = ~previous.submissions["staged_as"].isin(
            sorted(removed | {e.folder.name for e in touching})
        )
        submissions = _concat([previous.submissions[keep], submissions], submissions)
        gone = [e.record for e in changed] + [
            r
            for r in previous.submissions.to_dict("records")
            if r["staged_as"] in removed
        ]
        findings = _concat([_without(previous.findings, gone), findings], findings)
        summary = _concat([_without(previous.rule_summary, gone), summary], summary)
    else:
        # A full rebuild also records the partitions it dropped (0 rows).
        areas |= _lineage_areas(lineage_before)
    submissions = _sorted_submissions(submissions)
    built = {
        OBSERVATIONS: observations,
        CURRENT: current,
        REVISIONS: revisions,
        FINDINGS: findings,
        RULE_SUMMARY: summary,
        SUBMISSIONS: submissions,
    }
    lineage = pd.concat(
        [lineage_before, _lineage(built, entries, sorted(areas), full=full)],
        ignore_index=True,
    )
    partitions = None if full else frozenset(areas)
    changes = [
        TableChange(
            schema=key[0],
            table=key[1],
            frame=built[key],
            partition_by="ref_area",
            partitions=partitions,
        )
        for key in PARTITIONED
    ]
    for key, frame in (
        (FINDINGS, findings),
        (RULE_SUMMARY, summary),
        (SUBMISSIONS, submissions),
        (LINEAGE, lineage),
        (VIEWS, view_definitions()),
    ):
        changes.append(
            TableChange(schema=key[0], table=key[1], frame=frame, partition_by=None)
        )
    publish_tables(curated, changes)
    result = _summary(
        curated,
        submissions,
        lineage,
        {FINDINGS: len(findings), RULE_SUMMARY: len(summary)},
    )
    return PublicationSummary(
        submissions_by_status=result.submissions_by_status,
        observations_by_country=result.observations_by_country,
        tables=result.tables,
        serving_file=result.serving_file,
        areas=tuple(sorted(areas)),
        changed=len(changed) + len(removed),
        full=full,
    )


def _summary(
    curated: Path,
    submissions: pd.DataFrame,
    lineage: pd.DataFrame,
    sizes: Mapping[tuple[str, str], int],
) -> PublicationSummary:
    """Counts of the published tables; partitions from the latest lineage rows."""
    by_country = _latest_counts(lineage, OBSERVATIONS)
    tables = {
        ".".join(OBSERVATIONS): sum(by_country.values()),
        ".".join(CURRENT): sum(_latest_counts(lineage, CURRENT).values()),
        ".".join(REVISIONS): sum(_latest_counts(lineage, REVISIONS).values()),
        ".".join(SUBMISSIONS): len(submissions),
        **{".".join(key): int(n) for key, n in sizes.items()},
    }
    statuses = (
        Counter(str(s) for s in submissions["status"]) if len(submissions) else {}
    )
    return PublicationSummary(
        submissions_by_status=dict(sorted(statuses.items())),
        observations_by_country=by_country,
        tables=tables,
        serving_file=curated.resolve() / "sse.duckdb",
    )


def _latest_counts(lineage: pd.DataFrame, key: tuple[str, str]) -> dict[str, int]:
    """Rows per ``ref_area`` partition of a table: its latest lineage rows.

    Every build of a partition (a dropped one included, with 0 rows) adds a
    lineage row in the same commit as the data, so the latest row per
    partition is the partition's size.
    """
    if lineage.empty:
        return {}
    rows = lineage[
        (lineage["table_schema"] == key[0]) & (lineage["table_name"] == key[1])
    ]
    latest = rows.drop_duplicates("partition", keep="last")
    counts: dict[str, int] = {}
    for partition, n in zip(latest["partition"], latest["row_count"], strict=True):
        text = _blank(partition)
        if text.startswith("ref_area=") and _blank(n) and int(n):
            counts[text.split("=", 1)[1]] = int(n)
    return dict(sorted(counts.items()))


def _lineage_areas(lineage: pd.DataFrame) -> set[str]:
    """Every ``ref_area`` partition the lineage has seen."""
    if lineage.empty:
        return set()
    return {
        _blank(p).split("=", 1)[1]
        for p in lineage["partition"]
        if _blank(p).startswith("ref_area=")
    }


def _read_lineage(curated: Path) -> pd.DataFrame:
    """``meta.lineage`` as written (list columns as lists), or an empty frame."""
    if not (curated / PARQUET_DIR / LINEAGE[0] / LINEAGE[1]).is_dir():
        return pd.DataFrame()
    return _lineage_lists(read_small_tables(curated, [LINEAGE])[LINEAGE])


def _lineage_lists(lineage: pd.DataFrame) -> pd.DataFrame:
    """List columns as Python lists and ``row_count`` as Int64."""
    lineage = lineage.copy()
    for name in _LINEAGE_LISTS:
        if name in lineage.columns:
            lineage[name] = pd.Series(
                [_as_list(v) for v in lineage[name]],
                index=lineage.index,
                dtype="object",
            )
    if "row_count" in lineage.columns:
        lineage = _conform(
            lineage, pd.DataFrame({"row_count": pd.Series(dtype="Int64")})
        )
    return lineage


def _load_previous(curated: Path) -> _Previous | None:
    """The last publication's tables, or None when a full rebuild is needed."""
    for key in (*PARTITIONED, FINDINGS, RULE_SUMMARY, SUBMISSIONS, LINEAGE):
        if not (curated / PARQUET_DIR / key[0] / key[1]).is_dir():
            return None
    tables = read_small_tables(curated, [SUBMISSIONS, FINDINGS, RULE_SUMMARY, LINEAGE])
    submissions = tables[SUBMISSIONS]
    if not set(_SUBMISSION_COLUMNS) <= set(submissions.columns):
        return None  # an older layout: rebuild once
    return _Previous(
        submissions=_typed_submissions(submissions[_SUBMISSION_COLUMNS]),
        findings=_conform(tables[FINDINGS], _empty_findings()),
        rule_summary=_conform(tables[RULE_SUMMARY], _empty_summary()),
        lineage=_lineage_lists(tables[LINEAGE]),
    )


def _closure(entries: list[_Entry], areas: set[str]) -> set[str]:
    """``areas`` plus every area of a submission that touches one of them."""
    result = set(areas)
    while True:
        grown = result | {a for e in entries if e.areas & result for a in e.areas}
        if grown == result:
            return result
        result = grown


def _without(frame: pd.DataFrame, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of ``frame`` not from the given submissions (by SHA-256, else name)."""
    if frame.empty or "source_sha256" not in frame.columns:
        return frame
    shas = {str(r["source_sha256"]) for r in records if _blank(r["source_sha256"])}
    names = {str(r["source_file"]) for r in records if not _blank(r["source_sha256"])}
    sha = frame["source_sha256"]
    drop = sha.isin(sorted(shas)) | (
        sha.isna() & frame["source_file"].isin(sorted(names))
    )
    return frame.loc[~drop]


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


def _mark_duplicates(entries: list[_Entry]) -> list[_Entry]:
    """Mark copies of the same bytes: one copy (promoted, then earliest
    received) is the submission; the others get ``duplicate_of``."""
    groups: dict[str, list[_Entry]] = {}
    for entry in entries:
        if entry.sha256 is not None:
            groups.setdefault(entry.sha256, []).append(entry)
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(
            key=lambda e: (
                e.promoted_at is None,
                str(e.record.get("received_at")),
                e.folder.name,
            )
        )
        first, others = group[0], group[1:]
        first.also_received_as = sorted({_source_path(e) for e in others})
        for other in others:
            other.duplicate_of = _source_path(first)
    return entries


def _source_path(entry: _Entry) -> str:
    record = entry.record
    return str(record.get("source_path") or record.get("source_file"))


def _published_frames(entries: list[_Entry]) -> list[pd.DataFrame]:
    """Rows of promoted accepted submissions, newest first, superseded rows dropped."""
    candidates = [
        e
        for e in entries
        if e.record.get("status") == ACCEPTED
        and e.promoted_at is not None
        and e.duplicate_of is None
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


def _received_frame(entries: list[_Entry]) -> pd.DataFrame:
    """``source_sha256``, ``received_at``, ``received_date`` of the entries."""
    received = pd.to_datetime(
        pd.Series([e.record.get("received_at") for e in entries], dtype="object"),
        utc=True,
        format="ISO8601",
    )
    return pd.DataFrame(
        {
            "source_sha256": pd.Series([e.sha256 for e in entries], dtype="str"),
            "received_at": received,
            "received_date": received.dt.strftime("%Y-%m-%d").astype("str"),
        }
    )


def _submissions_frame(entries: list[_Entry]) -> pd.DataFrame:
    """``meta.submissions`` rows for the given submissions."""
    rows = []
    for e in entries:
        r = e.record
        reason = r.get("reason")
        status = r.get("status")
        superseded_by = ",".join(e.superseded_by) or None
        if status == SUPERSEDED:
            reason = "every row superseded by " + ", ".join(e.superseded_by)
        if e.duplicate_of is not None:
            reason = f"same bytes as {e.duplicate_of}, counted once; {reason or status}"
            if status == ACCEPTED:
                status, superseded_by = SUPERSEDED, e.duplicate_of
        rows.append(
            {
                "source_file": r.get("source_file"),
                "source_path": r.get("source_path") or r.get("source_file"),
                "source_sha256": r.get("source_sha256"),
                "size": r.get("size"),
                "received_at": r.get("received_at"),
                "received_date": None,
                "checked_at": r.get("checked_at"),
                "promoted_at": e.promoted_at,
                "trigger": r.get("trigger"),
                "layout": r.get("layout"),
                "structure_id": r.get("structure_id"),
                "action": r.get("action"),
                "mapping_file": r.get("mapping_file"),
                "mapping_sha256": r.get("mapping_sha256"),
                "rules_sha256": r.get("rules_sha256"),
                "country": r.get("country"),
                "ref_areas": ",".join(r.get("ref_areas") or []),
                "editions": ",".join(r.get("editions") or []),
                "rows": r.get("rows", 0),
                "observations": e.observations,
                "errors": r.get("errors", 0),
                "warnings": r.get("warnings", 0),
                "infos": r.get("infos", 0),
                "status": status,
                "reason": reason,
                "superseded_by": superseded_by,
                "also_received_as": ",".join(e.also_received_as) or None,
                "duplicate_of": e.duplicate_of,
                "message": r.get("message"),
                "report_file": r.get("report_file"),
                "staged_as": e.folder.name,
                "sse_stats_version": r.get("sse_stats_version"),
            }
        )
    frame = pd.DataFrame.from_records(rows, columns=_SUBMISSION_COLUMNS)
    return _typed_submissions(frame)


def _typed_submissions(frame: pd.DataFrame) -> pd.DataFrame:
    """The contract's types for ``meta.submissions``; ``received_date`` filled."""
    frame = frame.copy()
    for name in _SUBMISSION_TIMES:
        frame[name] = pd.to_datetime(
            frame[name].astype("object"), utc=True, format="ISO8601"
        )
    frame["received_date"] = frame["received_at"].dt.strftime("%Y-%m-%d")
    return frame.astype(
        dict.fromkeys(_SUBMISSION_INTS, "Int64")
        | {
            n: "str"
            for n in _SUBMISSION_COLUMNS
            if n not in _SUBMISSION_TIMES and n not in _SUBMISSION_INTS
        }
    )


def _sorted_submissions(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["received_at", "staged_as"], kind="stable").reset_index(
        drop=True
    )


def _lineage(
    built: Mapping[tuple[str, str], pd.DataFrame],
    entries: list[_Entry],
    areas: list[str],
    *,
    full: bool,
) -> pd.DataFrame:
    """``meta.lineage`` rows for this publication: one per table or partition."""
    built_at = pd.Timestamp(_now())
    publication = uuid.uuid4().hex
    digests = {
        e.sha256: (e.record.get("rules_sha256"), e.record.get("mapping_sha256"))
        for e in entries
        if e.sha256 is not None
    }
    rows: list[dict[str, Any]] = []

    def add(key: tuple[str, str], partition: str | None, frame: pd.DataFrame) -> None:
        shas: set[str] = set()
        for column in ("source_sha256", "old_source_sha256", "new_source_sha256"):
            if column in frame.columns:
                shas |= {str(v) for v in frame[column].dropna().unique()}
        if key not in PARTITIONED:  # whole tables of every submission
            shas |= set(digests)
        rows.append(
            {
                "table_schema": key[0],
                "table_name": key[1],
                "partition": partition,
                "built_at": built_at,
                "row_count": len(frame),
                "input_sha256": sorted(shas),
                "sse_stats_version": __version__,
                "rules_sha256": sorted(
                    {str(digests[s][0]) for s in shas if s in digests and digests[s][0]}
                ),
                "mapping_sha256": sorted(
                    {str(digests[s][1]) for s in shas if s in digests and digests[s][1]}
                ),
                "publication_id": publication,
                "full_rebuild": full,
            }
        )

    for key, frame in built.items():
        if key not in PARTITIONED:
            add(key, None, frame)
            continue
        present = set(_text(frame, "ref_area"))
        for area in sorted(present | set(areas)):
            add(key, f"ref_area={area}", frame[frame["ref_area"] == area])
    lineage = pd.DataFrame.from_records(rows)
    return lineage.astype(
        {
            "table_schema": "str",
            "table_name": "str",
            "partition": "str",
            "row_count": "Int64",
            "sse_stats_version": "str",
            "publication_id": "str",
            "full_rebuild": "bool",
        }
    )


@contextmanager
def _publication_lock(curated: Path) -> Iterator[None]:
    """One publication at a time on a curated folder (``staging/.lock``)."""
    with exclusive_lock(
        _inside(curated, STAGING_DIR) / _LOCK,
        timeout=_LOCK_TIMEOUT_SECONDS,
        holder="another publication",
    ):
        yield


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
    from sse_stats.harmonise.frame import curated_columns
    from sse_stats.schema.load import cached_schema

    schemas = schemas_dir or Paths.default().schemas
    columns = (
        curated_columns(cached_schema(schemas.resolve()))
        if schemas.is_dir()
        else _MINIMAL_OBSERVATIONS
    )
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
        reason=record.get("reason"),
        promoted_at=promoted_at,
        report=report,
    )


def _has(entry: _Entry, name: str) -> bool:
    return (entry.folder / name).is_file()


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


def _as_list(value: object) -> list[str]:
    """A LIST value read back from Parquet (array, list or NULL) as a list."""
    if value is None or isinstance(value, float):
        return []
    return [str(v) for v in value]  # type: ignore[attr-defined]


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
