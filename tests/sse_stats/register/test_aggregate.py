"""Aggregation: totals equal a direct sum of the units; frames as the contract says."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pandas.testing as pdt

from sse_stats.accounts.shells import KEY_COLUMNS
from sse_stats.harmonise.frame import curated_columns
from sse_stats.register import RegisterResult, load_register_mapping, process_register
from sse_stats.register.source import Units, column_types
from sse_stats.schema.load import load_schema

from .conftest import SCHEMAS, crafted, unit

DIMS = ("sse_entity", "coop_type", "coop_level", "activity", "inst_sector", "region")


def _direct_sum(units: pd.DataFrame, cell: pd.Series, terms: list[str]) -> str:
    """The cell's value summed from the units with pandas, exactly (Decimal)."""
    mask = (units["ref_area"] == cell["ref_area"]) & (
        units["time_period"].astype(str) == cell["time_period"]
    )
    for dim in DIMS:
        code = cell[dim]
        if code not in ("_T", "_Z"):
            mask &= units[dim] == code
    chosen = units[mask]
    if not terms:
        return str(len(chosen))
    total = sum(
        (Decimal(str(v)) for t in terms for v in chosen[t].tolist()), Decimal(0)
    )
    return str(total)


def test_published_cells__equal_direct_sum_of_units(
    small_parquet: Path, small_result: RegisterResult
) -> None:
    """Every published value is the exact sum of its units (text and float)."""
    units = pd.read_parquet(small_parquet)  # 20 000 units: fine in a test
    mapping = load_register_mapping(SCHEMAS, "make_register")
    terms = {(s.measure, s.codes["sex"]): list(s.terms) for s in mapping.series}
    published = small_result.observations[
        small_result.observations["obs_value"].notna()
    ]
    assert len(published) > 300
    for _, cell in published.iterrows():
        expected = _direct_sum(units, cell, terms[(cell["measure"], cell["sex"])])
        assert Decimal(cell["obs_value_text"]) == Decimal(expected), cell.to_dict()
        assert cell["obs_value"] == float(Decimal(expected))


def test_country_total__nothing_suppressed__equals_sum_of_units(
    small_parquet: Path, small_result: RegisterResult
) -> None:
    units = pd.read_parquet(small_parquet)
    totals = small_result.observations.query(
        "sse_entity == '_T' and activity == '_T' and region == '_T' "
        "and inst_sector == '_T' and sex in ('_T', '_Z')"
    ).set_index(["ref_area", "measure"])
    for area, group in units.groupby("ref_area"):
        assert totals.loc[(area, "N_UNITS"), "obs_value"] == len(group)
        assert totals.loc[(area, "P1"), "obs_value_text"] == str(group["output"].sum())
        assert totals.loc[(area, "D1"), "obs_value_text"] == str(
            group["compensation"].sum()
        )
        fte = sum((Decimal(str(v)) for v in group["fte"]), Decimal(0))
        assert Decimal(totals.loc[(area, "EMP_FTE"), "obs_value_text"]) == fte


def test_n_units_beside_every_magnitude(small_result: RegisterResult) -> None:
    obs = small_result.observations
    cell = ["ref_area", "time_period", *DIMS]
    counted = set(map(tuple, obs[obs["measure"] == "N_UNITS"][cell].to_numpy()))
    magnitudes = set(map(tuple, obs[obs["measure"] != "N_UNITS"][cell].to_numpy()))
    assert magnitudes <= counted
    assert obs.loc[obs["measure"] == "N_UNITS", "obs_value"].notna().all()


def test_frame__harmonised_layout_codes_and_provenance(
    small_parquet: Path, small_result: RegisterResult
) -> None:
    obs = small_result.observations
    assert list(obs.columns) == curated_columns(load_schema(SCHEMAS))
    assert obs["source_row"].isna().all() and str(obs["source_row"].dtype) == "Int64"
    assert set(obs["source_file"]) == {small_parquet.name}
    assert set(obs["source_sha256"]) == {small_result.source_sha256}
    assert set(obs["mapping_file"]) == {"registers/make_register.yaml"}
    assert set(obs["unit_mult"]) == {0}
    money = obs[obs["unit_measure"] == "XDC"]
    assert set(money["currency"]) == {"EUR"}  # PRT, ESP, FRA
    assert obs.loc[obs["unit_measure"] != "XDC", "currency"].isna().all()
    # Applicability (schema.md §4.12).
    total = obs[obs["sse_entity"] == "_T"]
    assert set(total["sse_entity_nat"]) == {"_Z"}
    assert set(total["coop_type"]) == {"_Z"}
    groups = obs[obs["sse_entity"] != "_T"]
    assert set(groups["sse_entity_nat"]) == {"_T"}
    assert set(obs.loc[obs["sse_entity"] == "ASSOC", "coop_level"]) == {"_Z"}
    assert set(obs.loc[obs["sse_entity"] == "COOP", "coop_type"]) >= {"_T", "WORKER"}
    members = obs[obs["measure"] == "N_MEMBERS"]
    assert set(members["sex"]) == {"F", "M", "_T"}
    assert set(members["member_type"]) == {"PERSON"}
    assert set(obs.loc[obs["measure"] == "EMP_PS", "work_cat"]) == {"EMP"}
    assert set(obs.loc[obs["measure"] == "N_UNITS", "unit_state"]) == {"REGISTERED"}
    assert obs.loc[obs["measure"] != "N_UNITS", "unit_state"].isna().all()
    key = [c for c in KEY_COLUMNS if c in obs.columns]
    assert not obs.duplicated(key).any()


