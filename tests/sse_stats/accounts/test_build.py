"""Satellite tables follow schema.md §9.1 rules 1-7 on the fixtures and small frames."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd
import pytest

from sse_stats.accounts import SATELLITE_COLUMNS, build_table, build_table_with_findings
from sse_stats.accounts.build import SortKeys, _Builder, _perimeters, select_editions
from sse_stats.accounts.cells import derivation_inputs, is_suppressed, key_of
from sse_stats.accounts.shells import TableShell

T1 = "t01_key_aggregates_by_entity"
T10 = "t10_share_series"
SHELL_NAMES = [
    "t01_key_aggregates_by_entity",
    "t02_key_aggregates_by_activity",
    "t03_production_account",
    "t04_resources",
    "t05_entity_by_sector",
    "t06_work",
    "t07_coop_membership",
    "t08_volunteer_work",
    "t09_regions",
    "t10_share_series",
]
# Cells per table on the six good fixtures (the golden files hold the cells).
ROWS_ON_FIXTURES = {
    "t01_key_aggregates_by_entity": 273,
    "t02_key_aggregates_by_activity": 88,
    "t03_production_account": 146,
    "t04_resources": 0,
    "t05_entity_by_sector": 79,
    "t06_work": 23,
    "t07_coop_membership": 81,
    "t08_volunteer_work": 0,
    "t09_regions": 250,
    "t10_share_series": 59,
}

Pick = Callable[..., pd.DataFrame]
Make = Callable[[list[dict[str, object]]], pd.DataFrame]


def one(frame: pd.DataFrame) -> pd.Series:
    """The single row of a selection."""
    assert len(frame) == 1, frame
    return frame.iloc[0]


@pytest.mark.parametrize("name", SHELL_NAMES)
def test_build_table__every_shell__builds_from_fixtures_and_from_empty(
    name: str, shells: Mapping[str, TableShell], tables: Mapping[str, pd.DataFrame]
) -> None:
    """Each shell builds on the fixtures (known cell count) and on an empty frame."""
    assert len(tables[name]) == ROWS_ON_FIXTURES[name]
    assert list(tables[name].columns) == list(SATELLITE_COLUMNS)
    empty = build_table(pd.DataFrame(), shells[name])
    assert empty.empty and list(empty.columns) == list(SATELLITE_COLUMNS)


def test_build_table__submitted_cells__kept_as_published(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """PRT 2019 COOP P1 is 3618.4 × 10^6 from line 5, not derived, flags as sent."""
    cell = one(
        cells(
            tables[T1],
            ref_area="PRT",
            time_period="2019",
            sse_entity="COOP",
            measure="P1",
        )
    )
    assert (cell.obs_value, cell.unit_mult, cell.source_row) == (3618.4, 6, 5)
    assert (cell.is_derived, cell.obs_status, cell.conf_status) == (False, "A", "F")


def test_build_table__presentation_multiplier__named_step_keeps_originals(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """ESP P1 in thousands (7426440, 3) is shown in millions; the original stays."""
    cell = one(
        cells(
            tables["t03_production_account"],
            ref_area="ESP",
            time_period="2008",
            sse_entity="NATECON",
            measure="P1",
        )
    )
    assert (cell.obs_value, cell.unit_mult) == (2064318772.0, 3)
    assert (cell.obs_value_published, cell.unit_mult_published) == (2064318.772, 6)


def test_build_table__share_row__is_total_over_natecon_times_100(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """PRT 2019: SSE share of B1G = 5339.7 / 175612.5 × 100 (both in 10^6), flag A."""
    cell = one(
        cells(
            tables[T1],
            ref_area="PRT",
            time_period="2019",
            sse_entity="_T",
            measure="SHARE_NAT",
            share_base="B1G",
        )
    )
    assert cell.obs_value == pytest.approx(5339.7 / 175612.5 * 100, rel=1e-12)
    assert (cell.unit_measure, cell.unit_mult, cell.base_measure) == ("PC", 0, "B1G")
    assert cell.is_derived and cell.derivation.startswith("sse_share_of_national:")


def test_build_table__share_row__provisional_denominator_gives_p(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """PRT 2020 national figures are `Pe` (P): the computed share is P."""
    cell = one(
        cells(
            tables[T1],
            ref_area="PRT",
            time_period="2020",
            sse_entity="_T",
            measure="SHARE_NAT",
            share_base="D1",
        )
    )
    assert cell.obs_status == "P"


def test_build_table__mixed_multipliers__share_scaled_in_base_units(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """Cooperatives and SSE in 10^6, NATECON in 10^9: 500.3e6 / 2450.7e9 × 100."""
    frame = make_frame(
        [
            {
                "sse_entity": "COOP",
                "sse_entity_nat": "_T",
                "coop_type": "_T",
                "coop_level": "_T",
                "value": "500.3",
                "unit_mult": 6,
            },
            {"sse_entity": "_T", "value": "500.3", "unit_mult": 6},
            {"sse_entity": "NATECON", "value": "2450.7", "unit_mult": 9},
        ]
    )
    table = build_table(frame, shells[T1])
    share = one(cells(table, sse_entity="_T", measure="SHARE_NAT"))
    assert share.obs_value == pytest.approx(500.3e6 / 2450.7e9 * 100, rel=1e-12)
    natecon = one(cells(table, sse_entity="NATECON", measure="B1G"))
    assert (natecon.obs_value, natecon.unit_mult) == (2450.7, 9)
    assert (natecon.obs_value_published, natecon.unit_mult_published) == (2450700.0, 6)


def test_build_table__submitted_share__wins_over_computed(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """MEX 2019 published SHARE_NAT 2.8 (B1G) is kept, not replaced by 2.832."""
    cell = one(
        cells(
            tables[T10],
            ref_area="MEX",
            time_period="2019",
            measure="SHARE_NAT",
            share_base="B1G",
        )
    )
    assert (cell.obs_value, cell.is_derived, cell.source_row) == (2.8, False, 28)


def test_build_table__group_from_exhaustive_subgroups__sum_with_flags(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """PRT ASSOC (absent) = Misericórdias + ACFA, 2019 B1G 755.2 + 2911.3."""
    cell = one(
        cells(
            tables[T1],
            ref_area="PRT",
            time_period="2019",
            sse_entity="ASSOC",
            sse_entity_nat="_T",
            measure="B1G",
        )
    )
    assert cell.obs_value == pytest.approx(3666.5)
    assert (cell.unit_mult, cell.is_derived) == (6, True)
    assert "PRT_ACFA + PRT_MISERICORDIA" in cell.derivation


@pytest.mark.parametrize("table", SHELL_NAMES)
def test_build_table__prt_2020_confidential_d1__never_filled(
    table: str, tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """The `x` cells of PRT 2020 Remunerações stay empty, Q, C, in every table."""
    found = cells(
        tables[table],
        ref_area="PRT",
        time_period="2020",
        measure="D1",
        sse_entity_nat="_T",
        sse_entity="MUTUAL",
    )
    found = pd.concat(
        [
            found,
            cells(
                tables[table],
                ref_area="PRT",
                time_period="2020",
                measure="D1",
                sse_entity_nat="PRT_COMMUNITY_SELFMAN",
            ),
        ]
    )
    for _, cell in found.iterrows():
        assert math.isnan(cell.obs_value) and math.isnan(cell.obs_value_published)
        assert (cell.obs_status, cell.conf_status, cell.is_derived) == ("Q", "C", False)


def test_build_table__prt_2020_confidential_input__every_derived_cell_suppressed(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """Cells computed from an `x` cell are published empty with Q and S."""
    t1 = tables[T1]
    for entity, nat, measure in [
        ("MUTUAL", "_T", "D1_PER_FTE"),
        ("OTHER", "_T", "D1"),
        ("OTHER", "_T", "D1_PER_FTE"),
        ("OTHER", "PRT_COMMUNITY_SELFMAN", "D1_PER_FTE"),
    ]:
        cell = one(
            cells(
                t1,
                ref_area="PRT",
                time_period="2020",
                sse_entity=entity,
                sse_entity_nat=nat,
                measure=measure,
            )
        )
        assert cell.is_derived and math.isnan(cell.obs_value), (entity, measure)
        assert (cell.obs_status, cell.conf_status) == ("Q", "S")
        assert "confidential" in cell.note


@pytest.mark.parametrize("table", SHELL_NAMES)
def test_build_table__any_table__derived_cell_with_suppressed_input_is_suppressed(
    table: str, tables: Mapping[str, pd.DataFrame], shells: Mapping[str, TableShell]
) -> None:
    """In every table, no derived cell has a value when an input is suppressed."""
    frame = tables[table]
    by_key = {key_of(c): c for c in frame.to_dict("records")}
    shell = shells[table]
    for cell in by_key.values():
        if not cell["is_derived"]:
            continue
        derivation = shell.derivation(cell["derivation"].split(":", 1)[0])
        inputs = [
            by_key.get(key_of(t))
            for t, _ in derivation_inputs(derivation, cell, shell.context)
        ]
        if any(c is not None and is_suppressed(c) for c in inputs):
            assert math.isnan(cell["obs_value"]), cell
            assert (cell["obs_status"], cell["conf_status"]) == ("Q", "S")


def test_build_table__fra_s_cells__stay_confidential_in_derived_cells(
    observations: pd.DataFrame, shells: Mapping[str, TableShell], cells: Pick
) -> None:
    """FRA foundations `s` by activity, read as an SSE total by activity (T2).

    The derived shares and ratios of sections A and S are empty with Q/S and the
    `s` cells are never rebuilt from the foundations' total minus other sections.
    """
    fra = observations[
        (observations.ref_area == "FRA") & (observations.sse_entity == "FOUND")
    ].copy()
    fra["sse_entity"], fra["sse_entity_nat"] = "_T", "_Z"
    natecon = fra[fra.measure == "EMP_FTE"].copy()
    natecon["sse_entity"], natecon["obs_status"], natecon["conf_status"] = (
        "NATECON",
        "A",
        "F",
    )
    natecon["obs_value"], natecon["obs_value_text"] = 1e6, "1000000"
    table = build_table(
        pd.concat([fra, natecon], ignore_index=True),
        shells["t02_key_aggregates_by_activity"],
    )
    for section in ("A", "S"):
        level = one(cells(table, activity=section, sse_entity="_T", measure="EMP_FTE"))
        assert math.isnan(level.obs_value) and level.conf_status == "C"
        assert level.obs_status_nat == "s" and not level.is_derived
        share = one(cells(table, activity=section, measure="SHARE_NAT"))
        assert math.isnan(share.obs_value)
        assert (share.obs_status, share.conf_status) == ("Q", "S")
    published = one(cells(table, activity="P", measure="SHARE_NAT"))
    assert published.obs_value == pytest.approx(7160.4 / 1e6 * 100)


def test_build_table__latest_edition_per_period__and_no_growth_across_editions(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """2020 revised in a later edition: 2019 keeps its own; no 2020 growth."""
    rows: list[dict[str, object]] = []
    for edition, year, sse, nat in [
        ("2022-01-01", "2019", "10", "1000"),
        ("2022-01-01", "2020", "11", "1100"),
        ("2023-01-01", "2020", "12", "1200"),
    ]:
        rows += [
            {"edition": edition, "time_period": year, "value": sse},
            {
                "edition": edition,
                "time_period": year,
                "sse_entity": "NATECON",
                "value": nat,
            },
        ]
    table = build_table(make_frame(rows), shells[T10])
    level = one(cells(table, time_period="2020", sse_entity="_T", measure="B1G"))
    assert (level.obs_value, level.edition) == (12.0, "2023-01-01")
    assert (
        one(cells(table, time_period="2019", sse_entity="_T", measure="B1G")).edition
        == "2022-01-01"
    )
    assert cells(table, measure="GROWTH").empty


def test_build_table__same_edition__growth_with_break_flag(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """Growth between two years of one edition; a B input gives a B growth."""
    table = build_table(
        make_frame(
            [
                {"time_period": "2019", "value": "10"},
                {"time_period": "2020", "value": "12.5", "obs_status": "B"},
            ]
        ),
        shells[T10],
    )
    growth = one(cells(table, measure="GROWTH", time_period="2020"))
    assert growth.obs_value == pytest.approx(25.0)
    assert (growth.obs_status, growth.base_measure) == ("B", "B1G")


def test_build_table__empty_edition__read_as_received_at(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """A row without EDITION takes the date its submission was received."""
    frame = make_frame([{"edition": None, "source_file": "late.csv", "value": "7"}])
    table = build_table(
        frame, shells[T1], received_at={"late.csv": "2024-05-06T10:00:00Z"}
    )
    assert one(cells(table, measure="B1G")).edition == "2024-05-06"


def test_build_table__missing_input__cell_left_out(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """NATECON B1G missing (O): no share is derived, and nothing is guessed."""
    table = build_table(
        make_frame(
            [
                {"value": "5"},
                {"sse_entity": "NATECON", "value": None, "obs_status": "O"},
            ]
        ),
        shells[T1],
    )
    assert cells(table, measure="SHARE_NAT").empty
    assert one(cells(table, sse_entity="NATECON")).obs_status == "O"


def test_build_table__mixed_coverage__note_on_derived_cell(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """A share of SSE employer units over all national units says so in its note."""
    table = build_table(
        make_frame(
            [
                {"value": "5", "coverage": "EMPLOYERS_ONLY"},
                {"sse_entity": "NATECON", "value": "100", "coverage": "ALL_REGISTERED"},
            ]
        ),
        shells[T1],
    )
    share = one(cells(table, measure="SHARE_NAT"))
    assert "Inputs differ in coverage: ALL_REGISTERED, EMPLOYERS_ONLY" in share.note
    assert (
        "Coverage: Employer units only"
        in one(cells(table, sse_entity="_T", measure="B1G")).note
    )


def test_build_table__t4_listed_resources__total_and_shares(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """T4 totals the six listed items (an M item is 0) and gives each one's share."""
    items = {
        "P11": "60",
        "P12": None,
        "P13": "30",
        "D39": "5",
        "D7_REC": "4",
        "D4_REC": "1",
    }
    rows = [
        {"measure": m, "value": v, **({"obs_status": "M"} if v is None else {})}
        for m, v in items.items()
    ]
    table = build_table(make_frame(rows), shells["t04_resources"])
    total = one(cells(table, measure="RES_LISTED"))
    assert (total.obs_value, total.is_derived) == (100.0, True)
    share = one(cells(table, measure="SHARE_RES", base_measure="P11"))
    assert share.obs_value == pytest.approx(60.0)


