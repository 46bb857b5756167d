"""Level-1 row rules on the harmonised frame (sse_stats/validate/rowrules.py).

Most rules are checked on two shared frames, evaluated once per module: GOOD
holds a passing case of every rule, BAD one defect per line. Each line of BAD
lists the (row, column, rule) findings it must give, and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sse_stats.errors import Finding
from sse_stats.harmonise.frame import curated_columns
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import Rule, RuleCatalogue
from sse_stats.validate.rowrules import RowRulesResult, check_rows

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
FILE = "URY_2021.csv"
THIS_YEAR = datetime.now(tz=UTC).year
HOSTILE = "COOP'; DROP TABLE x;--"


# --------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------


BASE: dict[str, Any] = {
    "ref_area": "URY",
    "region": "_T",
    "time_period": "2021",
    "freq": "A",
    "sse_entity": "COOP",
    "sse_entity_nat": "_T",
    "coop_type": "_T",
    "coop_level": "_T",
    "activity": "_T",
    "inst_sector": "_T",
    "sex": "_Z",
    "work_cat": "_Z",
    "member_type": "_Z",
    "measure": "P1",
    "unit_measure": "XDC",
    "unit_mult": 6,
    "currency": "UYU",
    "obs_status": "A",
    "obs_status_nat": None,
    "conf_status": "F",
    "coverage": None,
    "unit_state": None,
    "share_base": None,
    "valuation_method": None,
    "comment_obs": None,
    "source_id": "URY_SSE_SA",
    "edition": "2023-06-30",
    "source_file": FILE,
    "source_sha256": "0" * 64,
    "source_column": "OBS_VALUE",
    "mapping_file": None,
}
TEMPLATE_ORIGINS = {
    c: c for c in (k.upper() for k in BASE) if not c.startswith("SOURCE_F")
}
TEMPLATE_ORIGINS.update(OBS_VALUE="OBS_VALUE", SOURCE_ID="SOURCE_ID")


def obs(
    value: str | None = "1200.5", *, unreadable: bool = False, **cells: Any
) -> dict[str, Any]:
    """One harmonised observation: a valid cooperative P1 unless told otherwise.

    ``value`` is the published text (None = empty); ``unreadable`` keeps the
    text but no number, as after an ``obs_value_is_number`` finding.
    """
    row = {**BASE, **cells}
    number = None if value is None or unreadable else float(value)
    row.update(obs_value=number, obs_value_text=value)
    return row


def build(schema: Schema, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame with every column and dtype of the harmonised frame; rows from line 2."""
    records = [{"source_row": i + 2, **r} for i, r in enumerate(rows)]
    frame = pd.DataFrame.from_records(records, columns=curated_columns(schema))
    numeric = {"obs_value": "float64", "unit_mult": "Int64", "source_row": "int64"}
    return frame.astype({c: numeric.get(c, "str") for c in frame.columns})


def run(
    schema: Schema,
    catalogue: RuleCatalogue,
    rows: list[dict[str, Any]],
    *,
    country: str | None = None,
    origins: Mapping[str, str] | None = None,
) -> RowRulesResult:
    return check_rows(
        build(schema, rows),
        schema=schema,
        catalogue=catalogue,
        file=FILE,
        origins=TEMPLATE_ORIGINS if origins is None else origins,
        country=country,
    )


def where(
    findings: list[Finding], rule: str | None = None
) -> set[tuple[int | None, str | None, str]]:
    """(row, column, rule) of the findings (of one rule)."""
    return {
        (f.row, f.column, f.rule) for f in findings if rule is None or f.rule == rule
    }


def count_units(value: str = "1250", **cells: Any) -> dict[str, Any]:
    """A valid N_UNITS observation."""
    return obs(
        value,
        **{
            "measure": "N_UNITS",
            "unit_measure": "NUM",
            "unit_mult": 0,
            "currency": None,
            "unit_state": "ACTIVE",
            "coverage": "ACTIVE_ONLY",
            **cells,
        },
    )


def employment(
    measure: str = "EMP_FTE", value: str = "5400", **cells: Any
) -> dict[str, Any]:
    """A valid employment observation (paid employment, by default FTE)."""
    unit = {"EMP_FTE": "FTE", "EMP_PS": "PS", "EMP_JOBS": "JOBS"}[measure]
    return obs(
        value,
        **{
            "measure": measure,
            "unit_measure": unit,
            "unit_mult": 0,
            "currency": None,
            "sex": "_T",
            "work_cat": "EMP",
            "coverage": "ACTIVE_ONLY",
            **cells,
        },
    )


