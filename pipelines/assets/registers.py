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

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from pipelines.resources import PathsResource
from sse_stats.errors import SseStatsError
from sse_stats.register.publish import (
    REGISTERS_DIR,
    RegisterFile,
    discover,
    partition_key,
    process_partition,
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
    """Validate, aggregate, protect and publish one country and year."""
    key = context.partition_key
    settings = paths.value
    tags = context.run.tags
    if FILE_TAG in tags and MAPPING_TAG in tags:
        # The sensor names the file: no need to look through every register.
        register = RegisterFile(path=Path(tags[FILE_TAG]), mapping=tags[MAPPING_TAG])
    else:
        registers = discover(settings.raw / REGISTERS_DIR, settings.schemas)
        if key not in registers:
            raise dg.Failure(
                f"no register under {settings.raw / REGISTERS_DIR} holds {key}"
            )
        register = registers[key]
    result = process_partition(register, settings.schemas, key)
    published = publish_register(settings.curated, result, key)
    errors = sum(f.severity == "error" for f in result.findings)
    summary = "\n".join(f"- {f.message}" for f in result.findings[:20])
    yield dg.MaterializeResult(
        metadata={
            "register": str(register.path),
            "mapping": register.mapping,
            "units": int(result.units),
            "blocked": bool(result.blocked),
            "dagster/row_count": int(published.rows.get("observations", 0)),
            "conf_status": dg.MetadataValue.json(result.suppressed()),
            "source_sha256": result.source_sha256,
            "seconds": dg.MetadataValue.json(result.timings),
        }
    )
    stray = stray_units(register, settings.schemas)
    yield dg.AssetCheckResult(
        check_name=EVERY_UNIT_PLACED,
        passed=stray.count == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{stray.count} units of {register.path.name} are in no partition",
        metadata={
            "stray_units": int(stray.count),
            "findings": dg.MetadataValue.md(
                "\n".join(f"- {f.message}" for f in stray.findings) or "none"
            ),
        },
    )
    yield dg.AssetCheckResult(
        check_name=NO_BLOCKING,
        passed=not result.blocked,
        severity=dg.AssetCheckSeverity.ERROR
        if result.blocked
        else dg.AssetCheckSeverity.WARN,
        description=f"{errors} error findings listed",
        metadata={"findings": dg.MetadataValue.md(summary or "none")},
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
    """Add new countries and years as partitions; run new and changed ones."""
    settings = paths.value
    try:
        registers = discover(settings.raw / REGISTERS_DIR, settings.schemas)
    except SseStatsError as exc:
        return dg.SensorResult(skip_reason=str(exc))
    known = set(context.instance.get_dynamic_partitions(REGISTER_PARTITIONS))
    new = [key for key in registers if key not in known]
    requests = [
        # The run key changes with the file, so a replaced register runs again.
        dg.RunRequest(
            partition_key=key,
            run_key=f"{key}:{register.fingerprint}",
            tags={FILE_TAG: str(register.path), MAPPING_TAG: register.mapping},
        )
        for key, register in registers.items()
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[register_partitions.build_add_request(new)]
        if new
        else [],
    )


REGISTER_ASSETS = [register_observations]

__all__ = [
    "REGISTER_ASSETS",
    "REGISTER_PARTITIONS",
    "partition_key",
    "register_job",
    "register_observations",
    "register_partitions",
    "register_sensor",
]
