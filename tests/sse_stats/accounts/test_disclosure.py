"""Primary disclosure rules with the thresholds of schemas/harmonised/sdc.yaml."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sse_stats.accounts.disclosure import (
    dominance_sensitive,
    frequency_sensitive,
    load_sdc,
    p_percent_sensitive,
)
from sse_stats.errors import SchemaFileError

ROOT = Path(__file__).resolve().parents[3]


def test_load_sdc__shipped__defaults_of_schema() -> None:
    """The shipped thresholds are schema.md §10's defaults: 3 units, (2, 85 %), p 80."""
    params = load_sdc(ROOT / "schemas")
    assert (
        params.min_units,
        params.dominance_n,
        params.dominance_k,
        params.p_percent,
    ) == (3, 2, 85.0, 80.0)


def test_load_sdc__missing_key__names_key(tmp_path: Path) -> None:
    """A missing threshold is an error naming sdc.yaml and the key."""
    (tmp_path / "harmonised").mkdir()
    (tmp_path / "harmonised" / "sdc.yaml").write_text(
        "frequency: {}\n", encoding="utf-8"
    )
    with pytest.raises(SchemaFileError, match=r"sdc\.yaml: frequency\.min_units"):
        load_sdc(tmp_path)


def test_frequency_sensitive__one_and_two_units() -> None:
    """1 and 2 units are sensitive; 0 and 3 are not."""
    params = load_sdc(ROOT / "schemas")
    assert frequency_sensitive(pd.Series([0, 1, 2, 3, 40]), params).tolist() == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_dominance_sensitive__two_largest_above_85_percent() -> None:
    """86 % held by two units is sensitive; 85 % exactly is not."""
    params = load_sdc(ROOT / "schemas")
    total = pd.Series([100.0, 100.0, 0.0])
    assert dominance_sensitive(
        total, pd.Series([60.0, 60.0, 0.0]), pd.Series([26.0, 25.0, 0.0]), params
    ).tolist() == [True, False, False]


def test_p_percent_sensitive__rest_below_p_of_largest() -> None:
    """With p = 80: rest 30 < 0.8 x 50 is sensitive; rest 50 >= 0.8 x 40 is not."""
    params = load_sdc(ROOT / "schemas")
    assert p_percent_sensitive(
        pd.Series([100.0, 100.0]),
        pd.Series([50.0, 40.0]),
        pd.Series([20.0, 10.0]),
        params,
    ).tolist() == [True, False]
