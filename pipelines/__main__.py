"""python -m pipelines [--raw DIR] [--curated DIR] [--recheck] [--debug]: the whole job.

Lists the raw folder (and its ``<ISO3>/`` sub-folders), registers each file as
a ``submissions`` partition keyed by its identity (``<name>@<sha8>``, the keys
the ``raw_submissions`` sensor uses), materialises validation/findings and
harmonised/observations for each partition (the same assets
``dagster dev -m pipelines.definitions`` shows), then meta/publication and the
assets built from it (satellite tables); the unit-level registers under
``registers/<mapping>/`` run as the register sensor asks (one run per file over
its countries and years) before the publication. A file with the same bytes as
another is a duplicate, not a second submission. A submission already staged from the
same bytes, rules, mapping and library version is not checked again
(``--recheck`` checks every file). Prints one line per file and a summary.

Exit codes (schema.md §11.3): 0 every submission accepted and published; 1 some
submission rejected, unusable or refused (the others are still published);
2 system error (one line on stderr; ``--debug`` adds the traceback).

Instance: with ``DAGSTER_HOME`` set, runs and partitions are recorded in that
instance (``.dagster_home/`` in this project, shared with ``dagster dev``);
without it an ephemeral in-memory instance is used and nothing about the runs
is kept. The curated output (``staging/``, ``reports/``, ``parquet/``,
``sse.duckdb``) is written in both cases.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from pipelines.assets import (
    ALL_ASSETS,
    harmonised_observations,
    meta_publication,
    validation_findings,
)
from pipelines.assets.registers import (
    FILE_TAG,
    REGISTER_PARTITIONS,
    register_observations,
    register_run_requests,
)
from pipelines.assets.submissions import FINDINGS_KEY, TRIGGER_TAG
from pipelines.partitions import SUBMISSIONS
from pipelines.resources import PathsResource
from sse_stats.errors import SseStatsError
from sse_stats.publish.raw_files import scan_raw
from sse_stats.publish.staging import staged_unchanged
from sse_stats.register.publish import REGISTERS_DIR, discover
from sse_stats.settings import Paths

EXIT_OK, EXIT_REJECTED, EXIT_SYSTEM = 0, 1, 2
# meta/publication and what is built from it (the satellite tables): every
# unpartitioned asset, as the publish job of dagster dev.
_PUBLICATION_ASSETS = [a for a in ALL_ASSETS if a.partitions_def is None]
_TAGS = {TRIGGER_TAG: "batch"}
# Rejections are reported on stdout; the step-failure logs of blocking checks
# would only repeat them. System errors are reported from the run's events.
_QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one submission file."""

    name: str
    status: str  # accepted, rejected, unusable, refused, duplicate, error (system)
    errors: int = 0
    warnings: int = 0
    message: str | None = None

    def line(self) -> str:
        """One printable line (names are escaped: they are untrusted)."""
        name = self.name.encode("unicode_escape").decode("ascii")
        text = f"{name}: {self.status} ({self.errors} errors, {self.warnings} warnings)"
        return f"{text} - {self.message}" if self.message else text


