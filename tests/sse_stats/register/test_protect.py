"""Disclosure control: small and dominated cells suppressed, none recoverable.

The checker here is independent of ``sse_stats.register.audit``: it rebuilds the
published linear relations from the cells alone (every ``_T`` along a dimension
is the sum of the other codes of that dimension, all other key columns equal;
``B1G = P1 − P2``; ``D1 = D11 + D12``) and solves them with scipy: a suppressed
cell is recoverable exactly when every null-space vector of the suppressed
columns is 0 there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from scipy.linalg import null_space

from sse_stats.register import RegisterResult, process_register
from sse_stats.register.protect import primary_status

from .conftest import SCHEMAS, crafted, unit

KEY = [
    "ref_area", "region", "time_period", "freq", "sse_entity", "sse_entity_nat",
    "coop_type", "coop_level", "activity", "inst_sector", "sex", "work_cat",
    "member_type", "measure", "unit_state",
]  # fmt: skip
ADDING_UP = [
    "sse_entity", "coop_type", "coop_level", "activity", "inst_sector", "region",
    "sex", "work_cat", "member_type",
]  # fmt: skip
IDENTITIES = [("B1G", {"P1": 1, "P2": -1}), ("D1", {"D11": 1, "D12": 1})]
RATIOS = {"D1_PER_FTE", "B1G_PER_FTE", "SHARE_NAT", "SHARE_REG", "SHARE_RES", "GROWTH"}


def published_cells(result: RegisterResult) -> pd.DataFrame:
    """Observations plus every linear table cell (derived ones included), by key."""
    frames = [result.observations]
    for table in result.tables.values():
        if table.empty:
            continue
        level = table[~table["measure"].isin(RATIOS)]
        frames.append(level[[c for c in result.observations.columns if c in level]])
    cells = pd.concat(frames, ignore_index=True)
    cells["unit_state"] = cells["unit_state"].fillna("")
    return cells.drop_duplicates(KEY, ignore_index=True)


def relations(cells: pd.DataFrame) -> list[dict[int, int]]:
    """Every published parent = Σ children and every identity, as {cell: coef}."""
    out: list[dict[int, int]] = []
    for dim in ADDING_UP:
        others = [c for c in KEY if c != dim]
        norm = cells[others].astype(object).fillna("").copy()
        if dim == "sse_entity":
            for column in ("sse_entity_nat", "coop_type", "coop_level"):
                norm[column] = norm[column].replace("_T", "_Z")
        for _, index in norm.groupby(others, sort=True).indices.items():
            codes = cells[dim].to_numpy()[index]
            parents = index[codes == "_T"]
            children = index[~np.isin(codes, ["_T", "_Z"])]
            if len(parents) == 1 and len(children):
                out.append({int(parents[0]): -1, **{int(c): 1 for c in children}})
    others = [c for c in KEY if c != "measure"]
    norm = cells[others].astype(object).fillna("")
    for _, index in norm.groupby(others, sort=True).indices.items():
        by_measure = {cells["measure"].iloc[i]: int(i) for i in index}
        for lhs, rhs in IDENTITIES:
            if lhs in by_measure and all(m in by_measure for m in rhs):
                relation = {by_measure[lhs]: -1}
                relation.update({by_measure[m]: k for m, k in rhs.items()})
                out.append(relation)
    return out


def recoverable(cells: pd.DataFrame, rels: list[dict[int, int]]) -> list[int]:
    """Suppressed cells whose value the published relations fix exactly."""
    hidden = np.flatnonzero(cells["obs_value"].isna().to_numpy())
    column = {int(c): j for j, c in enumerate(hidden)}
    rows = [r for r in rels if any(c in column for c in r)]
    if not rows:
        return []
    matrix = np.zeros((len(rows), len(hidden)))
    for i, relation in enumerate(rows):
        for cell, coefficient in relation.items():
            if cell in column:
                matrix[i, column[cell]] = coefficient
    basis = null_space(matrix)
    free = (
        np.abs(basis).max(axis=1) > 1e-9 if basis.size else np.zeros(len(hidden), bool)
    )
    return [int(hidden[j]) for j in np.flatnonzero(~free)]


def assert_protected(result: RegisterResult) -> int:
    cells = published_cells(result)
    rels = relations(cells)
    hidden = cells["obs_value"].isna().to_numpy()
    counts = [sum(bool(hidden[c]) for c in r) for r in rels]
    assert counts and all(n == 0 or n >= 2 for n in counts)
    exposed = recoverable(cells, rels)
    assert exposed == [], cells.iloc[exposed][KEY + ["conf_status"]]
    return int(hidden.sum())


def test_generated_register__no_suppressed_cell_recoverable(
    small_result: RegisterResult,
) -> None:
    """Across observations and all tables of each country and year."""
    status = small_result.suppressed()
    assert status.get("A", 0) and status.get("G", 0) and status.get("S", 0)
    # Tables add derived cells (EMP_FTE of all work from paid work) that follow
    # their suppressed inputs, so at least the suppressed observations are hidden.
    assert assert_protected(small_result) >= sum(
        n for code, n in status.items() if code != "F"
    )


def test_tables__ratios_and_derived_cells_follow_their_inputs(
    small_result: RegisterResult,
) -> None:
    """A published ratio never divides a suppressed cell; no table fills a hole."""
    obs = small_result.observations
    key = ["ref_area", "time_period", "sse_entity", "activity", "inst_sector", "region"]
    hidden = obs[obs["obs_value"].isna()]
    for name, table in small_result.tables.items():
        submitted = table[~table["is_derived"]]
        merged = submitted.merge(obs, on=[*key, "measure", "sex", "work_cat",
                                          "member_type", "coop_type", "coop_level"],
                                 suffixes=("", "_obs"))  # fmt: skip
        assert (merged["obs_value"].isna() == merged["obs_value_obs"].isna()).all(), (
            name
        )
        ratios = table[table["measure"].isin({"D1_PER_FTE", "B1G_PER_FTE"})]
        for _, cell in ratios[ratios["obs_value"].notna()].iterrows():
            same = hidden
            for column in key:
                same = same[same[column] == cell[column]]
            assert cell["base_measure"] not in set(same["measure"]), (name, cell)


@pytest.fixture(params=[".parquet", ".csv"])
def crafted_register(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """One country: a normal group, a small one, a dominated one, a p % one.

    As Parquet and as CSV: the second largest contributions come from a scan of
    the units for the one, from the fine cells for the other (keeps_top2).
    """
    rows = []
    for i in range(12):  # associations: no unit stands out
        rows.append(unit(employees=400 + i, fte=15.0 + i, output=5000 + 10 * i))
    for i in range(2):  # two foundations: too few units
        rows.append(unit(sse_entity="FOUND", activity="P", employees=5 + i, fte=5.0))
    sizes = [4000, 3, 2, 2, 4, 3, 2, 5]  # social enterprises: one giant employer
    for n in sizes:
        rows.append(unit(sse_entity="SOCENT", activity="C", employees=n, fte=float(n)))
    for n in (500, 450, 20, 20, 10):  # construction: two units share one cell
        rows.append(unit(activity="F", employees=n, fte=float(n)))
    money = [100_000, 10_000, 10_000, 10_000, 10_000, 10_000]  # mutuals: p %
    for output in money:
        rows.append(
            unit(sse_entity="MUTUAL", activity="K", output=output,
                 intermediate_consumption=output // 2)
        )  # fmt: skip
    return crafted(rows, tmp_path / f"crafted{request.param}")


@pytest.fixture
def crafted_result(crafted_register: Path) -> RegisterResult:
    """The register path on ``crafted_register``."""
    return process_register(crafted_register, SCHEMAS)


def _entity_cell(result: RegisterResult, entity: str, measure: str) -> pd.Series:
    obs = result.observations
    rows = obs[
        (obs["sse_entity"] == entity)
        & (obs["activity"] == "_T")
        & (obs["inst_sector"] == "_T")
        & (obs["region"] == "_T")
        & (obs["measure"] == measure)
    ]
    assert len(rows) == 1, (entity, measure)
    return rows.iloc[0]


def test_small_cell__frequency__every_magnitude_suppressed(
    crafted_result: RegisterResult,
) -> None:
    for measure in ("EMP_PS", "EMP_FTE", "P1", "P2", "B1G", "D1", "D11", "D12"):
        cell = _entity_cell(crafted_result, "FOUND", measure)
        assert (cell["conf_status"], cell["obs_status"]) == ("A", "Q"), measure
        assert pd.isna(cell["obs_value"]) and cell["obs_value_text"] is None
    # The count of units itself is published (schema.md §10: magnitudes only).
    assert _entity_cell(crafted_result, "FOUND", "N_UNITS")["obs_value"] == 2.0


def test_dominated_cell__dominance__suppressed(crafted_result: RegisterResult) -> None:
    """One social enterprise holds 4000 of 4021 employees: (2, 85 %) dominance."""
    assert _entity_cell(crafted_result, "SOCENT", "EMP_PS")["conf_status"] == "G"
    assert _entity_cell(crafted_result, "SOCENT", "N_UNITS")["obs_value"] == 8.0


def test_two_largest_in_one_fine_cell__dominance_from_the_second(
    crafted_result: RegisterResult,
) -> None:
    """Construction employs 1000: 500 + 450 in two units of one fine cell. The
    largest alone is 50 %, the two largest 95 %: only the true second largest
    contribution makes it (2, 85 %) dominance."""
    obs = crafted_result.observations
    cell = obs[
        (obs["sse_entity"] == "_T")
        & (obs["activity"] == "F")
        & (obs["measure"] == "EMP_PS")
    ]
    assert cell["conf_status"].tolist() == ["G"]


def test_concentrated_cell__p_percent__suppressed(
    crafted_result: RegisterResult,
) -> None:
    """Output 100 000 + 5 × 10 000: the two largest hold 73 % (not dominant), but
    the rest (40 000) is under 80 % of the largest, so the second largest could
    estimate it too closely."""
    assert _entity_cell(crafted_result, "MUTUAL", "P1")["conf_status"] == "M"
    assert _entity_cell(crafted_result, "ASSOC", "P1")["conf_status"] in ("F", "S")


def test_secondary__protects_the_primary_cells(crafted_result: RegisterResult) -> None:
    """The SSE total and the groups are published: a second cell hides each hole."""
    total = _entity_cell(crafted_result, "_T", "EMP_PS")
    assert total["conf_status"] == "F"
    statuses = {
        entity: _entity_cell(crafted_result, entity, "EMP_PS")["conf_status"]
        for entity in ("ASSOC", "FOUND", "SOCENT", "MUTUAL")
    }
    assert statuses["FOUND"] == "A" and statuses["SOCENT"] == "G"
    assert_protected(crafted_result)


def test_single_primary_cell__gets_a_secondary_partner(tmp_path: Path) -> None:
    """Two groups under a published total: hiding one alone would reveal it."""
    rows = [unit(employees=10 + i, fte=8.0) for i in range(6)]
    rows += [unit(sse_entity="FOUND", activity="P", employees=7, fte=5.0)]
    result = process_register(crafted(rows, tmp_path / "two.parquet"), SCHEMAS)
    found = _entity_cell(result, "FOUND", "EMP_PS")
    assoc = _entity_cell(result, "ASSOC", "EMP_PS")
    total = _entity_cell(result, "_T", "EMP_PS")
    assert found["conf_status"] == "A"
    assert (assoc["conf_status"], total["conf_status"]) in (("S", "F"), ("F", "S"))
    assert_protected(result)


def test_second_bounds__generated_register__bracket_and_same_verdicts(
    small_parquet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounds from the fine cells hold the true second largest contribution, and
    the verdicts reached with them are those reached by reading every unit."""
    decided = _check_second_bounds(small_parquet, monkeypatch)
    assert decided > 0  # some cells need no unit read


