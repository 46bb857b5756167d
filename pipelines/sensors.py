"""Sensors: the raw folder as a drop folder, and publication after intake.

``raw_submissions`` watches ``data/raw/`` (and its ``<ISO3>/`` sub-folders).
Each new or changed file becomes a dynamic partition keyed by its identity
(``<name>@<sha8>``, ``pipelines.partitions``) with one run request of the
``ingest_submission`` job (run key = partition key, so a file is never run
twice for the same bytes). Bytes already submitted under any name are logged
as a duplicate and not submitted again. Files refused at the door (unsafe
name, link out of the raw folder) are logged once. A file modified in the last
``SSE_STATS_SETTLE_SECONDS`` seconds (default 10) is left for the next
evaluation, so a copy still in progress is not taken half-written.

The cursor (JSON: the files seen with their size, time and SHA-256, and the
SHA-256 submitted) lives in the Dagster instance, like the partitions and run
keys: with ``DAGSTER_HOME`` set (``.dagster_home/``), a restart of
``dagster dev`` neither re-ingests nor forgets anything (stack.md pitfall 9).

``publish_after_intake`` requests the ``publish`` job once no intake run is
queued or running and the staging area changed since the last request.

No ``from __future__ import annotations`` here: Dagster reads the resource
annotation at definition time.
"""

import json
import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipelines.assets.publication import publish_job
from pipelines.assets.submissions import TRIGGER_TAG, ingest_submission_job
from pipelines.partitions import SUBMISSIONS, submissions
from pipelines.resources import PathsResource
from sse_stats.publish.raw_files import RawFile, scan_raw
from sse_stats.publish.staging import staging_state

