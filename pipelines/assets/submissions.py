"""validation/findings (check and stage) → harmonised/observations (promote).

Stage, then promote (stack.md §3.2): a blocking check on validation/findings
keeps a submission with any error finding from being promoted; its findings are
still staged and published. One partition per submission (``<name>@<sha8>``,
``pipelines.partitions``), so a bad file fails only its own partition. The
partition key is mapped back to the raw file and its SHA-256 verified: a file
refused at the door (unsafe name, link out of the raw folder) or changed since
its key was registered fails its checks and stages nothing.

No ``from __future__ import annotations`` here: Dagster reads the ``context``
annotation at definition time and rejects it as a string.
"""

from collections.abc import Iterator

import dagster as dg

from pipelines.checks import rule_catalogue, rule_file_results, rule_file_specs
from pipelines.partitions import submissions
from pipelines.resources import PathsResource
from sse_stats.publish.raw_files import SubmissionChangedError, UnsafeFileError
from sse_stats.publish.staging import (
    StagedSubmission,
    promote_submission,
    stage_raw_file,
)

NO_ERRORS = "no_error_findings"
"""Check name: one constant for the spec and the result."""

TRIGGER_TAG = "sse_stats/trigger"
"""Run tag naming what started the run (batch for ``python -m pipelines``)."""

FINDINGS_KEY = dg.AssetKey(["validation", "findings"])


def trigger_of(context: dg.AssetExecutionContext) -> str:
    """batch (tagged by python -m pipelines), sensor, or manual (UI, CLI)."""
    tags = context.run.tags
    if TRIGGER_TAG in tags:
        return tags[TRIGGER_TAG]
    return "sensor" if "dagster/sensor_name" in tags else "manual"


def _check_result(staged: StagedSubmission) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=NO_ERRORS,
        passed=bool(staged.accepted),
        severity=dg.AssetCheckSeverity.WARN
        if staged.accepted
        else dg.AssetCheckSeverity.ERROR,
        description=staged.message or f"{staged.status}: {staged.errors} errors",
        metadata={
            "errors": int(staged.errors),
            "warnings": int(staged.warnings),
            "findings": dg.MetadataValue.md(staged.findings_markdown(20)),
        },
    )


@dg.asset(
    key=FINDINGS_KEY,
    partitions_def=submissions,
    group_name="submissions",
    kinds={"python", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            NO_ERRORS,
            asset=FINDINGS_KEY,
            blocking=True,
            description="Any error finding rejects the submission (schema.md §8.1)",
        ),
        *rule_file_specs(rule_catalogue()),
    ],
)
def validation_findings(
    context: dg.AssetExecutionContext, paths: PathsResource
) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
    """Check one submission (levels 0-2), stage its findings and observations."""
    try:
        staged = stage_raw_file(
            paths.value, context.partition_key, trigger=trigger_of(context)
        )
    except UnsafeFileError as exc:
        status = "changed" if isinstance(exc, SubmissionChangedError) else "refused"
        yield dg.MaterializeResult(
            metadata={"status": status, "message": exc.description}
        )
        yield dg.AssetCheckResult(
            check_name=NO_ERRORS, passed=False, description=exc.description
        )
        for spec in rule_file_specs(rule_catalogue(paths.value.schemas)):
            yield dg.AssetCheckResult(
                check_name=spec.name, passed=False, description=exc.description
            )
        return
    yield dg.MaterializeResult(
        metadata={
            **staged.metadata(),
            "dagster/row_count": int(staged.rows),
            "findings": dg.MetadataValue.md(staged.findings_markdown(20)),
        }
    )
    yield _check_result(staged)
    yield from rule_file_results(staged, rule_catalogue(paths.value.schemas))


@dg.asset(
    key=["harmonised", "observations"],
    deps=[validation_findings],
    partitions_def=submissions,
    group_name="submissions",
    kinds={"python"},
)
def harmonised_observations(
    context: dg.AssetExecutionContext, paths: PathsResource
) -> dg.MaterializeResult[None]:
    """Promote an accepted staged submission; publication picks up its rows."""
    staged = promote_submission(paths.value, context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(staged.rows),
            "source_sha256": staged.source_sha256,
            "ref_areas": ",".join(staged.ref_areas),
            "editions": ",".join(staged.editions),
            "promoted_at": staged.promoted_at,
        }
    )


ingest_submission_job = dg.define_asset_job(
    "ingest_submission",
    selection=dg.AssetSelection.assets(validation_findings, harmonised_observations),
    partitions_def=submissions,
    description="Check, stage and promote one submission (one partition per file).",
)
