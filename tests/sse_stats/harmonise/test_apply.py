"""National layouts and the template harmonise to the expected observations."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sse_stats.harmonise.frame import Harmonised, as_template
from sse_stats.harmonise.mapping import load_mapping
from sse_stats.harmonise.submission import harmonise_file as harmonise_submission
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue

ROOT = Path(__file__).resolve().parents[3]
NSO = ROOT / "tests" / "fixtures" / "nso"
GOOD = sorted(p.name for p in (NSO / "good").glob("*.csv"))


def harmonise_file(path: Path, schema: Schema, cat: RuleCatalogue) -> Harmonised:
    """Read and harmonise one file with the mapping its name starts with."""
    mapping = None
    if not path.name.startswith("template"):
        mapping = load_mapping(ROOT / "schemas" / "mappings" / f"{path.name[:3]}.yaml")
    result = harmonise_submission(path, mapping, schema=schema, cat=cat)
    assert result.harmonised is not None, [f.message for f in result.findings]
    return result.harmonised


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    # Compare values as numbers (812.0 equals 812), as the fixtures README asks.
    out["OBS_VALUE"] = pd.to_numeric(out["OBS_VALUE"].replace("", None)).astype("str")
    return out.sort_values(list(out.columns)).reset_index(drop=True)


@pytest.mark.parametrize("name", GOOD)
def test_harmonise__good_file__equals_expected(
    name: str, schema: Schema, catalogue: RuleCatalogue
) -> None:
    """Every good layout gives exactly the expected observations, all columns
    compared."""
    harmonised = harmonise_file(NSO / "good" / name, schema, catalogue)
    expected = pd.read_csv(NSO / "expected" / name, dtype=str, keep_default_na=False)
    if "SHARE_BASE" not in expected.columns:
        expected["SHARE_BASE"] = ""
    got = as_template(harmonised.frame, schema)[list(expected.columns)]
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(_comparable(got), _comparable(expected))
    assert not [f for f in harmonised.findings if f.severity != "info"]


def test_harmonise__prt__values_keep_multiplier_and_source_cell(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """PRT 3.618,4 (millions) is stored as 3618.4 with unit_mult 6, line 5, column
    Produção."""
    frame = harmonise_file(NSO / "good" / "PRT_2019-2020.csv", schema, catalogue).frame
    cell = frame[
        (frame.time_period == "2019")
        & (frame.sse_entity == "COOP")
        & (frame.measure == "P1")
    ].iloc[0]
    assert (cell.obs_value, cell.obs_value_text, cell.unit_mult) == (
        3618.4,
        "3618.4",
        6,
    )
    assert (cell.source_row, cell.source_column) == (5, "Produção")
    assert cell.mapping_file == "schemas/mappings/PRT.yaml"


def test_harmonise__prt_flag_pe__kept_verbatim_and_mapped(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """`164.892,4 Pe` keeps Pe in OBS_STATUS_NAT and maps it to OBS_STATUS P."""
    frame = harmonise_file(NSO / "good" / "PRT_2019-2020.csv", schema, catalogue).frame
    cell = frame[
        (frame.time_period == "2020")
        & (frame.sse_entity == "NATECON")
        & (frame.measure == "B1G")
    ].iloc[0]
    assert (cell.obs_value, cell.obs_status, cell.obs_status_nat, cell.conf_status) == (
        164892.4,
        "P",
        "Pe",
        "F",
    )


def test_harmonise__kor_omitted_inst_sector__one_info(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """An omitted column that applies is read as _T with one info for the column."""
    harmonised = harmonise_file(
        NSO / "good" / "template_KOR_2016-register.csv", schema, catalogue
    )
    infos = [f for f in harmonised.findings if f.rule == "z_read_as_total"]
    assert [(f.column, f.severity) for f in infos] == [("INST_SECTOR", "info")]
    assert set(harmonised.frame.inst_sector) == {"_T"}


def test_harmonise__decimal_point_in_comma_locale__unreadable_not_rescaled(
    schema: Schema, catalogue: RuleCatalogue
) -> None:
    """`88734.6` in a decimal-comma file is reported, never read as 887346 or
    88734.6."""
    harmonised = harmonise_file(
        NSO / "bad" / "PRT__decimal_point_mixed.csv", schema, catalogue
    )
    errors = [
        (f.row, f.column, f.rule) for f in harmonised.findings if f.severity == "error"
    ]
    assert errors == [(12, "Remunerações", "obs_value_is_number")]
    cell = harmonised.frame[
        (harmonised.frame.source_row == 12) & (harmonised.frame.measure == "D1")
    ].iloc[0]
    assert pd.isna(cell.obs_value)
