"""Disclosure control before export, on small hand-made observations.

One country and year, the SSE total and three groups (``_T = COOP + MUTUAL +
ASSOC``), each with its number of units and its paid FTE::

    group    N_UNITS  EMP_FTE
    COOP          10      100
    MUTUAL         2       20     <- 2 units: below sdc.yaml's 3
    ASSOC         50      500
    _T            62      620
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sse_stats.accounts import load_shells
from sse_stats.accounts.build import OBSERVATION_COLUMNS
from sse_stats.accounts.disclosure import SdcParameters, load_sdc
from sse_stats.errors import UsageError
from sse_stats.publish.export.protect import (
    CONTRIBUTION_COLUMNS,
    protect_for_export,
)

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"
PARAMS = load_sdc(SCHEMAS)
COUNTS = frozenset({"N_UNITS"})
GROUPS = {"COOP": (10, 100.0), "MUTUAL": (2, 20.0), "ASSOC": (50, 500.0)}


def _cell(entity: str, measure: str, value: float | None, **codes: str) -> dict:
    cell: dict[str, object] = dict.fromkeys([*OBSERVATION_COLUMNS, "base_measure"])
    cell.update(
        ref_area="URY",
        region="_T",
        time_period="2021",
        freq="A",
        sse_entity=entity,
        sse_entity_nat="_Z" if entity == "_T" else "_T",
        coop_type="_T" if entity == "COOP" else "_Z",
        coop_level="_T" if entity == "COOP" else "_Z",
        activity="_T",
        inst_sector="_T",
        member_type="_Z",
        measure=measure,
        obs_value=value,
        obs_value_text=None if value is None else f"{value:g}",
        unit_mult=0,
        obs_status="A" if value is not None else "Q",
        conf_status="F",
        edition="2023-06-30",
    )
    if measure == "N_UNITS":
        cell.update(sex="_Z", work_cat="_Z", unit_measure="NUM", unit_state="ACTIVE")
    else:
        cell.update(sex="_T", work_cat="EMP", unit_measure="FTE")
    cell.update(codes)
    return cell


def _observations(units: dict[str, int] | None = None) -> pd.DataFrame:
    rows = []
    counts = {k: v[0] for k, v in GROUPS.items()} | (units or {})
    for entity, (_, fte) in GROUPS.items():
        rows.append(_cell(entity, "N_UNITS", float(counts[entity])))
        rows.append(_cell(entity, "EMP_FTE", fte))
    rows.append(_cell("_T", "N_UNITS", float(sum(counts.values()))))
    rows.append(_cell("_T", "EMP_FTE", 620.0))
    return pd.DataFrame.from_records(rows)


def _status(frame: pd.DataFrame, entity: str, measure: str) -> str:
    row = frame[(frame["sse_entity"] == entity) & (frame["measure"] == measure)]
    assert len(row) == 1
    return str(row["conf_status"].iloc[0])


def _protect(
    observations: pd.DataFrame,
    params: SdcParameters = PARAMS,
    contributions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    shells = load_shells(SCHEMAS)
    _, out, _ = protect_for_export(
        {},
        observations,
        shells,
        params,
        count_measures=COUNTS,
        contributions=contributions,
    )
    return out


def test_protect__two_units__primary_a_then_secondary_s() -> None:
    """MUTUAL (2 units) is A; the smallest sibling, COOP, is S; counts stay."""
    out = _protect(_observations())
    assert _status(out, "MUTUAL", "EMP_FTE") == "A"
    assert _status(out, "COOP", "EMP_FTE") == "S"
    assert _status(out, "ASSOC", "EMP_FTE") == "F"
    assert _status(out, "_T", "EMP_FTE") == "F"
    assert _status(out, "MUTUAL", "N_UNITS") == "F"
    hidden = out[out["conf_status"].isin(["A", "S"])]
    assert hidden["obs_value"].isna().all()
    assert (hidden["obs_status"] == "Q").all()
    assert hidden["obs_value_text"].isna().all()


def test_protect__three_units__nothing_suppressed() -> None:
    """The threshold is sdc.yaml's min_units: 3 units are publishable."""
    out = _protect(_observations({"MUTUAL": 3}))
    assert set(out["conf_status"]) == {"F"}


def test_protect__threshold__comes_from_the_parameters() -> None:
    """With min_units 11 (as sdc.yaml could say), COOP's 10 units are sensitive."""
    params = SdcParameters(min_units=11, dominance_n=2, dominance_k=85, p_percent=80)
    out = _protect(_observations({"MUTUAL": 20}), params)
    assert _status(out, "COOP", "EMP_FTE") == "A"
    assert _status(out, "MUTUAL", "EMP_FTE") == "S"


def test_protect__nso_confidential__stays_suppressed() -> None:
    """A cell the NSO sent empty with C keeps C; its sibling gets S."""
    frame = _observations({"MUTUAL": 30})
    at = (frame["sse_entity"] == "ASSOC") & (frame["measure"] == "EMP_FTE")
    frame.loc[at, ["obs_value", "obs_value_text", "obs_status", "conf_status"]] = [
        None,
        None,
        "Q",
        "C",
    ]
    out = _protect(frame)
    assert _status(out, "ASSOC", "EMP_FTE") == "C"
    assert _status(out, "MUTUAL", "EMP_FTE") == "S"


def _contributions(entity: str, values: list[float]) -> pd.DataFrame:
    base = _cell(entity, "EMP_FTE", None)
    rows = [
        {
            **{c: base[c] for c in CONTRIBUTION_COLUMNS[:-2]},
            "unit_id": f"u{i}",
            "value": v,
        }
        for i, v in enumerate(values)
    ]
    return pd.DataFrame.from_records(rows, columns=list(CONTRIBUTION_COLUMNS))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([90.0, 5.0, 5.0], "G"),  # two largest 95 % > k = 85 %
        ([40.0, 30.0, 30.0], "M"),  # rest 30 < p = 80 % of the largest 40
        ([60.0, 40.0], "A"),  # two contributors < min_units
        ([20.0, 20.0, 20.0, 20.0, 20.0], "F"),  # five equal units: publishable
    ],
)
def test_protect__contributions__dominance_p_percent_frequency(
    values: list[float], expected: str
) -> None:
    """With unit-level contributions, (n, k) dominance and p % apply (sdc.yaml)."""
    out = _protect(
        _observations({"MUTUAL": 30}), contributions=_contributions("COOP", values)
    )
    if expected == "F":
        assert set(out["conf_status"]) == {"F"}
    else:
        assert _status(out, "COOP", "EMP_FTE") == expected
        assert _status(out, "MUTUAL", "EMP_FTE") == "S"


def test_protect__contributions_without_a_column__is_a_usage_error() -> None:
    """Contributions must carry the cell key, unit_id and value."""
    with pytest.raises(UsageError, match="unit_id"):
        _protect(
            _observations(),
            contributions=pd.DataFrame({"measure": ["EMP_FTE"], "value": [1.0]}),
        )
