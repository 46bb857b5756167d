"""Satellite tables are published under one name in Parquet and DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sse_stats.publish.connections import open_duckdb
from sse_stats.publish.publication import publish_curated
from sse_stats.publish.satellite import publish_satellite
from sse_stats.publish.staging import promote_submission, stage_raw_file
from sse_stats.publish.store import read_table
from sse_stats.settings import Paths

ROOT = Path(__file__).resolve().parents[3]
GOOD = ROOT / "tests" / "fixtures" / "nso" / "good"


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A curated store with the PRT and MEX good files published."""
    base = tmp_path_factory.mktemp("sat")
    raw = base / "raw"
    raw.mkdir()
    for name in ("PRT_2019-2020.csv", "template_MEX_2019-2020.csv"):
        shutil.copy(GOOD / name, raw / name)
    paths = Paths(raw=raw, curated=base / "curated", schemas=ROOT / "schemas")
    for name in sorted(p.name for p in raw.iterdir()):
        stage_raw_file(paths, name, trigger="batch")
        promote_submission(paths, name)
    publish_curated(paths.curated)
    publish_satellite(paths.curated, paths.schemas)
    return paths.curated


def test_publish_satellite__every_shell__parquet_and_duckdb_agree(
    curated: Path,
) -> None:
    """Each shell is a Parquet folder and a DuckDB table of the same name and size."""
    shells = sorted(p.stem for p in (ROOT / "schemas" / "tables").glob("t*.yaml"))
    assert len(shells) == 10
    with open_duckdb(curated / "sse.duckdb", read_only=True) as con:
        listed = {
            r[0]: r[1]
            for r in con.execute(
                "SELECT table_name, estimated_size FROM duckdb_tables() "
                "WHERE schema_name = ?",
                ["satellite"],
            ).fetchall()
        }
        for name in [*shells, "comparison"]:
            frame = read_table(curated, "satellite", name)
            count = con.execute(
                "SELECT count(*) FROM query_table(?)", [f"satellite.{name}"]
            ).fetchall()
            assert name in listed
            assert count == [(len(frame),)]


def test_publish_satellite__comparison__prt_share_of_gva(curated: Path) -> None:
    """The comparison view gives PRT's SSE share of GVA, 3.04 % in 2019."""
    view = read_table(curated, "satellite", "comparison")
    prt = view[(view.ref_area == "PRT") & (view.time_period == "2019")].iloc[0]
    assert round(float(prt.share_b1g), 2) == 3.04
    assert set(view.ref_area) == {"PRT", "MEX"}


def test_publish_satellite__confidential_input__stays_empty(curated: Path) -> None:
    """PRT 2020 D1 of mutual societies (flag x) is empty and confidential in T1."""
    t01 = read_table(curated, "satellite", "t01_key_aggregates_by_entity")
    cell = t01[
        (t01.ref_area == "PRT")
        & (t01.time_period == "2020")
        & (t01.sse_entity == "MUTUAL")
        & (t01.measure == "D1")
    ]
    assert len(cell) == 1
    assert cell.obs_value.isna().all() and (cell.conf_status != "F").all()
