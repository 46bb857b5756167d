"""Rule YAML compiled to GX and run on pandas (sse_stats/validate/gx.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sse_stats.harmonise.frame import curated_columns
from sse_stats.schema.model import Schema
from sse_stats.validate import gx
from sse_stats.validate.catalogue import Rule, RuleCatalogue

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


ROW: dict[str, Any] = {
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
    "obs_value": 1.5,
    "obs_value_text": "1.5",
    "unit_measure": "XDC",
    "unit_mult": 6,
    "currency": "UYU",
    "obs_status": "A",
    "conf_status": "F",
    "source_id": "S",
    "edition": "2023-06-30",
    "source_file": "a.csv",
    "source_column": "OBS_VALUE",
}


def frame(schema: Schema, *rows: dict[str, Any]) -> pd.DataFrame:
    """A harmonised frame (all columns, their dtypes) from partial rows, line 2 on."""
    records = [{**ROW, "source_row": i + 2, **r} for i, r in enumerate(rows)]
    out = pd.DataFrame.from_records(records, columns=curated_columns(schema))
    numeric = {"obs_value": "float64", "unit_mult": "Int64", "source_row": "int64"}
    return out.astype({c: numeric.get(c, "str") for c in out.columns})


def rule(name: str, expectation: str | None, **kwargs: Any) -> Rule:
    return Rule(
        name=name,
        label=name,
        description="",
        level=1,
        severity="error",
        expectation=expectation,
        kwargs=kwargs,
    )


# --------------------------------------------------------------------------------------
# Compile
# --------------------------------------------------------------------------------------


def test_compile_suite__core_rules__all_compile(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Every GX rule of schemas/rules compiles; each expectation names its rule."""
    suite = gx.compile_suite(catalogue, schema, country="URY")
    assert dict(suite.broken) == {}
    assert {c.rule for c in suite.cases} == set(suite.rules)
    assert all(c.expectation.meta["rule"] == c.rule for c in suite.cases)
    assert len(suite.gx_suite.expectations) == len(suite.cases)


def test_compile_suite__no_country__country_rule_skipped(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """country_matches needs a country: without one it is skipped, not broken."""
    suite = gx.compile_suite(catalogue, schema, country=None)
    assert suite.skipped == frozenset({"country_matches"})
    assert "country_matches" not in {c.rule for c in suite.cases}


def test_compile_suite__same_inputs__cached(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Compiling twice for one schema, catalogue and country gives the same suite."""
    first = gx.compile_suite(catalogue, schema, country="URY")
    assert gx.compile_suite(catalogue, schema, country="URY") is first
    assert gx.compile_suite(catalogue, schema, country="PRT") is not first


def test_compile_suite__codelist_reference__resolved_from_schema(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """{codelist: concepts} becomes the ids of the column's code list."""
    suite = gx.compile_suite(catalogue, schema, country=None)
    case = next(c for c in suite.cases if c.columns == ("sse_entity",))
    assert set(case.expectation.value_set) == set(schema.codelists["sse_entity"].labels)
    assert case.codelist == "sse_entity"


def test_compile_suite__fan_out_and_cases__one_expectation_each(schema: Schema) -> None:
    """A column list and a list of cases give one expectation per column and case."""
    cat = RuleCatalogue(
        {
            "r": rule(
                "r",
                "ExpectColumnValuesToNotBeNull",
                cases=[
                    {"column": ["edition", "source_id"]},
                    {"column": "coverage", "row_condition": 'measure == "N_UNITS"'},
                ],
            )
        }
    )
    suite = gx.compile_suite(cat, schema, country=None)
    assert [(c.key, c.columns, c.condition) for c in suite.cases] == [
        ("r#0", ("edition",), None),
        ("r#1", ("source_id",), None),
        ("r#2", ("coverage",), 'measure == "N_UNITS"'),
    ]


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        (
            {"column": "measure", "value_set": {"codelist": "no_such_list"}},
            "no_such_list",
        ),
        ({"column": "measure", "value_set": {"colour": "red"}}, "unknown value_set"),
        (
            {"column": "measure", "value_set": [1], "no_such_argument": 1},
            "no_such_argument",
        ),
    ],
)
def test_compile_suite__bad_kwargs__rule_broken(
    schema: Schema, kwargs: dict[str, Any], why: str
) -> None:
    """A rule whose kwargs cannot be compiled is listed as broken, with the reason."""
    cat = RuleCatalogue({"r": rule("r", "ExpectColumnValuesToBeInSet", **kwargs)})
    suite = gx.compile_suite(cat, schema, country=None)
    assert suite.cases == ()
    assert why in suite.broken["r"]


# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------


def test_run_suite__failing_rows__frame_positions(schema: Schema) -> None:
    """Failing observations come back as frame positions, with the rows judged."""
    cat = RuleCatalogue(
        {
            "r": rule(
                "r", "ExpectColumnValuesToBeBetween", column="obs_value", min_value=0
            )
        }
    )
    data = frame(
        schema,
        {},
        {"obs_value": -1.0},
        {"obs_value": None, "obs_value_text": None},
        {"obs_value": -2.0},
    )
    (result,) = gx.run_suite(data, gx.compile_suite(cat, schema, country=None))
    assert (result.failing, result.crash) == ((1, 3), None)
    assert result.domain is not None and result.domain.tolist() == [
        True,
        True,
        False,
        True,
    ]