def test_second_bounds__crafted_register__bracket_and_same_verdicts(
    crafted_register: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on the crafted cells (a giant employer, two large units in one
    fine cell, a p % cell), Parquet and CSV."""
    _check_second_bounds(crafted_register, monkeypatch)


def _check_second_bounds(path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the register path, checking its primary step; cells the bounds decide."""
    seen: list[int] = []

    def checked(
        cells: pd.DataFrame, params: object, *, count_series: str, top2: Any,
        top2_bounds: Any,
    ) -> pd.Series:  # fmt: skip
        exact = primary_status(cells, params, count_series=count_series, top2=top2)
        wanted = (cells["series"] != count_series) & (cells["top1"].fillna(0) > 0)
        second = pd.Series(top2(wanted), index=cells.index)[wanted]
        low, high = (b[wanted] for b in top2_bounds(wanted))
        assert (low <= second).all() and (second <= high).all()
        seen.append(int((low == high).sum()))
        bounded = primary_status(
            cells, params, count_series=count_series, top2=top2,
            top2_bounds=top2_bounds,
        )  # fmt: skip
        pdt.assert_series_equal(bounded, exact)
        return bounded

    monkeypatch.setattr("sse_stats.register.process.primary_status", checked)
    process_register(path, SCHEMAS, tables=False)
    assert len(seen) == 1
    return seen[0]
