"""The tables ``publish_curated`` writes, and its ``meta`` frames (private).

What it is for: the keys of the curated tables (schema.md §11.2), and the rows
of ``meta.submissions`` (one per file received) and ``meta.lineage`` (one per
table or ``ref_area`` partition built) for ``publish.publication``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sse_stats import __version__
from sse_stats.publish._files import _blank, _conform, _Entry, _now, _text
from sse_stats.publish._paths import PARQUET_DIR
from sse_stats.publish.staging import ACCEPTED, SUPERSEDED
from sse_stats.publish.store import read_small_tables

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


def _as_list(value: object) -> list[str]:
    """A LIST value read back from Parquet (array, list or NULL) as a list."""
    if value is None or isinstance(value, float):
        return []
    return [str(v) for v in value]  # type: ignore[attr-defined]