def _parser() -> argparse.ArgumentParser:
    default = Paths.default()
    parser = argparse.ArgumentParser(
        prog="python -m pipelines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--raw",
        type=Path,
        default=default.raw,
        help=f"folder of submitted CSV files (default {default.raw})",
    )
    parser.add_argument(
        "--curated",
        type=Path,
        default=default.curated,
        help=f"curated output folder (default {default.curated})",
    )
    parser.add_argument(
        "--schemas", type=Path, default=default.schemas, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="check every file again, even one staged unchanged earlier",
    )
    parser.add_argument("--debug", action="store_true", help="print tracebacks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; return the exit code (no traceback unless ``--debug``)."""
    args = _parser().parse_args(argv)
    paths = Paths(
        raw=args.raw.resolve(),
        curated=args.curated.resolve(),
        schemas=args.schemas.resolve(),
    )
    try:
        return run(paths, recheck=args.recheck)
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"python -m pipelines: system error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_SYSTEM


def run(paths: Paths, *, recheck: bool = False) -> int:
    """Materialise every submission partition, then publish; return the exit code."""
    scan = scan_raw(paths.raw)
    outcomes = [
        Outcome(name, "refused", message=reason) for name, reason in scan.refused
    ]
    outcomes += [
        Outcome(copy.name, "duplicate", message=f"same bytes as {first.name}")
        for copy, first in scan.duplicates
    ]
    resources = {
        "paths": PathsResource(
            raw=str(paths.raw), curated=str(paths.curated), schemas=str(paths.schemas)
        )
    }
    with _instance() as instance:
        known = set(instance.get_dynamic_partitions(SUBMISSIONS))
        new = [f.key for f in scan.files if f.key not in known]
        if new:
            instance.add_dynamic_partitions(SUBMISSIONS, new)
        for raw_file in scan.files:
            staged = None if recheck else staged_unchanged(paths, raw_file)
            if staged is not None:
                outcomes.append(
                    Outcome(
                        raw_file.name,
                        staged.status,
                        errors=staged.errors,
                        warnings=staged.warnings,
                        message="unchanged since its last check",
                    )
                )
                continue
            result = dg.materialize(
                [validation_findings, harmonised_observations],
                partition_key=raw_file.key,
                instance=instance,
                resources=resources,
                raise_on_error=False,
                tags=_TAGS,
                run_config=_QUIET,
            )
            outcomes.append(_outcome(raw_file.name, result))
        for outcome in sorted(outcomes, key=lambda o: o.name):
            print(outcome.line())
        # Registers before the publication, whose serving copy then holds them.
        registers = _registers(paths, instance, resources)
        published = dg.materialize(
            _PUBLICATION_ASSETS,
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags=_TAGS,
            run_config=_QUIET,
        )
    if not published.success:
        raise RuntimeError(f"publication failed: {_failure(published)}")
    meta = _metadata(published, meta_publication.key)
    print(_summary(outcomes, meta))
    if any(o.status == "error" for o in outcomes):
        return EXIT_SYSTEM
    fine = ("accepted", "duplicate")
    every_fine = all(o.status in fine for o in outcomes) and not registers
    return EXIT_OK if every_fine else EXIT_REJECTED


def _registers(
    paths: Paths, instance: dg.DagsterInstance, resources: dict[str, Any]
) -> list[str]:
    """Run the register partitions as the register sensor asks (one run per
    file and contiguous block of its partitions); print a line per run; return
    what was blocked (partitions, or a file whose run failed)."""
    try:
        found = discover(paths.raw / REGISTERS_DIR, paths.schemas)
    except SseStatsError as exc:
        print(f"registers: refused - {_one_line(exc)}")
        return ["registers"]
    if not found:
        return []
    known = set(instance.get_dynamic_partitions(REGISTER_PARTITIONS))
    new = [key for key in found if key not in known]
    if new:
        instance.add_dynamic_partitions(REGISTER_PARTITIONS, new)
    order = instance.get_dynamic_partitions(REGISTER_PARTITIONS)
    blocked: list[str] = []
    for request in register_run_requests(found, order):
        result = dg.materialize(
            [register_observations],
            partition_key=request.partition_key,
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags={**_TAGS, **request.tags},
            run_config=_QUIET,
        )
        name = Path(request.tags[FILE_TAG]).name.encode("unicode_escape")
        meta = _metadata(result, register_observations.key)
        partitions = meta.get("partitions") or {}
        if not result.success or not partitions:
            blocked.append(request.tags[FILE_TAG])
            print(f"{name.decode('ascii')}: error - {_failure(result)}")
            continue
        stopped = [str(k) for k in meta.get("blocked") or []]
        blocked += stopped
        print(
            f"{name.decode('ascii')}: register, {meta.get('units', 0):,} units, "
            f"{len(partitions) - len(stopped)} of {len(partitions)} countries and "
            f"years published ({meta.get('dagster/row_count', 0)} observations)"
            + (f"; blocked: {', '.join(stopped)}" if stopped else "")
        )
    return blocked


@contextmanager
def _instance() -> Iterator[dg.DagsterInstance]:
    """The DAGSTER_HOME instance if set, else an ephemeral one (nothing kept)."""
    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as instance:
            yield instance
    else:
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, Any]:
    """Metadata values of the asset's materialisation in this run."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == key:
            return {k: v.value for k, v in materialization.metadata.items()}
    return {}


def _outcome(name: str, result: dg.ExecuteInProcessResult) -> Outcome:
    """Status from the validation metadata; a step exception is a system error."""
    meta = _metadata(result, FINDINGS_KEY)
    status = meta.get("status")
    if not isinstance(status, str) or (status == "accepted" and not result.success):
        return Outcome(name, "error", message=_failure(result))
    message = meta.get("message") or None
    if message is None and status != "accepted" and meta.get("report"):
        message = f"report: {meta['report']}"
    return Outcome(
        name,
        status,
        errors=int(meta.get("errors") or 0),
        warnings=int(meta.get("warnings") or 0),
        message=message,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The first step error of a failed run, on one line."""
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None:
            return " ".join(error.message.split())
    return "the run failed (see the Dagster logs)"


def _summary(outcomes: list[Outcome], meta: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    files = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no files"
    by_country = meta.get("observations_by_country") or {}
    countries = ", ".join(f"{k} {v}" for k, v in by_country.items()) or "none"
    by_status = meta.get("submissions_by_status") or {}
    staged = ", ".join(f"{v} {k}" for k, v in by_status.items()) or "none"
    return (
        f"{len(outcomes)} submissions in this run: {files}.\n"
        f"Published from all staged submissions ({staged}): "
        f"{meta.get('dagster/row_count', 0)} observations ({countries}); "
        f"serving copy {meta.get('serving_file', '?')}"
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
