"""register/observations: unit-level registers, one partition per country and year.

Registers are dropped under ``<raw>/registers/<mapping>/`` (the folder names the
mapping of ``schemas/registers/``). The sensor lists the countries and years
each file holds, adds them as dynamic partitions (``PRT_2022``) and asks for a
run of new ones and of those whose file changed; a run validates the units of
its partition, aggregates them with disclosure control, builds the satellite
tables and replaces only that partition of ``register.*`` in the curated store.
Adding a country therefore re-aggregates only that country.

A unit whose country and year make no partition key is in no run; every run
of a file lists such units in the check ``every_unit_in_a_partition``.

``definitions.py`` adds ``REGISTER_ASSETS``, ``register_job`` and
``register_sensor`` to ``dg.Definitions`` (not to ``ALL_ASSETS``: registers are
published by their own partitions, not by ``python -m pipelines``).

No ``from __future__ import annotations`` here: Dagster reads the ``context``
annotation at definition time and rejects it as a string.
"""

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from pipelines.resources import PathsResource
from sse_stats.errors import SseStatsError
from sse_stats.register.publish import (
    REGISTERS_DIR,
    RegisterFile,
    discover,
    partition_key,
    process_partitions,
    publish_register,
    stray_units,
)

REGISTER_PARTITIONS = "register_partitions"
"""Name of the dynamic partitions (``<REF_AREA>_<YEAR>``) in the Dagster instance."""

register_partitions = dg.DynamicPartitionsDefinition(name=REGISTER_PARTITIONS)

OBSERVATIONS_KEY = dg.AssetKey(["register", "observations"])
FILE_TAG = "sse_stats/register_file"
MAPPING_TAG = "sse_stats/register_mapping"
"""Run tags the sensor sets: which file holds the partition, read by which mapping."""
NO_BLOCKING = "no_blocking_unit"
"""Check name: no unit failed a rule of severity error."""
EVERY_UNIT_PLACED = "every_unit_in_a_partition"
"""Check name: every unit of the partition's file is in some country-year partition."""