def volunteers(**cells: Any) -> dict[str, Any]:
    return obs(
        "310",
        **{
            "measure": "VOL_PS",
            "unit_measure": "PS",
            "unit_mult": 0,
            "currency": None,
            "sex": "_T",
            "work_cat": "VOLUNTEER_ORG",
            **cells,
        },
    )


def share(value: str = "2.8", **cells: Any) -> dict[str, Any]:
    return obs(
        value,
        **{
            "measure": "SHARE_NAT",
            "unit_measure": "PC",
            "unit_mult": 0,
            "currency": None,
            "share_base": "B1G",
            **cells,
        },
    )


# Each entry: the observation, and the findings its line must give (column, rule).
Expected = list[tuple[str | None, str]]
BAD: list[tuple[str, dict[str, Any], Expected]] = [
    ("code sse_entity", obs(sse_entity="TOTAL"), [("SSE_ENTITY", "code_in_codelist")]),
    ("code currency", obs(currency="UYX"), [("CURRENCY", "code_in_codelist")]),
    ("code unit", obs(unit_measure="EURO"), [("UNIT_MEASURE", "code_in_codelist")]),
    ("code region", obs(region="KE-30"), [("REGION", "code_in_codelist")]),
    ("code ref_area", obs(ref_area="XYZ"), [("REF_AREA", "code_in_codelist")]),
    (
        "nat elsewhere",
        obs(sse_entity_nat="PRT_ACFA"),
        [("SSE_ENTITY_NAT", "sse_entity_nat_registered")],
    ),
    (
        "nat formula",
        obs(sse_entity_nat='=HYPERLINK("http://example.invalid/x","Click")'),
        [("SSE_ENTITY_NAT", "sse_entity_nat_registered")],
    ),
    ("key first", obs("1", time_period="1990"), []),
    ("key second", obs("2", time_period="1990"), [(None, "key_is_unique")]),
    (
        "unit fte in ps",
        employment(unit_measure="PS"),
        [("UNIT_MEASURE", "unit_matches_measure")],
    ),
    (
        "unit count in eur",
        count_units(unit_measure="EUR"),
        [("UNIT_MEASURE", "unit_matches_measure")],
    ),
    ("unit empty", obs(unit_measure=None), [("UNIT_MEASURE", "unit_matches_measure")]),
    ("xdc no currency", obs(currency=None), [("CURRENCY", "currency_given")]),
    (
        "eur with usd",
        obs(unit_measure="EUR", currency="USD"),
        [("CURRENCY", "currency_given")],
    ),
    ("mult 7", obs(unit_mult=7), [("UNIT_MULT", "unit_mult_allowed")]),
    ("pc mult 3", share(unit_mult=3), [("UNIT_MULT", "unit_mult_allowed")]),
    (
        "emp volunteer",
        employment("EMP_PS", "120", work_cat="VOLUNTEER_ORG"),
        [("WORK_CAT", "volunteers_not_in_employment")],
    ),
    (
        "vol emp",
        volunteers(work_cat="EMP"),
        [("WORK_CAT", "volunteers_not_in_employment")],
    ),
    ("negative p1", obs("-5"), [("OBS_VALUE", "value_not_negative")]),
    (
        "negative p51g",
        obs("-3.1", measure="P51G"),
        [("OBS_VALUE", "p51g_not_negative")],
    ),
    ("share 283", share("283.2"), [("OBS_VALUE", "share_in_range")]),
    ("share negative", share("-1"), [("OBS_VALUE", "share_in_range")]),
    ("share no base", share(share_base=None), [("SHARE_BASE", "share_base_given")]),
    ("share base gdp", share(share_base="GDP"), [("SHARE_BASE", "share_base_given")]),
    ("count 12.5", count_units("12.5"), [("OBS_VALUE", "count_is_whole")]),
    (
        "confidential value",
        obs("3951.7", obs_status="Q", conf_status="C"),
        [
            ("OBS_VALUE", "confidential_value_is_empty"),
            ("OBS_VALUE", "missing_status_value_is_empty"),
        ],
    ),
    (
        "confidential O",
        obs(None, obs_status="O", conf_status="C"),
        [("OBS_STATUS", "confidential_status_is_q")],
    ),
    (
        "missing M",
        obs("5", obs_status="M"),
        [("OBS_VALUE", "missing_status_value_is_empty")],
    ),
    ("empty P", obs(None, obs_status="P"), [("OBS_VALUE", "empty_value_has_reason")]),
    (
        "N three",
        obs("3", obs_status="N"),
        [("OBS_VALUE", "not_significant_is_near_zero")],
    ),
    (
        "N empty",
        obs(None, obs_status="N"),
        [
            ("OBS_VALUE", "not_significant_is_near_zero"),
            ("OBS_VALUE", "empty_value_has_reason"),
        ],
    ),
    (
        "Q free",
        obs(None, obs_status="Q"),
        [("CONF_STATUS", "suppressed_has_conf_status")],
    ),
    ("no edition", obs(edition=None), [("EDITION", "edition_given")]),
    ("no source", obs(source_id=None), [("SOURCE_ID", "source_given")]),
    (
        "no unit state",
        count_units(unit_state=None),
        [("UNIT_STATE", "unit_state_given")],
    ),
    ("no coverage", employment(coverage=None), [("COVERAGE", "coverage_given")]),
    (
        "future year",
        obs(time_period="9999"),
        [("TIME_PERIOD", "time_period_plausible")],
    ),
]

