"""`sse-stats check`: exit codes, JSON document, usage errors, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sse_stats.cli import main

ROOT = Path(__file__).resolve().parents[2]
NSO = ROOT / "tests" / "fixtures" / "nso"


def _json(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> tuple[int, dict[str, object]]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_main__good_template__exit_0_json_contract(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A good template file exits 0 with the contract's keys and no error."""
    code, doc = _json(
        capsys,
        ["check", str(NSO / "good" / "template_MEX_2019-2020.csv"), "--format", "json"],
    )
    assert code == 0
    assert {"file", "findings", "summary", "errors", "warnings", "infos"} <= set(doc)
    assert (doc["file"], doc["errors"]) == ("template_MEX_2019-2020.csv", 0)


def test_main__bad_national__exit_1_finding_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An error finding gives exit 1 and a finding with the eight contract fields."""
    code, doc = _json(
        capsys,
        [
            "check",
            str(NSO / "bad" / "PRT__vab_not_production_minus_ic.csv"),
            "--country",
            "PRT",
            "--format",
            "json",
        ],
    )
    assert code == 1
    errors = [f for f in doc["findings"] if f["severity"] == "error"]  # type: ignore[union-attr,index]
    assert [(f["row"], f["column"], f["rule"], f["level"]) for f in errors] == [
        (12, "VAB", "identity_b1g", 1)
    ]
    assert set(errors[0]) == {
        "file",
        "row",
        "column",
        "value",
        "rule",
        "level",
        "severity",
        "message",
    }


def test_main__utf16__exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """An unusable file exits 2 and still prints the JSON document."""
    code, doc = _json(
        capsys,
        [
            "check",
            str(NSO / "bad" / "PRT__undeclared_encoding_utf16.csv"),
            "--country",
            "PRT",
            "--format",
            "json",
        ],
    )
    assert code == 2
    assert [f["rule"] for f in doc["findings"]] == ["file_is_utf8"]  # type: ignore[union-attr,index]


@pytest.mark.parametrize(
    "argv",
    [
        ["check", str(NSO / "good" / "PRT_2019-2020.csv")],  # national, no --country
        ["check", str(NSO / "good" / "PRT_2019-2020.csv"), "--country", "ZZZ"],
        ["check", str(NSO / "good" / "PRT_2019-2020.csv"), "--country", "../etc"],
        ["check", str(NSO / "good" / "template_MEX_2019-2020.csv"), "--country", "mex"],
        ["check", "/nonexistent/file.csv"],
        ["check"],
        ["frobnicate"],
    ],
)
def test_main__usage_error__exit_2_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Usage errors exit 2 with a message on stderr, never a traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() and "Traceback" not in err


def test_main__text_format__summary_and_first_findings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The text report names the status, the failing rule and the cell."""
    code = main(["check", str(NSO / "bad" / "template__share_above_100.csv")])
    out = capsys.readouterr().out
    assert code == 1
    assert "rejected" in out and "share_in_range" in out and "row 28" in out


def test_cli__subprocess__writes_nothing(tmp_path: Path) -> None:
    """Run as a command in an empty folder: exit 1 for a bad file and no file is
    created."""
    before = set(ROOT.joinpath("data").rglob("*"))
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sse_stats",
            "check",
            str(NSO / "bad" / "KEN__negative_members.csv"),
            "--country",
            "KEN",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert "value_not_negative" in completed.stdout
    assert list(tmp_path.iterdir()) == []
    assert set(ROOT.joinpath("data").rglob("*")) == before


def test_main__huge_header_name__findings_stay_small(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 100 000-character column name is cut in the finding, saying how much."""
    path = tmp_path / "long.csv"
    path.write_text("STRUCTURE," + "X" * 100_000 + "\n", encoding="utf-8")
    code, doc = _json(capsys, ["check", str(path), "--format", "json"])
    assert code == 1
    known = [f for f in doc["findings"] if f["rule"] == "column_is_known"]  # type: ignore[union-attr]
    assert len(known) == 1 and len(known[0]["message"]) < 1500
    assert "more characters" in known[0]["message"]