def test_build_table_with_findings__share_off_by_more_than_rounding__warning(
    observations: pd.DataFrame, shells: Mapping[str, TableShell]
) -> None:
    """MEX 2019 SHARE_NAT 3.5 vs 2.83 from levels: published_share_matches_levels."""
    frame = observations.copy()
    row = (
        (frame.ref_area == "MEX")
        & (frame.time_period == "2019")
        & (frame.measure == "SHARE_NAT")
    )
    frame.loc[row, ["obs_value", "obs_value_text"]] = [3.5, "3.5"]
    _, findings = build_table_with_findings(frame, shells[T10])
    assert [
        (f["rule"], f["level"], f["severity"], f["row"], f["column"], f["value"])
        for f in findings
    ] == [("published_share_matches_levels", 2, "warning", 28, "OBS_VALUE", "3.5")]
    assert "template_MEX_2019-2020.csv, row 28" in str(findings[0]["message"])


def test_build_tables__fixtures__no_share_finding(
    built: tuple[dict[str, pd.DataFrame], list[dict[str, object]]],
) -> None:
    """The MEX shares 2.8 and 3.1 agree with their levels within rounding."""
    assert built[1] == []


def test_build_table__t10_perimeter__single_group_stands_for_sse_with_note(
    tables: Mapping[str, pd.DataFrame], cells: Pick
) -> None:
    """MEX submits no SSE total: its only group (OTHER/MEX_ISFL) is the perimeter."""
    share = one(
        cells(
            tables[T10],
            ref_area="MEX",
            time_period="2019",
            measure="SHARE_NAT",
            share_base="D1",
        )
    )
    assert (share.sse_entity, share.sse_entity_nat) == ("OTHER", "MEX_ISFL")
    assert share.obs_value == pytest.approx(318032.7 / 6224817.3 * 100)
    assert "SSE perimeter: OTHER/MEX_ISFL" in share.note