GOOD: list[tuple[str, dict[str, Any]]] = [
    ("p1 in xdc", obs()),
    ("negative b1g", obs("-12.5", measure="B1G")),
    ("positive p51g", obs("3.1", measure="P51G")),
    ("p1 in eur", obs(unit_measure="EUR", currency="EUR")),
    ("p1 in eur, no currency", obs(unit_measure="EUR", currency=None)),
    (
        "billions",
        obs(
            "2450.7",
            unit_mult=9,
            sse_entity="NATECON",
            sse_entity_nat="_Z",
            coop_type="_Z",
            coop_level="_Z",
        ),
    ),
    ("region uy-mo", obs(region="UY-MO")),
    ("region unknown", obs(region="_U")),
    (
        "subgroup",
        obs(
            ref_area="PRT",
            currency="EUR",
            sse_entity="ASSOC",
            sse_entity_nat="PRT_MISERICORDIA",
            coop_type="_Z",
            coop_level="_Z",
        ),
    ),
    ("nuts region", obs(ref_area="PRT", region="PT11", currency="EUR")),
    ("units", count_units()),
    (
        "members in ps",
        obs(
            "310000",
            measure="N_MEMBERS",
            unit_measure="PS",
            unit_mult=0,
            currency=None,
            member_type="PERSON",
            sex="_T",
        ),
    ),
    ("fte", employment()),
    ("jobs in millions", employment("EMP_JOBS", "2.8", unit_mult=6)),
    ("persons", employment("EMP_PS", "120")),
    ("volunteers", volunteers()),
    ("share", share()),
    ("suppressed", obs(None, obs_status="Q", conf_status="C")),
    ("cannot exist", obs(None, obs_status="M")),
    ("not significant", obs("0.0", obs_status="N")),
    ("this year", obs(time_period=str(THIS_YEAR), edition=f"{THIS_YEAR}-01-01")),
]
GX_AND_PANDAS_RULES = sorted({rule for _, _, expected in BAD for _, rule in expected})


