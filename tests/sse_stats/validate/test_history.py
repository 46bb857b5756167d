"""Level 2: growth between years and revisions between editions (pipeline only)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue
from sse_stats.validate.history import check_history

ROOT = Path(__file__).resolve().parents[3]
NSO = ROOT / "tests" / "fixtures" / "nso"


def _frame(name: str, schema: Schema, cat: RuleCatalogue) -> pd.DataFrame:
    from tests.sse_stats.harmonise.test_apply import harmonise_file

    folder = "good" if (NSO / "good" / name).exists() else "bad"
    return harmonise_file(NSO / folder / name, schema, cat).frame


def _money(schema: Schema) -> list[str]:
    return [m.id for m in schema.measures.values() if m.is_money]


def test_check_history__second_prt_edition__findings_as_listed(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """PRT edition 2 against edition 1 gives exactly the 18 pipeline findings listed."""
    first = _frame("PRT_2019-2020.csv", schema, catalogue)
    second = _frame("PRT__edition2_revision_plus60pct_no_break.csv", schema, catalogue)
    result = check_history(
        second, first, catalogue=catalogue, file="x.csv", money_measures=_money(schema)
    )
    with (NSO / "expected_findings.csv").open(encoding="utf-8", newline="") as handle:
        expected = {
            (int(r["row"]), r["column"], r["rule"], r["severity"])
            for r in csv.DictReader(handle)
            if r["scope"] == "pipeline"
        }
    got = {(f.row, f.column, f.rule, f.severity) for f in result.findings}
    assert got == expected
    assert len(result.findings) == 18


def test_check_history__first_edition_alone__no_finding(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """The good PRT file alone: its 2019→2020 changes are small, nothing to revise."""
    first = _frame("PRT_2019-2020.csv", schema, catalogue)
    result = check_history(
        first, None, catalogue=catalogue, file="x.csv", money_measures=_money(schema)
    )
    assert result.findings == []
    assert result.outcomes["growth_within_threshold"][0] > 0


def test_check_history__break_flag__explains_jump(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """OBS_STATUS B on the later year silences the growth warning."""
    second = _frame("PRT__edition2_revision_plus60pct_no_break.csv", schema, catalogue)
    flagged = second.copy()
    flagged.loc[flagged["source_row"] == 13, "obs_status"] = "B"
    result = check_history(
        flagged, None, catalogue=catalogue, file="x.csv", money_measures=_money(schema)
    )
    assert [f for f in result.findings if f.rule == "growth_within_threshold"] == []
    unflagged = check_history(
        second, None, catalogue=catalogue, file="x.csv", money_measures=_money(schema)
    )
    assert {f.row for f in unflagged.findings} == {13}


@pytest.mark.parametrize("measure", ["N_UNITS", "B1G"])
def test_check_history__multipliers__compared_in_base_units(
    measure: str, schema: Schema, catalogue: RuleCatalogue
) -> None:
    """1.2 (millions) after 1000 (thousands) is +20 %, not a 1000-fold jump."""
    base = _frame("PRT_2019-2020.csv", schema, catalogue)
    rows = base[(base.measure == measure) & (base.sse_entity == "COOP")].copy()
    rows["obs_value_text"] = ["1000", "1.2"]
    rows["obs_value"] = [1000.0, 1.2]
    rows["unit_mult"] = pd.array([3, 6], dtype="Int64")
    result = check_history(
        rows, None, catalogue=catalogue, file="x.csv", money_measures=_money(schema)
    )
    assert result.findings == []
    assert result.outcomes["growth_within_threshold"][0] == 1
