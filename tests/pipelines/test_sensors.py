"""The raw-folder sensor: one partition and one run per new or changed file."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pipelines.assets import harmonised_observations, validation_findings
from pipelines.assets.submissions import TRIGGER_TAG
from pipelines.definitions import defs
from pipelines.partitions import SUBMISSIONS
from pipelines.resources import PathsResource
from pipelines.sensors import (
    SETTLE_ENV,
    IntakeState,
    evaluate_intake,
    publish_after_intake,
    raw_submissions,
    settle_seconds,
)
from sse_stats.publish.raw_files import scan_raw
from sse_stats.publish.staging import promote_submission, stage_raw_file
from sse_stats.settings import Paths

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "tests" / "fixtures" / "nso" / "good"
KOR = "template_KOR_2016-register.csv"
PRT = "PRT_2019-2020.csv"
OLD = time.time() - 3600  # files older than the settle time


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setenv(SETTLE_ENV, "5")
    raw = tmp_path / "raw"
    raw.mkdir()
    return Paths(raw=raw, curated=tmp_path / "curated", schemas=ROOT / "schemas")


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def put(raw: Path, source: str, name: str | None = None, *, mtime: float = OLD) -> Path:
    """Copy a good fixture into the raw folder, dated an hour ago by default."""
    target = raw / (name or source)
    target.parent.mkdir(exist_ok=True)
    shutil.copyfile(GOOD / source, target)
    os.utime(target, (mtime, mtime))
    return target


def resources(paths: Paths) -> dict[str, PathsResource]:
    return {
        "paths": PathsResource(
            raw=str(paths.raw), curated=str(paths.curated), schemas=str(paths.schemas)
        )
    }


def evaluate(
    instance: dg.DagsterInstance, paths: Paths, cursor: str | None
) -> dg.SensorResult:
    """One sensor tick, applying its partition requests like the daemon does."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=resources(paths)
    )
    result = raw_submissions(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(
            request.partitions_def_name, list(request.partition_keys)
        )
    return result


def keys_of(result: dg.SensorResult) -> list[str]:
    return [r.partition_key or "" for r in result.run_requests or []]


def test_each_new_file_gets_a_partition_and_a_run_keyed_by_identity(
    instance: dg.DagsterInstance, paths: Paths
) -> None:
    put(paths.raw, KOR)
    put(paths.raw, PRT)
    keys = {f.name: f.key for f in scan_raw(paths.raw).files}

    result = evaluate(instance, paths, None)

    assert sorted(keys_of(result)) == sorted(keys.values())
    assert keys[PRT].startswith(f"{PRT}@") and len(keys[PRT]) == len(PRT) + 9
    for request in result.run_requests or []:
        assert request.run_key == request.partition_key
        assert request.tags[TRIGGER_TAG] == "sensor"
    assert sorted(instance.get_dynamic_partitions(SUBMISSIONS)) == sorted(keys.values())
    # the next tick with the stored cursor requests nothing
    again = evaluate(instance, paths, result.cursor)
    assert keys_of(again) == [] and again.skip_reason is not None
    assert again.cursor == result.cursor


def test_the_same_bytes_under_another_name_are_not_counted_twice(
    instance: dg.DagsterInstance, paths: Paths
) -> None:
    put(paths.raw, KOR)
    first = evaluate(instance, paths, None)
    put(paths.raw, KOR, "KOR_copy_resent.csv")
    put(paths.raw, KOR, "0_first_by_name.csv")  # sorts first: still a copy

    second = evaluate(instance, paths, first.cursor)

    assert keys_of(second) == []
    assert len(instance.get_dynamic_partitions(SUBMISSIONS)) == 1
    state = IntakeState.load(second.cursor)
    assert set(state.reported) == {"KOR_copy_resent.csv", "0_first_by_name.csv"}
    assert all("same bytes as template_KOR" in r for r in state.reported.values())
    # copies present from the start are recognised too
    with dg.instance_for_test() as fresh:
        both = evaluate(fresh, paths, None)
        assert len(keys_of(both)) == 1


def test_a_changed_file_is_a_new_partition(
    instance: dg.DagsterInstance, paths: Paths
) -> None:
    path = put(paths.raw, KOR)
    first = evaluate(instance, paths, None)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n")
    os.utime(path, (OLD + 60, OLD + 60))

    second = evaluate(instance, paths, first.cursor)

    (old_key,) = keys_of(first)
    (new_key,) = keys_of(second)
    assert old_key != new_key and new_key.startswith(f"{KOR}@")
    assert sorted(instance.get_dynamic_partitions(SUBMISSIONS)) == sorted(
        [old_key, new_key]
    )


def test_a_file_still_being_written_waits_for_the_next_tick(
    instance: dg.DagsterInstance, paths: Paths
) -> None:
    put(paths.raw, KOR, mtime=time.time())
    first = evaluate(instance, paths, None)
    assert keys_of(first) == []
    os.utime(paths.raw / KOR, (OLD, OLD))
    assert len(keys_of(evaluate(instance, paths, first.cursor))) == 1


def test_refused_files_are_logged_once_and_never_run(
    instance: dg.DagsterInstance, paths: Paths, tmp_path: Path
) -> None:
    outside = put(tmp_path, KOR, "outside.csv")
    (paths.raw / "evil.csv").symlink_to(outside)
    put(paths.raw, KOR, "KOR;rm -rf x.csv")
    (paths.raw / "notes").mkdir()
    put(paths.raw, PRT, "notes/x.csv")  # not an ISO3 folder: not looked into
    elsewhere = tmp_path / "elsewhere"
    put(elsewhere, PRT, "x.csv")
    (paths.raw / "ESP").symlink_to(elsewhere)  # a linked country folder

    first = evaluate(instance, paths, None)

    assert keys_of(first) == [f.key for f in scan_raw(paths.raw).files]
    assert all(not k.startswith(("evil", "KOR;")) for k in keys_of(first))
    state = IntakeState.load(first.cursor)
    assert "outside the raw folder" in state.reported["evil.csv"]
    assert "shell characters" in state.reported["KOR;rm -rf x.csv"]
    (linked,) = [n for n in state.reported if n.startswith("ESP/")]
    assert "symbolic link" in state.reported[linked]
    assert not any(k.startswith(("notes", "ESP")) for k in keys_of(first))
    again = evaluate(instance, paths, first.cursor)
    assert IntakeState.load(again.cursor).reported == state.reported


def test_country_sub_folders_are_watched(
    instance: dg.DagsterInstance, paths: Paths
) -> None:
    put(paths.raw, PRT, "PRT/2019-2020.csv")
    (key,) = keys_of(evaluate(instance, paths, None))
    assert key.startswith("PRT/2019-2020.csv@")
    result = dg.materialize(
        [validation_findings, harmonised_observations],
        partition_key=key,
        instance=instance,
        resources=resources(paths),
    )
    assert result.success  # the mapping comes from the folder's country code


def test_the_asset_verifies_the_bytes_of_its_partition(
    instance: dg.DagsterInstance, paths: Paths
) -> None:
    path = put(paths.raw, KOR)
    (key,) = keys_of(evaluate(instance, paths, None))
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n")  # changed after the key was registered

    result = dg.materialize(
        [validation_findings, harmonised_observations],
        partition_key=key,
        instance=instance,
        resources=resources(paths),
        raise_on_error=False,
    )

    assert not result.success
    (materialization,) = result.asset_materializations_for_node("validation__findings")
    assert materialization.metadata["status"].value == "changed"
    assert "no longer holds the bytes" in str(materialization.metadata["message"].value)
    assert not (paths.curated / "staging").exists()


def test_the_cursor_and_partitions_survive_a_restart(
    paths: Paths, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    put(paths.raw, KOR)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        first = evaluate(instance, paths, None)
    with dg.DagsterInstance.from_config(str(home)) as instance:  # "restarted"
        assert instance.get_dynamic_partitions(SUBMISSIONS) == keys_of(first)
        assert keys_of(evaluate(instance, paths, first.cursor)) == []


def test_publication_follows_a_change_in_the_staging_area(
    instance: dg.DagsterInstance, paths: Paths
) -> None:
    def tick(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=resources(paths)
        )
        result = publish_after_intake(context)
        assert isinstance(result, dg.SensorResult)
        return result

    nothing = tick(None)
    assert not nothing.run_requests and nothing.skip_reason is not None
    put(paths.raw, KOR)
    stage_raw_file(paths, KOR, trigger="sensor")
    staged = tick(None)
    assert len(staged.run_requests or []) == 1 and staged.cursor is not None
    assert not tick(staged.cursor).run_requests  # nothing new since
    promote_submission(paths, KOR)
    promoted = tick(staged.cursor)
    assert len(promoted.run_requests or []) == 1
    assert promoted.cursor != staged.cursor


def test_the_sensors_are_in_the_definitions() -> None:
    names = {s.name for s in defs.sensors or []}
    assert names == {"raw_submissions", "publish_after_intake", "register_sensor"}
    assert defs.resolve_job_def("publish") is not None


def test_settle_seconds_from_the_environment() -> None:
    assert settle_seconds({}) == 10.0
    assert settle_seconds({SETTLE_ENV: "0"}) == 0.0
    assert settle_seconds({SETTLE_ENV: "soon"}) == 10.0


def test_evaluate_intake_reuses_hashes_of_unchanged_files(paths: Paths) -> None:
    put(paths.raw, KOR)
    first = evaluate_intake(
        paths.raw, None, partitions=[], now=time.time(), settle_seconds=0
    )
    fake = IntakeState.load(first.state.dump())
    fake.files[KOR] = type(fake.files[KOR])(
        name=KOR,
        size=fake.files[KOR].size,
        mtime_ns=fake.files[KOR].mtime_ns,
        sha256="f" * 64,  # a cached hash is trusted while size and time match
    )
    second = evaluate_intake(
        paths.raw, fake.dump(), partitions=[], now=time.time(), settle_seconds=0
    )
    assert second.keys == (f"{KOR}@ffffffff",)