def _distinct_keys(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each line its own year: only the deliberate duplicate repeats a key."""
    out = []
    for i, row in enumerate(rows):
        if row["time_period"] == "2021":
            row = {**row, "time_period": str(1900 + i)}
        out.append(row)
    return out


@pytest.fixture(scope="module")
def bad(schema: Schema, catalogue: RuleCatalogue) -> RowRulesResult:
    return run(schema, catalogue, _distinct_keys([row for _, row, _ in BAD]))


@pytest.fixture(scope="module")
def good(schema: Schema, catalogue: RuleCatalogue) -> RowRulesResult:
    return run(schema, catalogue, _distinct_keys([row for _, row in GOOD]))


def _expected(rule: str) -> set[tuple[int | None, str | None, str]]:
    return {
        (i + 2, column, r)
        for i, (_, _, exp) in enumerate(BAD)
        for column, r in exp
        if r == rule
    }


# --------------------------------------------------------------------------------------
# Every rule: a failing and a passing case
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", GX_AND_PANDAS_RULES)
def test_check_rows__defect__reported_on_its_cell(
    rule: str, bad: RowRulesResult
) -> None:
    """Each defective line gives exactly its expected (row, column) for the rule."""
    assert where(bad.findings, rule) == _expected(rule)
    assert bad.outcomes[rule][1] >= 1


def test_check_rows__defects__no_other_findings(bad: RowRulesResult) -> None:
    """One defect per line gives only the findings listed for it (no cascades)."""
    expected = {(i + 2, c, r) for i, (_, _, exp) in enumerate(BAD) for c, r in exp}
    assert where(bad.findings) == expected


@pytest.mark.parametrize("rule", GX_AND_PANDAS_RULES)
def test_check_rows__valid_cases__pass(rule: str, good: RowRulesResult) -> None:
    """Valid observations give no finding for the rule, and count as passes."""
    assert where(good.findings, rule) == set()
    passes, fails, _ = good.outcomes[rule]
    assert (passes >= 1, fails) == (True, 0)


def test_check_rows__valid_frame__no_finding_at_all(good: RowRulesResult) -> None:
    """The passing cases give no finding of any rule."""
    assert good.findings == []


def test_check_rows__outcomes__cover_every_row(good: RowRulesResult) -> None:
    """passes + fails + not_applicable is the number of observations for every rule."""
    assert {sum(v) for v in good.outcomes.values()} == {len(GOOD)}


# --------------------------------------------------------------------------------------
# Rules checked on their own frames
# --------------------------------------------------------------------------------------


def test_check_rows__country_given__other_ref_area_reported(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """With a country, a REF_AREA of another country is reported on its cell."""
    result = run(
        schema,
        catalogue,
        [obs(), obs(ref_area="PRT", currency="EUR", time_period="2020")],
        country="URY",
    )
    assert where(result.findings) == {(3, "REF_AREA", "country_matches")}
    assert result.outcomes["country_matches"] == (1, 1, 0)


def test_check_rows__no_country__country_rule_not_applicable(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Without a country, country_matches judges nothing (all not applicable)."""
    result = run(schema, catalogue, [obs(ref_area="PRT", currency="EUR")])
    assert result.findings == []
    assert result.outcomes["country_matches"] == (0, 0, 1)


def test_check_rows__regions__prefix_must_match_ref_area(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """ISO 3166-2 and NUTS codes pass only under their own country."""
    rows = [
        obs(ref_area="KEN", region="KE-30", currency="KES", time_period="2020"),
        obs(ref_area="PRT", region="PT11", currency="EUR", time_period="2020"),
        obs(ref_area="KEN", region="KE11", currency="KES", time_period="2019"),
        obs(ref_area="PRT", region="KE-30", currency="EUR", time_period="2019"),
    ]
    result = run(schema, catalogue, rows)
    assert where(result.findings) == {
        (4, "REGION", "code_in_codelist"),
        (5, "REGION", "code_in_codelist"),
    }


def test_check_rows__unknown_code__message_names_list_and_closest(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """The message names the code list and suggests the closest code."""
    result = run(schema, catalogue, [obs(sse_entity="Coop")])
    assert [f.message for f in result.findings] == [
        f'{FILE}, row 2, column "SSE_ENTITY": value "Coop" is not in code list '
        "sse_entity (closest: COOP) (rule: code_in_codelist)"
    ]


def test_check_rows__duplicate_key__second_occurrence_names_first(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """A repeated key is reported once, on the later line, naming the earlier one."""
    result = run(schema, catalogue, [obs("1"), obs("2", source_id="OTHER"), obs("3")])
    found = [f for f in result.findings if f.rule == "key_is_unique"]
    assert [(f.row, f.column, f.value) for f in found] == [
        (3, None, None),
        (4, None, None),
    ]
    assert "repeats row 2" in found[0].message
    assert result.outcomes["key_is_unique"] == (1, 2, 0)


def test_check_rows__n_units_by_state__not_a_duplicate(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Registered and active counts of a cell differ by UNIT_STATE (in the key)."""
    rows = [
        count_units(unit_state="REGISTERED"),
        count_units("900", unit_state="ACTIVE"),
    ]
    assert run(schema, catalogue, rows).findings == []


def test_check_rows__other_edition__not_a_duplicate(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """The key is unique per EDITION: two vintages of one cell may coexist."""
    rows = [obs("1"), obs("2", edition="2024-06-30")]
    assert run(schema, catalogue, rows).findings == []


def test_check_rows__count_in_millions__judged_in_base_units(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """2.8 million persons is whole; 2.8451 thousand persons is not."""
    rows = [
        employment("EMP_PS", "2.8", unit_mult=6),
        employment("EMP_PS", "2.8451", unit_mult=3, time_period="2020"),
    ]
    result = run(schema, catalogue, rows)
    assert where(result.findings) == {(3, "OBS_VALUE", "count_is_whole")}
    assert "2845.1 in base units" in result.findings[0].message


# --------------------------------------------------------------------------------------
# Cascades, hostile text, layouts
# --------------------------------------------------------------------------------------


def test_check_rows__unreadable_value__no_cascade(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """A value obs_value_is_number reported triggers no value or flag rule."""
    rows = [
        obs("1e400", unreadable=True),
        obs("-5x", unreadable=True, time_period="2020"),
        obs(
            "3951.7 §",
            unreadable=True,
            obs_status="Q",
            conf_status="C",
            time_period="2019",
        ),
        obs(
            "12,5",
            unreadable=True,
            measure="N_UNITS",
            unit_measure="NUM",
            unit_mult=0,
            currency=None,
            unit_state="ACTIVE",
            coverage="ACTIVE_ONLY",
        ),
        obs("n.d.", unreadable=True, obs_status="N", time_period="2018"),
    ]
    result = run(schema, catalogue, rows)
    assert result.findings == []
    for rule in (
        "value_not_negative",
        "empty_value_has_reason",
        "count_is_whole",
        "confidential_value_is_empty",
        "missing_status_value_is_empty",
        "not_significant_is_near_zero",
    ):
        assert result.outcomes[rule][:2] == (0, 0), rule


def test_check_rows__hostile_code__reported_verbatim(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """SQL meta-characters are quoted as submitted, never interpreted."""
    result = run(schema, catalogue, [obs(sse_entity=HOSTILE)])
    (finding,) = result.findings
    assert (finding.row, finding.column, finding.rule, finding.value) == (
        2,
        "SSE_ENTITY",
        "code_in_codelist",
        HOSTILE,
    )
    assert f'value "{HOSTILE}" is not in code list sse_entity' in finding.message


def test_check_rows__control_characters__escaped_in_value_and_message(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """A tab or NUL inside a code is shown escaped, not raw."""
    result = run(schema, catalogue, [obs(coverage="ALL\tREG\x00")])
    (finding,) = result.findings
    assert finding.value == "ALL\\tREG\\x00"
    assert "\t" not in finding.message and "\x00" not in finding.message


def test_check_rows__national_layout__columns_of_the_file(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Findings name the national columns; a code shared by a line is reported once."""
    line = {"source_row": 12, "sse_entity": "TOTAL"}
    rows = [
        obs("5", source_column="VAB", **line),
        obs("-5", measure="D1", source_column="Remunerações", **line),
    ]
    origins = {"SSE_ENTITY": "Grupo de entidades", "TIME_PERIOD": "Ano"}
    result = check_rows(
        build(schema, rows),
        schema=schema,
        catalogue=catalogue,
        file="PRT.csv",
        origins=origins,
        country=None,
    )
    assert where(result.findings) == {
        (12, "Grupo de entidades", "code_in_codelist"),
        (12, "Remunerações", "value_not_negative"),
    }


def test_check_rows__component_not_in_file__one_finding(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """An omitted column is reported once, not on every observation."""
    rows = [obs(edition=None, time_period=str(y)) for y in (2019, 2020, 2021)]
    origins = {k: v for k, v in TEMPLATE_ORIGINS.items() if k != "EDITION"}
    result = run(schema, catalogue, rows, origins=origins)
    assert where(result.findings) == {(2, "EDITION", "edition_given")}
    assert "3 observation(s) in all" in result.findings[0].message
    assert result.outcomes["edition_given"] == (0, 3, 0)


def test_check_rows__empty_frame__nothing_to_judge(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """A frame without observations gives no finding and zero counts."""
    result = run(schema, catalogue, [])
    assert result.findings == []
    assert set(result.outcomes.values()) == {(0, 0, 0)}


# --------------------------------------------------------------------------------------
# Crashes
# --------------------------------------------------------------------------------------


def _with(catalogue: RuleCatalogue, *rules: Rule) -> RuleCatalogue:
    return RuleCatalogue({**dict(catalogue), **{r.name: r for r in rules}})


def test_check_rows__crashing_expectation__one_error_finding_others_run(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """A GX expectation that errors is one error on its rule; the others still run."""
    broken = Rule(
        name="broken_regex",
        label="Broken on purpose",
        description="",
        level=1,
        severity="warning",
        expectation="ExpectColumnValuesToMatchRegex",
        kwargs={"column": "measure", "regex": "("},
    )
    result = run(schema, _with(catalogue, broken), [obs(sse_entity="TOTAL")])
    assert where(result.findings) == {
        (None, None, "broken_regex"),
        (2, "SSE_ENTITY", "code_in_codelist"),
    }
    crash = next(f for f in result.findings if f.rule == "broken_regex")
    assert crash.severity == "error"
    assert "crashed" in crash.message
    assert result.outcomes["broken_regex"] == (0, 1, 0)


def test_check_rows__uncompilable_expectation__one_error_finding(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """A rule naming no GX expectation, or a broken row_condition, is crashed."""
    unknown = Rule(
        name="unknown_class",
        label="x",
        description="",
        level=1,
        severity="error",
        expectation="ExpectNothingAtAll",
        kwargs={"column": "measure"},
    )
    bad_condition = Rule(
        name="bad_condition",
        label="x",
        description="",
        level=1,
        severity="error",
        expectation="ExpectColumnValuesToNotBeNull",
        kwargs={"column": "measure", "row_condition": "no_such == 1"},
    )
    result = run(schema, _with(catalogue, unknown, bad_condition), [obs()])
    assert where(result.findings) == {
        (None, None, "unknown_class"),
        (None, None, "bad_condition"),
    }


def test_check_rows__crashing_pandas_rule__others_run(
    schema: Schema, catalogue: RuleCatalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pandas rule that raises is one error finding; GX rules still report."""
    from sse_stats.validate import rowrules

    def boom(ctx: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(rowrules.PANDAS_RULES, "count_is_whole", boom)
    result = run(schema, catalogue, [obs("-5")])
    assert where(result.findings) == {
        (None, None, "count_is_whole"),
        (2, "OBS_VALUE", "value_not_negative"),
    }


# --------------------------------------------------------------------------------------
# The rule file agrees with the schema
# --------------------------------------------------------------------------------------


def _units_by_case(catalogue: RuleCatalogue) -> dict[str, frozenset[str]]:
    import re

    out: dict[str, frozenset[str]] = {}
    for case in catalogue["unit_matches_measure"].kwargs["cases"]:
        if "row_condition" in case and isinstance(case["value_set"], list):
            for measure in re.findall(r'"([A-Z0-9_]+)"', case["row_condition"]):
                out[measure] = frozenset(case["value_set"])
    return out


def test_core_yaml__unit_cases__match_measure_csv(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """unit_matches_measure lists exactly the units measure.csv allows."""
    listed = _units_by_case(catalogue)
    expected = {
        m.id: frozenset(m.units) for m in schema.measures.values() if not m.is_money
    }
    assert listed == expected


def test_core_yaml__negative_measures__match_measure_csv(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """value_not_negative exempts measures allowed below zero, and shares."""
    condition = catalogue["value_not_negative"].kwargs["row_condition"]
    exempt = {m.id for m in schema.measures.values() if m.may_be_negative != "N"}
    assert set(condition.split("[")[1].split("]")[0].replace('"', "").split(", ")) == (
        exempt | {"SHARE_NAT"}
    )


def test_core_yaml__unit_list__matches_unit_measure_csv(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """The units named in currency_given are unit_measure.csv's."""
    case = catalogue["currency_given"].kwargs["cases"][1]
    listed = (
        case["row_condition"].split("[")[1].split("]")[0].replace('"', "").split(", ")
    )
    assert set(listed) == set(schema.codelists["unit_measure"].labels)


def test_core_yaml__coded_components__all_checked(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Every coded component is checked by code_in_codelist or its own rule."""
    cases = catalogue["code_in_codelist"].kwargs["cases"]
    checked = set(cases[0]["column"]) | {cases[1]["column"]}
    elsewhere = {"region", "sse_entity_nat", "unit_mult", "share_base"}
    coded = {c.curated_name for c in schema.components if c.codelist}
    assert coded == checked | elsewhere
