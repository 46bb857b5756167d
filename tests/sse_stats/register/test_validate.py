"""Unit-level validation: a bad unit is named with its id and line; severity decides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.register import process_register, validation_only
from sse_stats.register.mapping import load_register_mapping
from sse_stats.register.process import connect
from sse_stats.register.source import Units, column_types
from sse_stats.register.validate import _id_range

from .conftest import SCHEMAS, crafted, unit

MAPPING = load_register_mapping(SCHEMAS, "make_register")


def _units(n: int = 12, **changes: object) -> list[dict[str, object]]:
    return [unit(employees=5 + i, fte=4.0 + i, **changes) for i in range(n)]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_negative_count__error__blocks_and_names_unit_and_line(
    tmp_path: Path, suffix: str
) -> None:
    """CSV line = row index + 2 (header on line 1); Parquet row = row index + 1."""
    rows = _units()
    rows[5] = unit(employees=-3, fte=0.0, wages=0, employer_social_contributions=0)
    path = crafted(rows, tmp_path / f"reg.{suffix}")
    result = process_register(path, SCHEMAS)
    assert result.blocked
    assert result.observations.empty and result.tables == {}
    (finding,) = [f for f in result.findings if f.rule == "register_value_not_negative"]
    line = 5 + (2 if suffix == "csv" else 1)
    assert (finding.row, finding.column, finding.value) == (line, "employees", "-3")
    assert finding.severity == "error"
    assert finding.message == (
        f'reg.{suffix}, row {line}, column "employees": unit "6": value "-3" is '
        "negative (count cannot be) (rule: register_value_not_negative)"
    )
    assert result.outcomes["register_value_not_negative"][1] == 1


def test_warning_rule__unit_reported_and_aggregated(tmp_path: Path) -> None:
    """FTE above the head count is a warning: reported, not blocking, counted."""
    rows = _units()
    rows[3] = unit(employees=2, fte=7.5)
    path = crafted(rows, tmp_path / "reg.csv")
    result = process_register(path, SCHEMAS, tables=False)
    assert not result.blocked
    (finding,) = result.findings
    assert finding.rule == "register_fte_not_above_employees"
    assert (finding.row, finding.severity, finding.value) == (5, "warning", "7.5")
    assert 'unit "4": fte "7.5" is above employees 2' in finding.message
    units = result.observations.query(
        "measure == 'N_UNITS' and sse_entity == '_T' and activity == '_T' "
        "and region == '_T' and inst_sector == '_T'"
    )
    assert units["obs_value"].tolist() == [12.0]


def test_severity_from_rule_file__same_unit_blocks_or_not(
    tmp_path: Path, schemas_copy: Callable[[Mapping[str, str]], Path]
) -> None:
    """The statistician decides: as a warning, the negative unit no longer blocks."""
    rows = _units()
    rows[5] = unit(employees=-3, fte=0.0, wages=0, employer_social_contributions=0)
    path = crafted(rows, tmp_path / "reg.parquet")
    assert process_register(path, SCHEMAS, tables=False).blocked
    relaxed = schemas_copy({"register_value_not_negative": "warning"})
    result = process_register(path, relaxed, tables=False)
    assert not result.blocked
    assert {f.severity for f in result.findings} == {"warning"}
    (finding,) = [f for f in result.findings if f.rule == "register_value_not_negative"]
    assert (finding.severity, finding.row) == ("warning", 6)
    emp = result.observations.query(
        "measure == 'EMP_PS' and sse_entity == '_T' and activity == '_T' "
        "and region == '_T'"
    )
    # The bad unit is kept as it is: 5+6+...+16 without unit 6 (10), plus -3.
    assert emp["obs_value_text"].tolist() == [
        str(sum(5 + i for i in range(12)) - 10 - 3)
    ]


def test_findings_capped_per_rule__every_failing_unit_counted(tmp_path: Path) -> None:
    rows = [unit(gross_value_added=1, employees=5, fte=4.0) for _ in range(30)]
    path = crafted(rows, tmp_path / "reg.parquet")
    result = validation_only(path, SCHEMAS, limit=7)
    listed = [f for f in result.findings if f.rule == "register_identity_b1g"]
    assert [f.row for f in listed] == list(range(1, 8))
    assert result.outcomes["register_identity_b1g"] == (0, 30, 0)
    assert "is not output − intermediate_consumption" in listed[0].message


def test_unreadable_and_empty_values__not_a_number(tmp_path: Path) -> None:
    rows = _units(4)
    rows[1] = unit(output="12x", intermediate_consumption=400, gross_value_added=600)
    rows[2] = unit(members_f="")
    path = crafted(rows, tmp_path / "reg.csv")
    result = validation_only(path, SCHEMAS)
    found = {
        (f.row, f.column, f.value)
        for f in result.findings
        if f.rule == "register_value_is_number"
    }
    assert found == {(3, "output", "12x"), (4, "members_f", None)}


def test_repeated_unit_id__reported_on_the_later_line(tmp_path: Path) -> None:
    rows = _units(5)
    path = crafted(rows, tmp_path / "reg.csv")
    text = path.read_text(encoding="utf-8").splitlines()
    text[4] = "2" + text[4][1:]  # line 5 (unit 4) takes the id of line 3
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = validation_only(path, SCHEMAS)
    (finding,) = [f for f in result.findings if f.rule == "register_unit_id_unique"]
    assert (finding.row, finding.value) == (5, "2")
    assert "repeats the unit of row 3" in finding.message


@pytest.mark.parametrize(
    ("ids", "bitmap"),
    [
        ([1, 2, 3, 2, 5], True),  # integers in a narrow range: counted by a bitmap
        ([1, 2, 3, 2, 1 << 40], False),  # too wide for a bitmap: hashed
        (["a1", "a2", "a3", "a2", "a5"], False),  # text ("7" is not "07"): hashed
        ([None, 2, 3, 2, None], True),  # missing ids are not repeats
    ],
)
def test_repeated_unit_id__counted_whatever_the_id_type(
    tmp_path: Path, ids: list[object], bitmap: bool
) -> None:
    frame = pd.read_parquet(crafted(_units(5), tmp_path / "reg.parquet"))
    text = isinstance(ids[2], str)
    frame["unit_id"] = pd.Series(ids, dtype=object if text else "Int64")
    path = tmp_path / "ids.parquet"
    frame.to_parquet(path, index=False)
    con = connect()
    try:
        units = Units(mapping=MAPPING, path=path, types=column_types(con, path))
        assert (_id_range(con, units) is not None) == bitmap
    finally:
        con.close()
    result = validation_only(path, SCHEMAS)
    with_id = sum(i is not None for i in ids)
    assert result.outcomes["register_unit_id_unique"] == (with_id - 1, 1, 5 - with_id)
    (finding,) = [f for f in result.findings if f.rule == "register_unit_id_unique"]
    assert (finding.row, finding.value) == (4, str(ids[3]))  # record 4


def test_bad_codes__listed_by_line__region_checked_against_country(
    tmp_path: Path,
) -> None:
    rows = _units(6)
    rows[1] = unit(activity="ZZ")
    rows[2] = unit(region="ES-CT")  # a Spanish region in a Portuguese unit
    rows[3] = unit(sse_entity="COOP")  # a cooperative without type or level
    path = crafted(rows, tmp_path / "reg.csv")
    result = process_register(path, SCHEMAS, tables=False)
    assert result.blocked
    found = {(f.rule, f.row, f.column, f.value) for f in result.findings}
    assert found == {
        ("register_code_in_codelist", 3, "activity", "ZZ"),
        ("register_code_in_codelist", 4, "region", "ES-CT"),
        ("register_coop_codes_apply", 5, "coop_type", "_Z"),
        ("register_coop_codes_apply", 5, "coop_level", "_Z"),
    }


def test_bad_code_as_warning__unit_counted_under_unknown(
    tmp_path: Path, schemas_copy: Callable[[Mapping[str, str]], Path]
) -> None:
    rows = _units(6)
    rows[1] = unit(activity="ZZ")
    path = crafted(rows, tmp_path / "reg.parquet")
    relaxed = schemas_copy({"register_code_in_codelist": "warning"})
    result = process_register(path, relaxed, tables=False)
    assert not result.blocked
    cells = result.observations.query("measure == 'N_UNITS' and sse_entity == '_T'")
    by_activity = dict(zip(cells["activity"], cells["obs_value"], strict=True))
    assert by_activity == {"Q": 5.0, "_U": 1.0, "_T": 6.0}


def test_missing_column__required_column_present(tmp_path: Path) -> None:
    path = crafted(_units(3), tmp_path / "reg.parquet")
    frame = __import__("pandas").read_parquet(path).drop(columns=["wages"])
    frame.to_parquet(path, index=False)
    result = process_register(path, SCHEMAS)
    assert result.blocked
    assert [(f.rule, f.column) for f in result.findings] == [
        ("required_column_present", "wages")
    ]


def test_one_bad_country__blocks_only_itself(tmp_path: Path) -> None:
    """A negative head count in Spain blocks Spain; Portugal is published, and
    its slice equals a run of Portugal alone."""
    rows = _units(6)
    spain = [unit(ref_area="ESP", region="ES-CT", employees=5 + i) for i in range(6)]
    spain[2] = unit(ref_area="ESP", region="ES-CT", employees=-3, fte=0.0, wages=0,
                    employer_social_contributions=0)  # fmt: skip
    path = crafted(rows + spain, tmp_path / "reg.parquet")
    whole = process_register(path, SCHEMAS)
    assert whole.blocked and whole.blocked_partitions == [("ESP", "2022")]
    assert set(whole.observations["ref_area"]) == {"PRT"}
    esp = whole.for_partition(("ESP", "2022"))
    assert esp.blocked and esp.observations.empty and esp.units == 6
    assert [(f.rule, f.row) for f in esp.findings if f.severity == "error"] == [
        ("register_value_not_negative", 9)  # record 9: the third Spanish unit
    ]
    prt = whole.for_partition(("PRT", "2022"))
    alone = process_register(path, SCHEMAS, ref_area="PRT", time_period="2022")
    assert not prt.blocked and not alone.blocked
    assert (prt.units, prt.outcomes, prt.findings) == (
        alone.units,
        alone.outcomes,
        alone.findings,
    )
    pd.testing.assert_frame_equal(prt.observations, alone.observations)
    for name, table in alone.tables.items():
        pd.testing.assert_frame_equal(prt.tables[name], table)


def test_panel__one_unit_in_two_years__not_a_repeat(tmp_path: Path) -> None:
    """An identifier is unique within its country and year: a unit in every year
    of a panel is not counted twice, the same unit twice in one year is."""
    rows = [unit(unit_id=i) for i in range(1, 5)]
    rows += [unit(unit_id=i, time_period=2023) for i in range(1, 5)]
    path = crafted(rows, tmp_path / "panel.parquet", number=False)
    result = validation_only(path, SCHEMAS)
    assert result.outcomes["register_unit_id_unique"] == (8, 0, 0)
    rows.append(unit(unit_id=3, time_period=2023))  # record 9 repeats record 7
    crafted(rows, path, number=False)
    result = validation_only(path, SCHEMAS)
    assert result.outcomes["register_unit_id_unique"] == (8, 1, 0)
    (finding,) = [f for f in result.findings if f.rule == "register_unit_id_unique"]
    assert (finding.row, finding.value) == (9, "3")
    assert "repeats the unit of row 7" in finding.message
    assert result.by_partition[("PRT", "2022")].outcomes["register_unit_id_unique"] == (
        4,
        0,
        0,
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_empty_values__counted_per_rule(tmp_path: Path, suffix: str) -> None:
    """Empty values are failures of register_value_is_number and make the
    sign test not applicable, counted per column, whatever the file type (Parquet
    integer columns with nulls are counted from the column, not per unit)."""
    rows = _units(5)
    frame = pd.DataFrame(rows)
    frame["unit_id"] = range(1, 6)
    frame["members_f"] = pd.array([1, None, 3, None, 5], dtype="Int64")
    frame["employees"] = pd.array([5, 6, None, 8, 9], dtype="Int64")
    path = tmp_path / f"reg{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    result = validation_only(path, SCHEMAS)
    mapping = load_register_mapping(SCHEMAS, "make_register")
    values = len(mapping.variables)
    signed = sum(not v.may_be_negative for v in mapping.variables.values())
    assert result.outcomes["register_value_is_number"] == (5 * values - 3, 3, 0)
    assert result.outcomes["register_value_not_negative"] == (5 * signed - 3, 0, 3)
