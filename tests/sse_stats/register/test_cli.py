"""`sse-stats check-register`: a register checked before it is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.cli import main

from .conftest import crafted, unit


def _units() -> list[dict[str, object]]:
    rows = [unit(employees=5 + i) for i in range(6)]
    rows += [unit(ref_area="ESP", region="ES-CT", employees=5 + i) for i in range(6)]
    return rows


def test_clean_register__exit_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crafted(_units(), tmp_path / "reg.csv")
    assert main(["check-register", str(path)]) == 0
    out = capsys.readouterr().out
    assert "12 units in 2 countries and years" in out and "nothing blocked" in out


def test_bad_unit__exit_1__json_names_line_and_blocked_country(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _units()
    rows[8] = unit(ref_area="ESP", region="ES-CT", employees=-4, fte=0.0, wages=0,
                   employer_social_contributions=0)  # fmt: skip
    path = crafted(rows, tmp_path / "reg.csv")
    assert main(["check-register", str(path), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["blocked"] == ["ESP_2022"]
    assert doc["partitions"]["PRT_2022"]["blocked"] is False
    (finding,) = [f for f in doc["findings"] if f["severity"] == "error"]
    assert (finding["row"], finding["column"], finding["value"], finding["rule"]) == (
        10,  # CSV line: header on line 1, the ninth unit on line 10
        "employees",
        "-4",
        "register_value_not_negative",
    )
    assert doc["outcomes"]["register_value_not_negative"]["fails"] == 1


def test_missing_column__exit_1__required_column_present(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crafted(_units(), tmp_path / "reg.parquet")
    pd.read_parquet(path).drop(columns=["wages"]).to_parquet(path, index=False)
    assert main(["check-register", str(path)]) == 1
    assert 'column "wages"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("reg.xlsx", b"PK",
         "reg.xlsx: a register is a .csv or .parquet file, one row per unit"),
        ("broken.parquet", b"not parquet",
         "broken.parquet: cannot be read as a parquet register (Invalid Input "
         "Error: File '{path}' too small to be a Parquet file) "
         "(rule: file_is_readable)"),
        ("none.csv", None, "{path}: no such file"),
    ],
)  # fmt: skip
def test_unusable__exit_2__one_line_not_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: bytes | None,
    message: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["check-register", str(path)]) == 2
    err = capsys.readouterr().err
    prefix = "sse-stats: usage error: " if content is not None else "sse-stats: "
    assert err == prefix + message.format(path=path) + "\n"


def test_unknown_mapping__exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crafted(_units(), tmp_path / "reg.csv")
    assert main(["check-register", str(path), "--mapping", "../../etc"]) == 2
    assert capsys.readouterr().err == (
        "sse-stats: schema file error: ../../etc.yaml: (file): not a mapping name\n"
    )


def test_empty_file__every_column_missing__whole_file_blocked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert main(["check-register", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        'empty.csv, row 1, column "activity": the register has no column '
        '"activity" (mapping registers/make_register.yaml) '
        "(rule: required_column_present)"
    )
    assert lines[-1] == (
        "empty.csv: 0 units in 0 countries and years; 19 errors, 0 warnings "
        "listed; blocked: the whole file"
    )


def test_limit_below_one__exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crafted(_units(), tmp_path / "reg.csv")
    assert main(["check-register", str(path), "--limit", "0"]) == 2
    assert capsys.readouterr().err == "sse-stats: --limit must be at least 1\n"
