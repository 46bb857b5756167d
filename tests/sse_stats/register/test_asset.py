"""pipelines/assets/registers.py: one partition per country and year, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets.registers import (
    EVERY_UNIT_PLACED,
    FILE_TAG,
    MAPPING_TAG,
    NO_BLOCKING,
    REGISTER_PARTITIONS,
    register_job,
    register_observations,
    register_run_requests,
    register_sensor,
)
from pipelines.resources import PathsResource
from sse_stats.publish.store import read_table
from sse_stats.register import publish as publish_module
from sse_stats.register.publish import PARTITION_COLUMN, REGISTERS_DIR, RegisterFile

from .conftest import SCHEMAS, crafted, unit


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def paths(tmp_path: Path) -> PathsResource:
    folder = tmp_path / "raw" / REGISTERS_DIR / "make_register"
    folder.mkdir(parents=True)
    rows = [unit(employees=10 + i, fte=8.0) for i in range(8)]
    rows += [
        unit(ref_area="ESP", region="ES-CT", employees=5 + i, fte=4.0) for i in range(5)
    ]
    crafted(rows, folder / "reg.parquet")
    return PathsResource(
        raw=str(tmp_path / "raw"),
        curated=str(tmp_path / "curated"),
        schemas=str(SCHEMAS),
    )


def test_sensor__adds_partitions_and_asks_for_their_runs(
    instance: dg.DagsterInstance, paths: PathsResource
) -> None:
    context = dg.build_sensor_context(instance=instance, resources={"paths": paths})
    result = register_sensor(context)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.dynamic_partitions_requests or []
    assert isinstance(request, dg.AddDynamicPartitionsRequest)
    assert list(request.partition_keys) == ["ESP_2022", "PRT_2022"]
    # One file: one run over its two partitions (read in one scan).
    (run,) = result.run_requests or []
    assert run.partition_key_range == dg.PartitionKeyRange("ESP_2022", "PRT_2022")
    assert run.tags[FILE_TAG].endswith("reg.parquet")
    assert run.tags[MAPPING_TAG] == "make_register"


def test_asset__one_partition_publishes_only_its_country(
    instance: dg.DagsterInstance, paths: PathsResource
) -> None:
    instance.add_dynamic_partitions(REGISTER_PARTITIONS, ["ESP_2022", "PRT_2022"])
    run = dg.materialize(
        [register_observations],
        partition_key="PRT_2022",
        instance=instance,
        resources={"paths": paths},
    )
    assert run.success
    checks = {c.check_name: c for c in run.get_asset_check_evaluations()}
    assert checks[NO_BLOCKING].passed and checks[EVERY_UNIT_PLACED].passed
    table = read_table(Path(paths.curated), "register", "observations")
    assert set(table[PARTITION_COLUMN]) == {"PRT_2022"}
    assert register_job.partitions_def is not None


def test_asset__unit_without_country_year__listed_partition_still_published(
    instance: dg.DagsterInstance, paths: PathsResource
) -> None:
    folder = Path(paths.raw) / REGISTERS_DIR / "make_register"
    rows = [unit(employees=10 + i, fte=8.0) for i in range(8)]
    rows.append(unit(ref_area="pt", region="PT-11"))  # line 10: no partition
    crafted(rows, folder / "reg.parquet")
    instance.add_dynamic_partitions(REGISTER_PARTITIONS, ["PRT_2022"])
    run = dg.materialize(
        [register_observations],
        partition_key="PRT_2022",
        instance=instance,
        resources={"paths": paths},
        raise_on_error=False,
    )
    checks = {c.check_name: c for c in run.get_asset_check_evaluations()}
    stray = checks[EVERY_UNIT_PLACED]
    assert not stray.passed
    assert stray.metadata["stray_units"].value == 1
    listed = str(stray.metadata["findings"].value)
    assert 'reg.parquet, row 9, column "ref_area"' in listed  # record 9
    assert checks[NO_BLOCKING].passed
    table = read_table(Path(paths.curated), "register", "observations")
    assert set(table[PARTITION_COLUMN]) == {"PRT_2022"}


def test_range_run__one_scan__a_blocked_country_stops_only_itself(
    instance: dg.DagsterInstance,
    paths: PathsResource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = Path(paths.raw) / REGISTERS_DIR / "make_register"
    rows = [unit(employees=10 + i, fte=8.0) for i in range(8)]
    rows += [unit(ref_area="ESP", region="ES-CT", employees=5 + i) for i in range(5)]
    rows[-1] = unit(ref_area="ESP", region="ES-CT", employees=-1, fte=0.0, wages=0,
                    employer_social_contributions=0)  # fmt: skip
    crafted(rows, folder / "reg.parquet")
    instance.add_dynamic_partitions(REGISTER_PARTITIONS, ["ESP_2022", "PRT_2022"])
    scans: list[object] = []
    real = publish_module.process_register
    monkeypatch.setattr(
        publish_module,
        "process_register",
        lambda *a, **k: scans.append(k) or real(*a, **k),
    )
    job = dg.Definitions(
        assets=[register_observations],
        jobs=[register_job],
        resources={"paths": paths},
    ).resolve_job_def(register_job.name)
    run = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": "ESP_2022",
            "dagster/asset_partition_range_end": "PRT_2022",
        },
        raise_on_error=False,
    )
    assert len(scans) == 1 and "ref_area" not in scans[0]  # the whole file, once
    events = run.get_asset_materialization_events()
    assert {e.materialization.partition for e in events} == {"ESP_2022", "PRT_2022"}
    checks = {c.check_name: c for c in run.get_asset_check_evaluations()}
    assert not checks[NO_BLOCKING].passed
    assert checks[NO_BLOCKING].metadata["blocked"].value == ["ESP_2022"]
    table = read_table(Path(paths.curated), "register", "observations")
    assert set(table[PARTITION_COLUMN]) == {"PRT_2022"}
    findings = read_table(Path(paths.curated), "register", "findings")
    assert set(findings[PARTITION_COLUMN]) == {"ESP_2022"}


def test_run_requests__a_range_never_spans_another_files_partition(
    tmp_path: Path,
) -> None:
    """The instance's order puts FRA (another file) between ESP and PRT: the
    file's two partitions make two runs, not one range over FRA."""
    one = RegisterFile(path=tmp_path / "one.parquet", mapping="make_register")
    two = RegisterFile(path=tmp_path / "two.parquet", mapping="make_register")
    for register in (one, two):
        register.path.write_bytes(b"x")
    registers = {"ESP_2022": one, "FRA_2022": two, "PRT_2022": one}
    requests = register_run_requests(registers, ["ESP_2022", "FRA_2022", "PRT_2022"])
    assert [(r.partition_key, r.tags[FILE_TAG]) for r in requests] == [
        ("ESP_2022", str(one.path)),
        ("PRT_2022", str(one.path)),
        ("FRA_2022", str(two.path)),
    ]
    (together,) = register_run_requests(
        registers, ["ESP_2022", "PRT_2022", "FRA_2022"]
    )[:1]
    assert together.partition_key_range == dg.PartitionKeyRange("ESP_2022", "PRT_2022")
