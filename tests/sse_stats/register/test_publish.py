"""Register partitions in the curated store; adding one leaves the others alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.errors import UsageError
from sse_stats.publish.store import read_table
from sse_stats.register.publish import (
    PARTITION_COLUMN,
    REGISTERS_DIR,
    RegisterFile,
    discover,
    partition_key,
    process_partition,
    process_partitions,
    publish_register,
    split_key,
    stray_units,
)

from .conftest import SCHEMAS, crafted, unit


def _raw(tmp_path: Path, small_parquet: Path) -> Path:
    raw = tmp_path / "raw"
    folder = raw / REGISTERS_DIR / "make_register"
    folder.mkdir(parents=True)
    shutil.copy(small_parquet, folder / small_parquet.name)
    return raw


def test_discover__one_partition_per_country_and_year(
    tmp_path: Path, small_parquet: Path
) -> None:
    raw = _raw(tmp_path, small_parquet)
    found = discover(raw / REGISTERS_DIR, SCHEMAS)
    assert list(found) == ["ESP_2022", "FRA_2022", "PRT_2022"]
    assert {r.mapping for r in found.values()} == {"make_register"}


def test_discover__two_files_with_one_country_year__refused(
    tmp_path: Path, small_parquet: Path
) -> None:
    raw = _raw(tmp_path, small_parquet)
    crafted([unit()], raw / REGISTERS_DIR / "make_register" / "extra.csv")
    with pytest.raises(UsageError, match="PRT_2022 is in two registers"):
        discover(raw / REGISTERS_DIR, SCHEMAS)


def test_partition_keys() -> None:
    assert split_key(partition_key("KOR", "2016")) == ("KOR", "2016")
    with pytest.raises(UsageError):
        split_key("KOR-2016")


def test_publish__partitions_replaced_one_at_a_time(
    tmp_path: Path, small_parquet: Path
) -> None:
    raw = _raw(tmp_path, small_parquet)
    curated = tmp_path / "curated"
    registers = discover(raw / REGISTERS_DIR, SCHEMAS)
    for key in ("ESP_2022", "PRT_2022"):
        result = process_partition(registers[key], SCHEMAS, key)
        published = publish_register(curated, result, key)
        assert not published.blocked and published.rows["observations"] > 0
    first = read_table(curated, "register", "observations")
    assert set(first[PARTITION_COLUMN]) == {"ESP_2022", "PRT_2022"}
    esp = first[first[PARTITION_COLUMN] == "ESP_2022"]
    # Adding FRA rewrites only FRA's partition.
    result = process_partition(registers["FRA_2022"], SCHEMAS, "FRA_2022")
    publish_register(curated, result, "FRA_2022")
    after = read_table(curated, "register", "observations")
    assert set(after[PARTITION_COLUMN]) == {"ESP_2022", "FRA_2022", "PRT_2022"}
    again = after[after[PARTITION_COLUMN] == "ESP_2022"]
    pd.testing.assert_frame_equal(
        again.sort_values(
            ["measure", "sse_entity", "activity", "region", "sex"]
        ).reset_index(drop=True),
        esp.sort_values(
            ["measure", "sse_entity", "activity", "region", "sex"]
        ).reset_index(drop=True),
    )
    table = read_table(curated, "register", "t01_key_aggregates_by_entity")
    assert set(table["ref_area"]) == {"ESP", "FRA", "PRT"}
    outcomes = read_table(curated, "register", "outcomes")
    assert set(outcomes["rule"]) >= {"register_identity_b1g", "register_unit_id_unique"}
    assert not outcomes["blocked"].any()


def test_publish__blocked_partition__findings_only(tmp_path: Path) -> None:
    raw = tmp_path / "raw" / REGISTERS_DIR / "make_register"
    raw.mkdir(parents=True)
    crafted([unit(), unit(employees=-1, fte=0.0)], raw / "bad.csv")
    registers = discover(raw.parent, SCHEMAS)
    result = process_partition(registers["PRT_2022"], SCHEMAS, "PRT_2022")
    curated = tmp_path / "curated"
    published = publish_register(curated, result, "PRT_2022")
    assert published.blocked and "observations" not in published.rows
    findings = read_table(curated, "register", "findings")
    assert "register_value_not_negative" in set(findings["rule"])
    assert read_table(curated, "register", "observations").empty


def test_publish__result_of_another_partition__refused(
    tmp_path: Path, small_parquet: Path
) -> None:
    raw = _raw(tmp_path, small_parquet)
    registers = discover(raw / REGISTERS_DIR, SCHEMAS)
    result = process_partition(registers["PRT_2022"], SCHEMAS, "PRT_2022", tables=False)
    with pytest.raises(UsageError, match="not only ESP_2022"):
        publish_register(tmp_path / "curated", result, "ESP_2022")


def test_stray_units__no_country_year__listed_by_line(tmp_path: Path) -> None:
    rows = [unit() for _ in range(3)]
    rows.append(unit(ref_area=""))  # line 5
    rows.append(unit(time_period="22"))  # line 6
    rows.append(unit(ref_area="../x"))  # line 7: never a partition key
    path = crafted(rows, tmp_path / "reg.csv")
    stray = stray_units(RegisterFile(path=path, mapping="make_register"), SCHEMAS)
    assert stray.count == 3
    found = [(f.row, f.column, f.value, f.rule) for f in stray.findings]
    assert found == [
        (5, "ref_area", "", "register_code_in_codelist"),
        (6, "time_period", "22", "register_code_in_codelist"),
        (7, "ref_area", "../x", "register_code_in_codelist"),
    ]
    clean = crafted(rows[:3], tmp_path / "clean.csv")
    none = stray_units(RegisterFile(path=clean, mapping="make_register"), SCHEMAS)
    assert (none.count, none.findings) == (0, [])


def test_process_partitions__missing_column__every_partition_blocked(
    tmp_path: Path,
) -> None:
    rows = [unit() for _ in range(3)] + [
        unit(ref_area="ESP", region="ES-CT") for _ in range(3)
    ]
    path = crafted(rows, tmp_path / "reg.parquet")
    pd.read_parquet(path).drop(columns=["wages"]).to_parquet(path, index=False)
    register = RegisterFile(path=path, mapping="make_register")
    results = process_partitions(register, SCHEMAS, ["ESP_2022", "PRT_2022"])
    assert set(results) == {"ESP_2022", "PRT_2022"}
    for result in results.values():
        assert result.blocked and result.observations.empty
        assert [f.rule for f in result.findings] == ["required_column_present"]
