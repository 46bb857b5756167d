"""`sse-stats check` on every NSO fixture gives the listed exit code and findings.

The expected outcomes come from tests/fixtures/nso/expected_findings.csv (a copy
of shared/fixtures): for each bad file, the complete list of error and warning
findings (row, column, rule), infos aside.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from sse_stats.check import check_submission, country_from_name, is_template

ROOT = Path(__file__).resolve().parent.parent
NSO = ROOT / "tests" / "fixtures" / "nso"
SCHEMAS = ROOT / "schemas"


def _expected() -> dict[str, tuple[int, set[tuple[int | None, str | None, str]]]]:
    table: dict[str, tuple[int, set[tuple[int | None, str | None, str]]]] = {}
    findings: dict[str, set[tuple[int | None, str | None, str]]] = defaultdict(set)
    with (NSO / "expected_findings.csv").open(encoding="utf-8", newline="") as handle:
        for rec in csv.DictReader(handle):
            if rec["scope"] != "check":
                continue
            if rec["rule"]:
                findings[rec["file"]].add(
                    (
                        int(rec["row"]) if rec["row"] else None,
                        rec["column"] or None,
                        rec["rule"],
                    )
                )
            table[rec["file"]] = (int(rec["check_exit_code"]), findings[rec["file"]])
    return table


EXPECTED = _expected()


def _check(path: Path):  # type: ignore[no-untyped-def]
    country = None if is_template(path) else country_from_name(path.name)
    return check_submission(path, schemas_dir=SCHEMAS, country=country)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check__bad_fixture__exit_code_and_findings_as_listed(name: str) -> None:
    """Each bad file gives exactly its listed exit code and error/warning findings."""
    exit_code, findings = EXPECTED[name]
    report = _check(NSO / "bad" / name)
    got = {(f.row, f.column, f.rule) for f in report.findings if f.severity != "info"}
    assert (report.exit_code, got) == (exit_code, findings), report.head_text()


@pytest.mark.parametrize("name", sorted(p.name for p in (NSO / "good").glob("*.csv")))
def test_check__good_fixture__no_error_no_warning(name: str) -> None:
    """Each good file passes: exit 0 and no error or warning finding."""
    report = _check(NSO / "good" / name)
    assert report.exit_code == 0
    assert [f.message for f in report.findings if f.severity != "info"] == []