def test_build_table__t8_value_of_volunteer_work__valuation_method_as_note(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """T8 shows the valuation method of VOL_VALUE as a footnote on the cell."""
    table = build_table(
        make_frame(
            [
                {
                    "measure": "VOL_VALUE",
                    "work_cat": "VOLUNTEER_ORG",
                    "sex": "_T",
                    "value": "130119.1",
                    "valuation_method": "REPLACEMENT_COST",
                }
            ]
        ),
        shells["t08_volunteer_work"],
    )
    assert one(cells(table, measure="VOL_VALUE")).note == "Valuation: Replacement cost"


def test_build_table__t9_suppressed_region__share_suppressed_others_published(
    shells: Mapping[str, TableShell], make_frame: Make, cells: Pick
) -> None:
    """Region shares of the country total; a suppressed region is never rebuilt."""
    rows: list[dict[str, object]] = [
        {"ref_area": "KEN", "region": region, "currency": "KES", "value": value}
        for region, value in [("_T", "100"), ("KE-30", "60"), ("KE-13", None)]
    ]
    rows[2].update(obs_status="Q", conf_status="C")
    table = build_table(make_frame(rows), shells["t09_regions"])
    share = one(cells(table, region="KE-30", measure="SHARE_REG"))
    assert share.obs_value == pytest.approx(60.0)
    hidden = one(cells(table, region="KE-13", measure="SHARE_REG"))
    assert math.isnan(hidden.obs_value) and hidden.conf_status == "S"
    level = one(cells(table, region="KE-13", measure="B1G"))
    assert math.isnan(level.obs_value) and not level.is_derived


@pytest.mark.parametrize("name", SHELL_NAMES)
def test_builder_membership__cached_by_signature__equals_the_verdict_of_each_cell(
    name: str, shells: Mapping[str, TableShell], observations: pd.DataFrame
) -> None:
    """The membership cache never answers for a cell what its own test would not.

    The cache is keyed by the columns the shell reads; every fixture cell and
    every output a derivation could give is judged both ways, with a fresh
    builder each time so that no verdict is reused.
    """
    pool = select_editions(observations)
    shell = shells[name]
    perimeter = _perimeters(pool.values(), shell)
    cached = _Builder(shell, pool, perimeter, SortKeys())
    cells = list(pool.items())
    for derivation in shell.derivations:
        by_measure: dict[object, dict[tuple[object, ...], dict[str, object]]] = {}
        for key, cell in pool.items():
            by_measure.setdefault(cell.get("measure"), {})[key] = cell
        cells += cached._candidates(derivation, pool, by_measure)
    verdicts = [cached._member(key, cell) for key, cell in cells]
    assert any(verdicts) or ROWS_ON_FIXTURES[name] == 0
    for (key, cell), verdict in zip(cells, verdicts, strict=True):
        fresh = _Builder(shell, pool, perimeter, SortKeys())
        assert fresh._member_uncached(cell) is verdict, key


def test_cell_key__ends_with_measure_unit_state_share_base_base_measure() -> None:
    """Ratio outputs are keyed by rewriting the key's last four parts in place."""
    from sse_stats.accounts.shells import KEY_COLUMNS

    assert KEY_COLUMNS[-4:] == ("measure", "unit_state", "share_base", "base_measure")