@dg.asset(
    key=OBSERVATIONS_KEY,
    partitions_def=register_partitions,
    group_name="registers",
    kinds={"duckdb", "parquet"},
    pool="duckdb",
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[
        dg.AssetCheckSpec(
            NO_BLOCKING,
            asset=OBSERVATIONS_KEY,
            description="No unit fails a rule of severity error "
            "(schemas/rules/register.yaml); otherwise nothing is published",
        ),
        dg.AssetCheckSpec(
            EVERY_UNIT_PLACED,
            asset=OBSERVATIONS_KEY,
            description="Every unit of the register file has a country and year "
            "(ISO3_YYYY): a unit that makes none is in no partition, so it is "
            "listed here (the partition itself is still published)",
        ),
    ],
    description="Harmonised observations, unit-level findings and satellite tables "
    "of one country and year of a register (register.* in the curated store)",
)
def register_observations(
    context: dg.AssetExecutionContext, paths: PathsResource
) -> Iterator[dg.MaterializeResult[None] | dg.AssetCheckResult]:
    """Validate, aggregate, protect and publish the run's countries and years.

    A run holds one partition, or a range of them (the sensor asks for the
    partitions of one file in one run; the backfill policy runs a backfill as
    one run): each file is read once for all its partitions in the run, and
    each partition is judged, blocked and published on its own.
    """
    settings = paths.value
    keys = list(context.partition_keys)
    tags = context.run.tags
    by_file: dict[RegisterFile, list[str]] = {}
    if FILE_TAG in tags and MAPPING_TAG in tags:
        # The sensor names the file: no need to look through every register.
        register = RegisterFile(path=Path(tags[FILE_TAG]), mapping=tags[MAPPING_TAG])
        by_file[register] = keys
    else:
        registers = discover(settings.raw / REGISTERS_DIR, settings.schemas)
        missing = [key for key in keys if key not in registers]
        if missing:
            raise dg.Failure(
                f"no register under {settings.raw / REGISTERS_DIR} holds {missing}"
            )
        for key in keys:
            by_file.setdefault(registers[key], []).append(key)
    partitions: dict[str, dict[str, object]] = {}
    blocked: list[str] = []
    findings: list[str] = []
    errors = 0
    stray_count, stray_findings = 0, []
    for register, file_keys in by_file.items():
        try:
            results = process_partitions(register, settings.schemas, file_keys)
        except SseStatsError as exc:  # an unreadable file: a message, no traceback
            raise dg.Failure(description=str(exc)) from exc
        for key, result in results.items():
            published = publish_register(settings.curated, result, key)
            partitions[key] = {
                "register": str(register.path),
                "units": int(result.units),
                "blocked": bool(result.blocked),
                "rows": int(published.rows.get("observations", 0)),
                "conf_status": result.suppressed(),
                "source_sha256": result.source_sha256,
                "seconds": result.timings,
            }
            if result.blocked:
                blocked.append(key)
            findings += [f"- {key}: {f.message}" for f in result.findings]
            errors += sum(f.severity == "error" for f in result.findings)
        stray = stray_units(register, settings.schemas)
        stray_count += stray.count
        stray_findings += stray.findings
    yield dg.MaterializeResult(
        metadata={
            "partitions": dg.MetadataValue.json(partitions),
            "units": sum(int(str(p["units"])) for p in partitions.values()),
            "blocked": dg.MetadataValue.json(blocked),
            "dagster/row_count": sum(int(str(p["rows"])) for p in partitions.values()),
        }
    )
    yield dg.AssetCheckResult(
        check_name=EVERY_UNIT_PLACED,
        passed=stray_count == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{stray_count} units of the run's registers are in no partition",
        metadata={
            "stray_units": int(stray_count),
            "findings": dg.MetadataValue.md(
                "\n".join(f"- {f.message}" for f in stray_findings) or "none"
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name=NO_BLOCKING,
        passed=not blocked,
        severity=dg.AssetCheckSeverity.ERROR if blocked else dg.AssetCheckSeverity.WARN,
        description=f"blocked: {', '.join(blocked) or 'none'}; {errors} error "
        "findings listed",
        metadata={
            "blocked": dg.MetadataValue.json(blocked),
            "findings": dg.MetadataValue.md("\n".join(findings[:50]) or "none"),
        },
    )


register_job = dg.define_asset_job(
    "register_partition",
    selection=dg.AssetSelection.assets(register_observations),
    partitions_def=register_partitions,
    description="Aggregate one country and year of a unit-level register.",
)


@dg.sensor(job=register_job, minimum_interval_seconds=60)
def register_sensor(
    context: dg.SensorEvaluationContext, paths: PathsResource
) -> dg.SensorResult:
    """Add new countries and years as partitions; run new and changed ones.

    The partitions of one file are asked for in one run (a partition range,
    read in one scan) wherever they are contiguous in the instance's order.
    """
    settings = paths.value
    try:
        registers = discover(settings.raw / REGISTERS_DIR, settings.schemas)
    except SseStatsError as exc:
        return dg.SensorResult(skip_reason=str(exc))
    known = list(context.instance.get_dynamic_partitions(REGISTER_PARTITIONS))
    new = [key for key in registers if key not in set(known)]
    return dg.SensorResult(
        run_requests=register_run_requests(registers, [*known, *new]),
        dynamic_partitions_requests=[register_partitions.build_add_request(new)]
        if new
        else [],
    )


def register_run_requests(
    registers: Mapping[str, RegisterFile], order: Sequence[str]
) -> list[dg.RunRequest]:
    """One run per register file and contiguous block of its partitions.

    ``order`` is the instance's partition order (a range runs the partitions
    between its ends in that order, so a file's partitions that are not
    contiguous make several runs).
    """
    position = {key: i for i, key in enumerate(order)}
    by_file: dict[RegisterFile, list[str]] = {}
    for key, register in registers.items():
        by_file.setdefault(register, []).append(key)
    return [
        _run_request(register, block)
        for register, keys in by_file.items()
        for block in _contiguous(sorted(keys, key=position.__getitem__), position)
    ]


def _contiguous(keys: list[str], position: dict[str, int]) -> list[list[str]]:
    """``keys`` (in partition order) split where the instance's order has a gap."""
    blocks: list[list[str]] = []
    for key in keys:
        if blocks and position[key] == position[blocks[-1][-1]] + 1:
            blocks[-1].append(key)
        else:
            blocks.append([key])
    return blocks


def _run_request(register: RegisterFile, keys: list[str]) -> dg.RunRequest:
    # The run key changes with the file, so a replaced register runs again.
    tags = {FILE_TAG: str(register.path), MAPPING_TAG: register.mapping}
    if len(keys) == 1:
        return dg.RunRequest(
            partition_key=keys[0],
            run_key=f"{keys[0]}:{register.fingerprint}",
            tags=tags,
        )
    return dg.RunRequest(
        run_key=f"{keys[0]}..{keys[-1]}:{register.fingerprint}",
        tags={
            **tags,
            ASSET_PARTITION_RANGE_START_TAG: keys[0],
            ASSET_PARTITION_RANGE_END_TAG: keys[-1],
        },
    )


REGISTER_ASSETS = [register_observations]

__all__ = [
    "REGISTER_ASSETS",
    "REGISTER_PARTITIONS",
    "partition_key",
    "register_job",
    "register_observations",
    "register_partitions",
    "register_run_requests",
    "register_sensor",
]
