"""The assets in process: a bad file fails only its partition; a good one publishes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets import (
    harmonised_observations,
    meta_publication,
    validation_findings,
)
from pipelines.assets.submissions import NO_ERRORS, TRIGGER_TAG
from pipelines.partitions import SUBMISSIONS
from pipelines.resources import PathsResource
from sse_stats.publish.connections import open_duckdb
from sse_stats.publish.store import read_table

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (
    ROOT / "data" / "raw",
    ROOT / "tests" / "fixtures" / "nso",
    ROOT.parent / "shared" / "fixtures",
)
GOOD = "template_KOR_2016-register.csv"
BAD = "template__B1G_not_P1_minus_P2.csv"
FINDINGS = dg.AssetKey(["validation", "findings"])
OBSERVATIONS = dg.AssetKey(["harmonised", "observations"])
SUBMISSION_ASSETS = [validation_findings, harmonised_observations]


def fixture_file(kind: str, name: str) -> Path:
    """A submission from data/raw, else the fixture copies (good/ or bad/)."""
    for base in SOURCES:
        for path in (base / name, base / kind / name):
            if path.is_file():
                return path
    pytest.skip(f"fixture {kind}/{name} not found")


@pytest.fixture
def resources(tmp_path: Path) -> dict[str, PathsResource]:
    raw = tmp_path / "raw"
    raw.mkdir()
    return {
        "paths": PathsResource(
            raw=str(raw),
            curated=str(tmp_path / "curated"),
            schemas=str(ROOT / "schemas"),
        )
    }


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def add(
    resources: dict[str, PathsResource],
    kind: str,
    name: str,
    as_name: str | None = None,
) -> str:
    target = Path(resources["paths"].raw) / (as_name or name)
    shutil.copyfile(fixture_file(kind, name), target)
    return target.name


def materialize(
    instance: dg.DagsterInstance,
    resources: dict[str, PathsResource],
    key: str,
    **tags: str,
) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions(SUBMISSIONS, [key])
    return dg.materialize(
        SUBMISSION_ASSETS,
        partition_key=key,
        instance=instance,
        resources=resources,
        raise_on_error=False,
        tags=tags,
    )


def metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, object]:
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        if mat.asset_key == key:
            return {k: v.value for k, v in mat.metadata.items()}
    return {}


def check(
    result: dg.ExecuteInProcessResult, name: str = NO_ERRORS
) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == name
    ]
    return evaluation


def test_a_bad_file_fails_only_its_partition(
    instance: dg.DagsterInstance, resources: dict[str, PathsResource]
) -> None:
    good, bad = add(resources, "good", GOOD), add(resources, "bad", BAD)

    good_run = materialize(instance, resources, good)
    bad_run = materialize(instance, resources, bad)

    assert good_run.success and check(good_run).passed
    assert not bad_run.success
    failed = check(bad_run)
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    # findings are kept (materialised), the promotion never ran
    meta = metadata(bad_run, FINDINGS)
    assert meta["status"] == "rejected" and int(str(meta["errors"])) >= 1
    assert {
        "rows",
        "warnings",
        "infos",
        "source_sha256",
        "mapping_file",
        "country",
        "findings",
    } <= meta.keys()
    assert "identity_b1g" in str(meta["findings"])
    assert metadata(bad_run, OBSERVATIONS) == {}
    assert metadata(good_run, OBSERVATIONS)["dagster/row_count"] == meta_rows(good_run)

    published = dg.materialize(
        [meta_publication], instance=instance, resources=resources
    )
    assert published.success
    curated = Path(resources["paths"].curated)
    observations = read_table(curated, "harmonised", "observations")
    assert set(observations["ref_area"]) == {"KOR"}
    with open_duckdb(curated / "sse.duckdb", read_only=True) as con:
        row = con.execute(
            "SELECT count(*) FROM harmonised.observations WHERE ref_area = ?", ["MEX"]
        ).fetchone()
    assert row == (0,)
    pub = metadata(published, dg.AssetKey(["meta", "publication"]))
    assert pub["observations_by_country"] == {"KOR": len(observations)}
    assert pub["submissions_by_status"] == {"accepted": 1, "rejected": 1}


def meta_rows(result: dg.ExecuteInProcessResult) -> object:
    return metadata(result, FINDINGS)["rows"]


def test_a_file_without_a_mapping_is_a_failed_check_not_a_crash(
    instance: dg.DagsterInstance, resources: dict[str, PathsResource]
) -> None:
    name = add(resources, "good", "PRT_2019-2020.csv", as_name="USA_2021.csv")
    result = materialize(instance, resources, name)
    evaluation = check(result)
    assert not evaluation.passed
    assert "no mapping for USA" in (evaluation.description or "")
    assert metadata(result, FINDINGS)["status"] == "unusable"
    assert metadata(result, OBSERVATIONS) == {}


def test_a_symlink_outside_raw_is_refused(
    instance: dg.DagsterInstance, resources: dict[str, PathsResource], tmp_path: Path
) -> None:
    outside = tmp_path / "outside.csv"
    shutil.copyfile(fixture_file("good", GOOD), outside)
    (Path(resources["paths"].raw) / "evil.csv").symlink_to(outside)
    result = materialize(instance, resources, "evil.csv")
    evaluation = check(result)
    assert not evaluation.passed and "outside the raw folder" in (
        evaluation.description or ""
    )
    assert metadata(result, FINDINGS)["status"] == "refused"
    assert not (Path(resources["paths"].curated) / "staging").exists()


@pytest.mark.slow
def test_the_trigger_comes_from_the_run_tags(
    instance: dg.DagsterInstance, resources: dict[str, PathsResource]
) -> None:
    batch = add(resources, "good", GOOD, as_name="KOR_batch.csv")
    manual = add(resources, "good", GOOD, as_name="KOR_manual.csv")
    assert materialize(instance, resources, batch, **{TRIGGER_TAG: "batch"}).success
    assert materialize(instance, resources, manual).success
    assert dg.materialize(
        [meta_publication], instance=instance, resources=resources
    ).success
    meta = read_table(Path(resources["paths"].curated), "meta", "submissions")
    assert dict(zip(meta["source_file"], meta["trigger"], strict=True)) == {
        batch: "batch",
        manual: "manual",
    }


def test_rule_file_checks__bad_identity__relations_check_shows_failing_cell(
    instance: dg.DagsterInstance, resources: dict[str, PathsResource]
) -> None:
    """The relations rule-file check fails with the identity's cell and per-rule
    counts."""
    bad_run = materialize(instance, resources, add(resources, "bad", BAD))
    relations = check(bad_run, "rules_relations")
    assert not relations.passed and relations.severity == dg.AssetCheckSeverity.ERROR
    meta = {k: v.value for k, v in relations.metadata.items()}
    assert "identity_b1g" in str(meta["rules"]) and "| 46 |" in str(
        meta["first_failing_cells"]
    )
    assert check(bad_run, "rules_core").passed
