"""The Definitions load, with the expected asset graph, checks, pools and config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from pipelines.assets.submissions import NO_ERRORS
from pipelines.definitions import defs
from pipelines.partitions import SUBMISSIONS

ROOT = Path(__file__).resolve().parents[2]
FINDINGS = dg.AssetKey(["validation", "findings"])
OBSERVATIONS = dg.AssetKey(["harmonised", "observations"])
PUBLICATION = dg.AssetKey(["meta", "publication"])
EXPORTS = dg.AssetKey(["exports", "icls_background_tables"])
REGISTERS = dg.AssetKey(["register", "observations"])


def test_definitions_load_with_the_expected_assets() -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    shells = sorted(p.stem for p in (ROOT / "schemas" / "tables").glob("t[0-9]*.yaml"))
    satellite = {dg.AssetKey(["satellite", n]) for n in [*shells, "comparison"]}
    assert len(shells) == 10
    assert set(graph.get_all_asset_keys()) == {
        FINDINGS,
        OBSERVATIONS,
        PUBLICATION,
        *satellite,
        EXPORTS,
        REGISTERS,
    }
    assert graph.get(OBSERVATIONS).parent_keys == {FINDINGS}
    assert graph.get(PUBLICATION).parent_keys == {OBSERVATIONS}
    assert all(graph.get(key).parent_keys == {PUBLICATION} for key in satellite)
    shell_keys = {dg.AssetKey(["satellite", n]) for n in shells}
    assert graph.get(EXPORTS).parent_keys == shell_keys


def test_submissions_are_dynamic_partitions() -> None:
    for key in (FINDINGS, OBSERVATIONS):
        partitions = defs.resolve_assets_def(key).partitions_def
        assert isinstance(partitions, dg.DynamicPartitionsDefinition)
        assert partitions.name == SUBMISSIONS
    assert defs.resolve_assets_def(PUBLICATION).partitions_def is None


def test_publication_depends_on_every_partition_and_uses_the_duckdb_pool() -> None:
    publication = defs.resolve_assets_def(PUBLICATION)
    mapping = publication.get_partition_mapping(OBSERVATIONS)
    assert isinstance(mapping, dg.AllPartitionMapping)
    assert publication.op.pool == "duckdb"


def test_the_no_error_check_is_blocking() -> None:
    findings = defs.resolve_assets_def(FINDINGS)
    specs = {spec.name: spec for spec in findings.check_specs}
    rule_files = sorted(
        p.stem
        for p in (ROOT / "schemas" / "rules").glob("*.yaml")
        if p.stem != "register"  # unit-level rules, checked by the register assets
    )
    assert set(specs) == {NO_ERRORS, *(f"rules_{stem}" for stem in rule_files)}
    assert specs["rules_core"].blocking and not specs["rules_history"].blocking
    assert specs[NO_ERRORS].blocking is True
    assert specs[NO_ERRORS].asset_key == FINDINGS


def test_ingest_job_selects_the_submission_assets() -> None:
    job = defs.resolve_job_def("ingest_submission")
    assert job.partitions_def is not None
    assert job.asset_layer.executable_asset_keys == {FINDINGS, OBSERVATIONS}


def test_dagster_home_config_is_a_valid_instance(tmp_path: Path) -> None:
    source = ROOT / ".dagster_home" / "dagster.yaml"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["telemetry"]["enabled"] is False
    shutil.copyfile(source, tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


@pytest.mark.slow
def test_dg_check_defs_accepts_the_project(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    shutil.copyfile(ROOT / ".dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    dg_cli = Path(sys.executable).with_name("dg")
    done = subprocess.run(
        [str(dg_cli), "check", "defs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    legacy = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(legacy), "definitions", "validate", "-m", "pipelines.definitions"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
