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
    ("name", "content"),
    [("reg.xlsx", b"PK"), ("broken.parquet", b"not parquet"), ("none.csv", None)],
)
def test_unusable__exit_2__message_not_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes | None
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["check-register", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sse-stats: ") and "Traceback" not in err
    assert name in err


def test_unknown_mapping__exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = crafted(_units(), tmp_path / "reg.csv")
    assert main(["check-register", str(path), "--mapping", "../../etc"]) == 2
    assert "sse-stats: " in capsys.readouterr().err