SETTLE_ENV = "SSE_STATS_SETTLE_SECONDS"
DEFAULT_SETTLE_SECONDS = 10.0
_CURSOR_VERSION = 1
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dataclass
class IntakeState:
    """What the intake sensor has seen (its cursor).

    Attributes:
        files: Files seen, by name: size, time and SHA-256 (not hashed again
            while size and time are unchanged).
        submitted: Submission key by SHA-256, for every submission requested.
        reported: Names already logged as refused or duplicate (with why).
    """

    files: dict[str, RawFile] = field(default_factory=dict)
    submitted: dict[str, str] = field(default_factory=dict)
    reported: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, cursor: str | None) -> "IntakeState":
        """Read a cursor; an empty or unreadable one starts afresh."""
        try:
            data = json.loads(cursor or "{}")
        except ValueError:
            return cls()
        if not isinstance(data, dict) or data.get("version") != _CURSOR_VERSION:
            return cls()
        files = {
            name: RawFile(name=name, size=int(v[0]), mtime_ns=int(v[1]), sha256=v[2])
            for name, v in (data.get("files") or {}).items()
        }
        return cls(
            files=files,
            submitted=dict(data.get("submitted") or {}),
            reported=dict(data.get("reported") or {}),
        )

    def dump(self) -> str:
        """The cursor text."""
        return json.dumps(
            {
                "version": _CURSOR_VERSION,
                "files": {
                    f.name: [f.size, f.mtime_ns, f.sha256]
                    for f in sorted(self.files.values(), key=lambda f: f.name)
                },
                "submitted": dict(sorted(self.submitted.items())),
                "reported": dict(sorted(self.reported.items())),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class Intake:
    """One evaluation of the raw folder.

    Attributes:
        keys: Submission keys to run (new or changed bytes), sorted.
        new_partitions: Those not yet registered as partitions.
        messages: ``(level, text)`` to log (refused, duplicate, waiting).
        state: The next cursor.
    """

    keys: tuple[str, ...]
    new_partitions: tuple[str, ...]
    messages: tuple[tuple[str, str], ...]
    state: IntakeState


def evaluate_intake(
    raw: Path,
    cursor: str | None,
    *,
    partitions: Collection[str],
    now: float,
    settle_seconds: float,
) -> Intake:
    """Decide what the intake sensor requests (pure apart from reading ``raw``).

    Args:
        raw: The raw folder.
        cursor: The previous cursor (None the first time).
        partitions: Submission keys already registered in the instance.
        now: The current time (seconds since the epoch).
        settle_seconds: Files modified more recently than this wait.
    """
    state = IntakeState.load(cursor)
    scan = scan_raw(raw, known=state.files)
    keys: list[str] = []
    messages: list[tuple[str, str]] = []
    files: dict[str, RawFile] = {}
    for item in scan.files:
        files[item.name] = item
        if now - item.mtime_ns / 1e9 < settle_seconds:
            messages.append(("info", f"{item.name}: modified just now, next time"))
            continue
        first = state.submitted.get(item.sha256)
        if first is None:
            state.submitted[item.sha256] = item.key
            keys.append(item.key)
        elif first != item.key:
            _report(
                state, messages, item.name, f"same bytes as {first}: not counted twice"
            )
    for item, same in scan.duplicates:
        files[item.name] = item
        first = state.submitted.get(item.sha256, same.key)
        if first == item.key:
            continue  # the copy submitted earlier, listed after a newer copy
        _report(state, messages, item.name, f"same bytes as {first}: not counted twice")
    for name, reason in scan.refused:
        _report(state, messages, name, f"refused: {reason}", level="warning")
    state.files = files
    present = set(files) | {name for name, _ in scan.refused}
    state.reported = {n: t for n, t in state.reported.items() if n in present}
    known = set(partitions)
    return Intake(
        keys=tuple(sorted(keys)),
        new_partitions=tuple(sorted(k for k in keys if k not in known)),
        messages=tuple(messages),
        state=state,
    )


def _report(
    state: IntakeState,
    messages: list[tuple[str, str]],
    name: str,
    text: str,
    *,
    level: str = "info",
) -> None:
    """Log a refusal or a duplicate once per file name and reason."""
    if state.reported.get(name) != text:
        state.reported[name] = text
        messages.append((level, f"{name}: {text}"))


def settle_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """``SSE_STATS_SETTLE_SECONDS`` (default 10; a bad value gives the default)."""
    try:
        return max(0.0, float(environ.get(SETTLE_ENV, DEFAULT_SETTLE_SECONDS)))
    except ValueError:
        return DEFAULT_SETTLE_SECONDS


@dg.sensor(
    name="raw_submissions",
    job=ingest_submission_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One partition and one run per new or changed file in the raw folder.",
)
def raw_submissions(
    context: dg.SensorEvaluationContext, paths: PathsResource
) -> dg.SensorResult:
    """Register new or changed submission files and request a run for each."""
    intake = evaluate_intake(
        paths.value.raw,
        context.cursor,
        partitions=context.instance.get_dynamic_partitions(SUBMISSIONS),
        now=time.time(),
        settle_seconds=settle_seconds(),
    )
    for level, text in intake.messages:
        (context.log.warning if level == "warning" else context.log.info)(text)
    requests = [
        dg.RunRequest(partition_key=key, run_key=key, tags={TRIGGER_TAG: "sensor"})
        for key in intake.keys
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            submissions.build_add_request(list(intake.new_partitions))
        ]
        if intake.new_partitions
        else [],
        cursor=intake.state.dump(),
        skip_reason=None if requests else "no new submission",
    )


@dg.sensor(
    name="publish_after_intake",
    job=publish_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publish once intake runs are done and something new was staged.",
)
def publish_after_intake(
    context: dg.SensorEvaluationContext, paths: PathsResource
) -> dg.SensorResult:
    """Request a publication when the staging area changed and intake is idle."""
    waiting = context.instance.get_runs_count(
        filters=dg.RunsFilter(job_name=ingest_submission_job.name, statuses=_IN_FLIGHT)
    )
    if waiting:
        return dg.SensorResult(skip_reason=f"{waiting} intake runs not finished")
    if not (paths.value.curated / "staging").is_dir():
        return dg.SensorResult(skip_reason="nothing staged yet")
    state = staging_state(paths.value.curated)
    if state == context.cursor:
        return dg.SensorResult(skip_reason="nothing staged since the last publication")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"publish-{state[:16]}")], cursor=state
    )


SENSORS = [raw_submissions, publish_after_intake]
