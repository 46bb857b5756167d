"""Publish the staged submissions: the curated tables and ``sse.duckdb``.

What it is for: the last step between a file in the raw folder and the
analysts' tables (schema.md §8.1, §11; stack.md §3.2 "stage, then promote").
``publish.raw_files`` lists the raw folder and ``publish.staging`` stages and
promotes submissions; then ``publish_curated`` publishes the staged
submissions: the tables below and the serving copy ``sse.duckdb`` in **one**
atomic commit (``store.publish_tables``), and only the ``ref_area`` partitions
touched by submissions staged or promoted since the last publication (the
first publication, or ``full=True``, rebuilds everything). One publication
runs at a time (``curated/staging/.lock``).

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

What it is not for: listing the raw folder (``publish.raw_files``), staging
and promotion (``publish.staging``, which describes the staging layout),
reading, harmonising or validating (``sse_stats.check``), the atomic Parquet
and DuckDB mechanics (``publish.store``), Dagster (``pipelines/``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sse_stats.publish._atomic import exclusive_lock
from sse_stats.publish._files import (
    _FINDINGS,
    _OBSERVATIONS,
    _RULE_SUMMARY,
    STAGING_DIR,
    _blank,
    _conform,
    _empty_summary,
    _Entry,
    _inside,
    _iso,
    _read_parquet,
    _staged_entries,
    _text,
)
from sse_stats.publish._paths import PARQUET_DIR
from sse_stats.publish._tables import (
    _SUBMISSION_COLUMNS,
    CURRENT,
    FINDINGS,
    LINEAGE,
    OBSERVATIONS,
    PARTITIONED,
    REVISIONS,
    RULE_SUMMARY,
    SUBMISSIONS,
    VIEWS,
    _latest_counts,
    _lineage,
    _lineage_areas,
    _lineage_lists,
    _read_lineage,
    _sorted_submissions,
    _submissions_frame,
    _typed_submissions,
)
from sse_stats.publish.editions import current_and_revisions, view_definitions
from sse_stats.publish.staging import ACCEPTED, REJECTED, SUPERSEDED, UNUSABLE
from sse_stats.publish.store import (
    TableChange,
    publish_tables,
    read_small_tables,
)
from sse_stats.settings import Paths
from sse_stats.validate.report import ValidationReport

_LOCK = ".lock"
_LOCK_TIMEOUT_SECONDS = 600.0
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


@contextmanager
def _publication_lock(curated: Path) -> Iterator[None]:
    """One publication at a time on a curated folder (``staging/.lock``)."""
    with exclusive_lock(
        _inside(curated, STAGING_DIR) / _LOCK,
        timeout=_LOCK_TIMEOUT_SECONDS,
        holder="another publication",
    ):
        yield


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


def _has(entry: _Entry, name: str) -> bool:
    return (entry.folder / name).is_file()
