"""The comparison view lines up countries with different multipliers and currencies."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.accounts import comparison_view, load_conversion_factors
from sse_stats.accounts.shells import TableShell
from sse_stats.errors import UsageError

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


@pytest.fixture(scope="module")
def view(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The view of the fixture tables, with market exchange rates."""
    return comparison_view(tables, rates=load_conversion_factors(SCHEMAS, "market"))


def _row(view: pd.DataFrame, ref_area: str, year: str) -> pd.Series:
    found = view[(view.ref_area == ref_area) & (view.time_period == year)]
    assert len(found) == 1
    return found.iloc[0]


def test_comparison_view__one_row_per_country_and_year(view: pd.DataFrame) -> None:
    """Every country-year of the fixtures appears once, with its edition."""
    assert list(zip(view.ref_area, view.time_period, view.edition, strict=True)) == [
        ("ESP", "2008", "2011-06-30"),
        ("ESP", "2009", "2011-06-30"),
        ("FRA", "2021", "2023-12-15"),
        ("KEN", "2022", "2023-03-31"),
        ("KOR", "2016", "2017-12-15"),
        ("MEX", "2019", "2021-11-30"),
        ("MEX", "2020", "2021-11-30"),
        ("PRT", "2019", "2024-03-01"),
        ("PRT", "2020", "2024-03-01"),
    ]


def test_comparison_view__prt_eur_and_mex_mxn__line_up(view: pd.DataFrame) -> None:
    """PRT (EUR millions) and MEX (MXN millions): shares, levels and US dollars."""
    prt, mex = _row(view, "PRT", "2019"), _row(view, "MEX", "2019")
    assert prt.share_b1g == pytest.approx(5339.7 / 175612.5 * 100)
    assert prt.share_emp_fte == pytest.approx(249304 / 4487210 * 100)
    assert prt.share_d1 == pytest.approx(4087.2 / 88734.6 * 100)
    assert (prt.perimeter, prt.coverage, prt.share_b1g_origin) == (
        "_T",
        "ACTIVE_ONLY",
        "computed",
    )
    assert (mex.share_b1g, mex.share_b1g_origin) == (2.8, "submitted")
    assert mex.share_d1 == pytest.approx(318032.7 / 6224817.3 * 100)
    assert (mex.perimeter, mex.coverage) == ("OTHER/MEX_ISFL", "SURVEY_FRAME")
    assert "SSE perimeter: OTHER/MEX_ISFL" in mex.note
    assert (prt.currency, prt.sse_b1g_mn, mex.currency, mex.sse_b1g_mn) == (
        "EUR",
        5339.7,
        "MXN",
        644044.3,
    )
    assert prt.sse_b1g_usd_market_mn == pytest.approx(5339.7 / 0.893)
    assert mex.sse_b1g_usd_market_mn == pytest.approx(644044.3 / 19.26)
    assert _row(view, "PRT", "2020").share_b1g_status == "P"


def test_comparison_view__missing_share__empty_with_reason(view: pd.DataFrame) -> None:
    """ESP has FTE of total employment only: no paid-employment share, said why."""
    esp = _row(view, "ESP", "2008")
    assert math.isnan(esp.share_emp_fte)
    assert "share of EMP_FTE work_cat=EMP" in esp.note


def test_comparison_view__observations_with_mixed_multipliers(
    shells: Mapping[str, TableShell],
    make_frame: Callable[[list[dict[str, object]]], pd.DataFrame],
) -> None:
    """From observations: SSE in 10^6 and NATECON in 10^9 give 0.0204 %, in MXN."""
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
            {
                "sse_entity": "_T",
                "value": "500.3",
                "unit_mult": 6,
                "coverage": "ACTIVE_ONLY",
            },
            {
                "sse_entity": "NATECON",
                "value": "2450.7",
                "unit_mult": 9,
                "coverage": "ALL_REGISTERED",
            },
        ]
    )
    row = comparison_view(frame, shells=shells).iloc[0]
    assert row.share_b1g == pytest.approx(500.3e6 / 2450.7e9 * 100)
    assert (row.currency, row.sse_b1g_mn, row.coverage) == ("MXN", 500.3, "ACTIVE_ONLY")
    assert math.isnan(row.sse_b1g_usd_market_mn)
    assert "share of B1G: Inputs differ in coverage: ACTIVE_ONLY, ALL_REGISTERED" in (
        row.note
    )


def test_comparison_view__observations_without_shells__usage_error() -> None:
    """Observations cannot be compared without the shells to build tables."""
    with pytest.raises(UsageError, match="needs the shells"):
        comparison_view(pd.DataFrame())