def test_deterministic__same_file_same_frames(
    small_parquet: Path, small_result: RegisterResult
) -> None:
    again = process_register(small_parquet, SCHEMAS)
    pdt.assert_frame_equal(again.observations, small_result.observations)
    assert again.tables.keys() == small_result.tables.keys()
    for name, table in small_result.tables.items():
        pdt.assert_frame_equal(again.tables[name], table)


def test_csv_and_parquet__same_observations(
    small_csv: Path, small_result: RegisterResult
) -> None:
    from_csv = process_register(small_csv, SCHEMAS, tables=False)
    columns = [
        c
        for c in small_result.observations
        if c not in ("source_file", "source_sha256")
    ]
    pdt.assert_frame_equal(
        from_csv.observations[columns], small_result.observations[columns]
    )


def test_one_partition__equals_its_rows_of_the_whole_file(
    small_parquet: Path, small_result: RegisterResult
) -> None:
    """A Dagster partition (one country and year) gives the same cells."""
    alone = process_register(small_parquet, SCHEMAS, ref_area="ESP", time_period="2022")
    assert alone.partitions == [("ESP", "2022")]
    whole = small_result.observations
    expected = whole[whole["ref_area"] == "ESP"].reset_index(drop=True)
    pdt.assert_frame_equal(alone.observations, expected)
    table = "t01_key_aggregates_by_entity"
    subset = small_result.tables[table]
    pdt.assert_frame_equal(
        alone.tables[table],
        subset[subset["ref_area"] == "ESP"].reset_index(drop=True),
    )


def test_table_workers__same_tables_as_one_process(
    small_parquet: Path, small_result: RegisterResult
) -> None:
    """Countries built in forked workers give the same rows as one process."""
    alone = process_register(small_parquet, SCHEMAS, workers=1)
    pdt.assert_frame_equal(alone.observations, small_result.observations)
    for name, table in small_result.tables.items():
        pdt.assert_frame_equal(alone.tables[name], table)


def test_checked_float__plain_rounding__reads_the_same_number(tmp_path: Path) -> None:
    """A float validation found exact is read by rounding alone: the same values.

    Binary floats such as 0.1 + 0.2 or 0.7 × 3 are not the decimal they stand
    for; rounding them to the declared decimals must give what the tested
    expression gives.
    """
    values = [0.1 + 0.2, 0.7 * 3, 2.3, 8.5, 1_000_000.1, 0.0, 123456.7]
    rows = [unit(employees=10**7, fte=v) for v in values]
    path = crafted(rows, tmp_path / "reg.parquet")
    mapping = load_register_mapping(SCHEMAS, "make_register")
    con = duckdb.connect()
    types = column_types(con, path)

    def read(numbers: frozenset[str]) -> list[int]:
        units = Units(mapping=mapping, path=path, types=types, numbers=numbers)
        cte, params = units.sql()
        query = f"{cte} SELECT v_fte FROM units ORDER BY __row"  # noqa: S608
        found = con.execute(query, params)
        return [row[0] for row in found.fetchall()]

    assert read(frozenset({"fte"})) == read(frozenset()) == [
        3, 21, 23, 85, 10_000_001, 0, 1_234_567
    ]  # fmt: skip


def test_inexact_float__not_read_as_checked__reported_and_left_out(
    tmp_path: Path, schemas_copy: Callable[[Mapping[str, str]], Path]
) -> None:
    """A value with more decimals than declared stays a finding, never a rounding.

    With the rule a warning, the register is published: the unit's FTE is left
    out of the sums (20 × 4.5), not rounded in (4.55 would give 94.5 or 94.6).
    """
    rows = [unit(fte=4.5)] * 10 + [unit(fte=4.55)] + [unit(fte=4.5)] * 10
    path = crafted(rows, tmp_path / "reg.parquet")
    schemas = schemas_copy({"register_value_is_number": "warning"})
    result = process_register(path, schemas, tables=False)
    found = [f for f in result.findings if f.rule == "register_value_is_number"]
    assert [(f.row, f.column) for f in found] == [(11, "fte")]
    assert not result.blocked
    obs = result.observations
    total = obs[
        (obs["measure"] == "EMP_FTE") & (obs["sse_entity"] == "_T")
        & (obs["activity"] == "_T") & (obs["region"] == "_T")
        & (obs["inst_sector"] == "_T")
    ]  # fmt: skip
    assert total["obs_value_text"].tolist() == ["90.0"]
