"""Disclosure control of the curated satellite tables (schema.md §9.1 rule 8, §10)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import pytest

from sse_stats.accounts import build_tables, protect_tables
from sse_stats.accounts.disclosure import load_sdc
from sse_stats.accounts.protection import protect_published
from sse_stats.accounts.shells import TableShell

from .conftest import SCHEMAS, frame_of
from .test_sdc import exposed

T1 = "t01_key_aggregates_by_entity"


@pytest.fixture(scope="module")
def small_group() -> pd.DataFrame:
    """Mexico: the 'other' group has one subgroup (ISFL, exhaustive) of 2 units.

    T1 derives the group OTHER from ISFL: a cell the pipeline aggregates itself,
    with 2 units. ISFL itself is the NSO's published cell.
    """
    rows: list[dict[str, object]] = []
    for entity, nat, units, b1g in [
        ("_T", "_Z", 40, 1000),
        ("COOP", "_T", 38, 950),
        ("OTHER", "MEX_ISFL", 2, 50),
    ]:
        common = {"sse_entity": entity, "sse_entity_nat": nat}
        rows.append({**common, "measure": "N_UNITS", "unit_measure": "NUM",
                     "unit_mult": 0, "currency": None, "value": units})  # fmt: skip
        rows.append({**common, "measure": "B1G", "value": b1g})
    rows.append({"sse_entity": "OTHER", "sse_entity_nat": "MEX_ISFL",
                 "measure": "EMP_FTE", "work_cat": "EMP", "unit_measure": "FTE",
                 "unit_mult": 0, "currency": None, "value": 3})  # fmt: skip
    return frame_of(rows)


def _cell(frame: pd.DataFrame, entity: str, nat: str, measure: str) -> pd.Series:
    rows = frame[
        (frame.sse_entity == entity)
        & (frame.sse_entity_nat == nat)
        & (frame.measure == measure)
    ]
    assert len(rows) == 1, (entity, nat, measure)
    return rows.iloc[0]


def test_derived_small_group__frequency__suppressed_and_protected(
    small_group: pd.DataFrame, shells: Mapping[str, TableShell]
) -> None:
    built, _ = build_tables(small_group, shells)
    derived = _cell(built[T1], "OTHER", "_T", "B1G")
    assert derived.is_derived and derived.obs_value == 50.0  # built, not yet protected
    assert (
        _cell(protect_tables(built, shells)[T1], "OTHER", "_T", "B1G").obs_value == 50
    )
    tables = protect_published(built, shells, load_sdc(SCHEMAS))
    other = _cell(tables[T1], "OTHER", "_T", "B1G")
    assert math.isnan(other.obs_value)
    assert (other.obs_status, other.conf_status) == ("Q", "A")
    # Counts of units are not magnitudes: the derived count stays published.
    assert _cell(tables[T1], "OTHER", "_T", "N_UNITS").obs_value == 2.0
    # The NSO's own 2-unit cell is not primary-suppressed (schema.md §10: a
    # warning for the NSO), but it would give the group away: secondary.
    isfl = _cell(tables[T1], "OTHER", "MEX_ISFL", "B1G")
    assert (isfl.conf_status, math.isnan(isfl.obs_value)) == ("S", True)
    assert exposed(tables) == []


def test_fixtures__nothing_derived_is_small__tables_as_secondary_alone(
    built: tuple[dict[str, pd.DataFrame], list[dict[str, object]]],
    shells: Mapping[str, TableShell],
) -> None:
    """On the six fixtures no derived cell has 1-2 units: the primary step is a
    no-op and the published tables are those of secondary suppression alone."""
    alone = protect_tables(built[0], shells)
    published = protect_published(built[0], shells, load_sdc(SCHEMAS))
    for name, frame in alone.items():
        pd.testing.assert_frame_equal(published[name], frame)


def test_sum_of_the_same_units__not_primary(
    small_group: pd.DataFrame, shells: Mapping[str, TableShell]
) -> None:
    """Total employment of ISFL = its paid employment (work categories of the
    same 2 units, published by the NSO): no new set of units, no primary flag."""
    built, _ = build_tables(small_group, shells)
    tables = protect_published(built, shells, load_sdc(SCHEMAS))
    frame = tables[T1]
    along_work = frame[
        frame["derivation"].astype(str).str.startswith("total_employment_from_parts")
    ]
    assert len(along_work)
    assert "A" not in set(along_work["conf_status"])
    group = frame[(frame.sse_entity == "OTHER") & (frame.sse_entity_nat == "_T")]
    assert set(group.loc[group.measure != "N_UNITS", "conf_status"]) <= {"A", "S"}