def test_run_suite__gx_exception__that_case_crashes_only(schema: Schema) -> None:
    """An expectation GX cannot compute carries its exception; the others still run."""
    cat = RuleCatalogue(
        {
            "broken": rule(
                "broken", "ExpectColumnValuesToMatchRegex", column="measure", regex="("
            ),
            "fine": rule(
                "fine",
                "ExpectColumnValuesToBeInSet",
                column="measure",
                value_set=["P1"],
            ),
        }
    )
    results = gx.run_suite(
        frame(schema, {}, {"measure": "P2"}),
        gx.compile_suite(cat, schema, country=None),
    )
    by_rule = {r.case.rule: r for r in results}
    assert (
        by_rule["broken"].crash is not None
        and "regular expression" in by_rule["broken"].crash
    )
    assert (by_rule["fine"].crash, by_rule["fine"].failing) == (None, (1,))


def test_run_suite__frame_without_provenance__every_case_crashes(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """A frame GX cannot be given at all makes every case crash instead of raising."""
    suite = gx.compile_suite(catalogue, schema, country=None)
    results = gx.run_suite(frame(schema, {}).drop(columns="source_row"), suite)
    assert {r.crash is not None for r in results} == {True}


def _native(case: gx.CompiledCase) -> Any:
    """The same expectation with GX's own pandas row_condition on the real columns."""
    kwargs = dict(case.expectation.configuration.kwargs)
    keys = [k for k in ("column", "column_A", "column_B") if k in kwargs]
    kwargs.update(zip(keys, case.columns, strict=True))
    kwargs.update(row_condition=case.condition, condition_parser="pandas")
    return type(case.expectation)(**kwargs, meta=case.expectation.meta)


def test_run_suite__masked_conditions__same_rows_as_gx_row_condition(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Conditions evaluated in pandas fail the very rows GX's row_condition fails."""
    from great_expectations import ExpectationSuite

    data = frame(
        schema,
        {},
        {"obs_value": -5.0, "obs_value_text": "-5"},
        {"conf_status": "C", "obs_status": "Q"},
        {"obs_value": None, "obs_value_text": None, "obs_status": "P"},
        {
            "measure": "SHARE_NAT",
            "unit_measure": "PC",
            "unit_mult": 3,
            "currency": None,
            "obs_value": 283.0,
            "obs_value_text": "283",
        },
        {
            "measure": "EMP_PS",
            "unit_measure": "PS",
            "unit_mult": 0,
            "currency": None,
            "work_cat": "VOLUNTEER_ORG",
        },
        {"unit_measure": "EUR", "currency": "USD"},
        {"obs_status": "N", "obs_value": None, "obs_value_text": "x"},
        {"measure": "N_UNITS", "unit_measure": "EUR", "currency": None},
    )
    suite = gx.compile_suite(catalogue, schema, country=None)
    conditional = [c for c in suite.cases if c.condition]
    ours = {
        r.case.key: r.failing for r in gx.run_suite(data, suite) if r.case.condition
    }
    native = ExpectationSuite(
        name="native", expectations=[_native(c) for c in conditional]
    )
    helper = data.assign(value_state=gx.value_states(data), row_id=np.arange(len(data)))
    batch = gx._runtime().get_batch(batch_parameters={"dataframe": helper})
    theirs = {}  # GX returns results in its own order: map them back by meta
    for item in batch.validate(native, result_format=dict(gx.RESULT_FORMAT)).results:
        assert gx._crash_message(item) is None, item.exception_info
        rows = item.result.get("unexpected_index_list") or []
        theirs[item.expectation_config.meta["case"]] = tuple(
            sorted(int(d["row_id"]) for d in rows)
        )
    assert ours == theirs
    assert sum(len(v) for v in ours.values()) >= 8


def test_value_states__three_states(schema: Schema) -> None:
    """A value is present, empty, or unreadable (text kept without a number)."""
    data = frame(
        schema,
        {},
        {"obs_value": None, "obs_value_text": None},
        {"obs_value": None, "obs_value_text": "1e400"},
    )
    assert gx.value_states(data).tolist() == ["present", "empty", "unreadable"]


@pytest.mark.parametrize(
    ("value", "codes", "hint"),
    [
        ("coop", ["COOP", "MUTUAL"], "closest: COOP"),
        ("MUTUALS", ["COOP", "MUTUAL"], "closest: MUTUAL"),
        ("TOTAL", ["COOP", "MUTUAL", "_T"], "expected one of COOP, MUTUAL, _T"),
        ("QQQ", [f"C{i:02d}" for i in range(20)], "none of its 20 codes is close"),
    ],
)
def test_code_hint__wrong_code__closest_or_list(
    value: str, codes: list[str], hint: str
) -> None:
    """A wrong code gets its closest codes, or the short list of valid ones."""
    assert gx.code_hint(value, codes) == hint
