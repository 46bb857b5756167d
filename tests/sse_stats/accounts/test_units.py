"""Units: exact base units, presentation multiplier and currency conversion."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.accounts import convert_currency, load_conversion_factors
from sse_stats.accounts.units import base_value, rescale
from sse_stats.errors import SchemaFileError

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def _cells() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ref_area": ["PRT", "MEX", "MEX", "PRT", "KOR"],
            "time_period": ["2019", "2019", "2031", "2019", "2016"],
            "measure": ["B1G", "B1G", "B1G", "EMP_FTE", "B1G"],
            "unit_measure": ["XDC", "XDC", "XDC", "FTE", "USD"],
            "currency": ["EUR", "MXN", "MXN", None, None],
            "obs_value": [5339.7, 644044.3, 1.0, 249304.0, 10.0],
            "unit_mult": pd.array([6, 6, 6, 0, 6], dtype="Int64"),
        }
    )


def test_base_value__multipliers__exact_from_text() -> None:
    """500.3 in 10^6 and 2450.7 in 10^9 compare exactly in base units."""
    assert base_value("500.3", 500.3, 6) == Decimal("500300000")
    assert base_value("2450.7", 2450.7, 9) == Decimal("2450700000000")
    assert base_value(None, math.nan, 6) is None
    assert rescale(2450.7, 9, 6) == 2450700.0


def test_convert_currency__market__keeps_originals_and_adds_usd() -> None:
    """EUR and MXN millions to USD millions; the published values are untouched."""
    rates = load_conversion_factors(SCHEMAS, "market")
    cells = _cells()
    out = convert_currency(cells, rates, kind="market")
    pd.testing.assert_frame_equal(out[list(cells.columns)], cells)
    usd = out["obs_value_usd_market"].tolist()
    assert usd[0] == pytest.approx(5339.7 / 0.893)
    assert usd[1] == pytest.approx(644044.3 / 19.26)
    assert out["unit_mult_usd_market"].tolist()[:2] == [6, 6]
    assert "World Bank WDI PA.NUS.FCRF" in out["factor_usd_market_source"][0]
    assert "approximate" in out["note_usd_market"][0]


def test_convert_currency__no_factor__not_applicable_never_guessed() -> None:
    """MEX 2031 has no rate: empty value and a not-applicable note; FTE untouched."""
    out = convert_currency(_cells(), load_conversion_factors(SCHEMAS, "market"))
    assert math.isnan(out["obs_value_usd_market"][2])
    assert out["note_usd_market"][2].startswith(
        "not applicable: no market exchange rate for MXN in 2031"
    )
    assert math.isnan(out["obs_value_usd_market"][3])
    assert out["note_usd_market"][3] is None
    assert out["obs_value_usd_market"][4] == 10.0  # already US dollars


def test_convert_currency__ppp__by_country_for_its_own_currency_only() -> None:
    """PPP factors are per country; a cell in another currency is not applicable."""
    out = convert_currency(
        _cells(), load_conversion_factors(SCHEMAS, "ppp"), kind="ppp"
    )
    assert out["obs_value_usd_ppp"][0] == pytest.approx(5339.7 / 0.597)
    assert out["note_usd_ppp"][4] == (
        "not applicable: the PPP factor of KOR is for KRW, this cell is in USD"
    )


def test_load_conversion_factors__bad_factor__names_file_and_line(
    tmp_path: Path,
) -> None:
    """A non-positive factor is refused with the file and line."""
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "exchange_rates.csv").write_text(
        "currency,year,factor,source,citation,note\nEUR,2019,0,x,y,z\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaFileError, match=r"exchange_rates\.csv: line 2\.factor"):
        load_conversion_factors(tmp_path, "market")


def test_reference_files__every_factor_cites_source_and_is_marked_approximate() -> None:
    """Bundled factors: 2008-2022 for the fixture currencies, each cited."""
    market = load_conversion_factors(SCHEMAS, "market")
    assert set(market.currency) == {"EUR", "MXN", "KES", "KRW", "USD", "UYU"}
    assert set(market.year) == {str(y) for y in range(2008, 2023)}
    for rates in (market, load_conversion_factors(SCHEMAS, "ppp")):
        assert (rates.source != "").all() and (rates.citation != "").all()
        not_usd = rates[rates.source != "identity"]
        assert not_usd.note.str.contains("approximate").all()
