"""Editions: the current edition of each figure, and revisions between editions."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.publish.connections import open_duckdb
from sse_stats.publish.editions import current_and_revisions, view_definitions
from sse_stats.publish.publication import publish_curated
from sse_stats.publish.raw_files import check_raw_file
from sse_stats.publish.staging import promote_submission, stage_submission
from sse_stats.publish.store import read_table
from sse_stats.settings import Paths

ROOT = Path(__file__).resolve().parents[3]
NSO = ROOT / "tests" / "fixtures" / "nso"
PRT_1 = NSO / "good" / "PRT_2019-2020.csv"  # edition 2024-03-01
PRT_2 = NSO / "bad" / "PRT__edition2_revision_plus60pct_no_break.csv"  # 2025-03-03
MEX = NSO / "good" / "template_MEX_2019-2020.csv"  # edition 2021-11-30


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    raw = tmp_path / "raw"
    raw.mkdir()
    return Paths(raw=raw, curated=tmp_path / "curated", schemas=ROOT / "schemas")


def submit(paths: Paths, source: Path | bytes, name: str, day: int) -> str:
    """Copy a file into raw, check, stage (received 2025-01-<day>), promote."""
    target = paths.raw / name
    if isinstance(source, bytes):
        target.write_bytes(source)
    else:
        shutil.copyfile(source, target)
    report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    when = dt.datetime(2025, 1, day, 12, tzinfo=dt.UTC)
    staged = stage_submission(
        report,
        paths.curated,
        trigger="batch",
        received_at=when,
        schemas_dir=paths.schemas,
    )
    if staged.accepted:
        promote_submission(paths, name)
    return staged.status


def view(paths: Paths, sql: str) -> list[tuple[object, ...]]:
    with open_duckdb(paths.curated / "sse.duckdb", read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_resubmission_is_a_new_edition_with_revision_rows(paths: Paths) -> None:
    assert submit(paths, PRT_1, "PRT_2019-2020.csv", 1) == "accepted"
    publish_curated(paths.curated)
    assert read_table(paths.curated, "harmonised", "revisions").empty

    assert submit(paths, PRT_2, "PRT_2019-2020_ed2.csv", 2) == "accepted"
    publish_curated(paths.curated)

    observations = read_table(paths.curated, "harmonised", "observations")
    assert set(observations["edition"]) == {"2024-03-01", "2025-03-03"}  # both kept
    current = read_table(paths.curated, "harmonised", "observations_current")
    assert set(current["edition_used"]) == {"2025-03-03"}
    assert len(current) == (observations["edition"] == "2025-03-03").sum()
    revisions = read_table(paths.curated, "harmonised", "revisions")
    # two rows of the national file changed: 2020 cooperatives and the SSE total
    assert set(revisions["time_period"]) == {"2020"}
    assert set(revisions["sse_entity"]) == {"COOP", "_T"}
    assert (revisions["old_edition"] == "2024-03-01").all()
    assert (revisions["new_edition"] == "2025-03-03").all()
    b1g = revisions[
        (revisions["sse_entity"] == "COOP") & (revisions["measure"] == "B1G")
    ]
    assert len(b1g) == 1
    row = b1g.iloc[0]
    assert (row["old_value"], row["new_value"]) == (732.7, 1172.3)
    assert row["difference"] == pytest.approx(1172.3 - 732.7)
    assert (row["old_obs_status"], row["new_obs_status"]) == ("A", "A")
    assert (row["old_conf_status"], row["new_conf_status"]) == ("F", "F")
    assert row["new_source_file"] == "PRT_2019-2020_ed2.csv"
    assert row["old_source_file"] == "PRT_2019-2020.csv"
    # the DuckDB views give the same rows as the Parquet tables
    assert view(paths, "SELECT count(*) FROM harmonised.revisions") == [
        (len(revisions),)
    ]
    assert view(
        paths,
        "SELECT DISTINCT edition_used FROM harmonised.observations_current",
    ) == [("2025-03-03",)]


def _broken(source: Path) -> bytes:
    """The revised PRT file with one unknown entity label: rejected."""
    text = source.read_bytes()
    assert b"2020;Cooperativas;3.563" in text
    return text.replace(b"2020;Cooperativas;3.563", b"2020;Cooperativaz;3.563")


def test_a_rejected_resubmission_leaves_the_previous_edition_current(
    paths: Paths,
) -> None:
    assert submit(paths, PRT_1, "PRT_2019-2020.csv", 1) == "accepted"
    publish_curated(paths.curated)
    before = read_table(paths.curated, "harmonised", "observations_current")

    assert submit(paths, _broken(PRT_2), "PRT_2019-2020_ed2.csv", 2) == "rejected"
    with pytest.raises(Exception, match="rejected"):
        promote_submission(paths, "PRT_2019-2020_ed2.csv")
    summary = publish_curated(paths.curated)

    assert summary.rejected == 1
    current = read_table(paths.curated, "harmonised", "observations_current")
    assert set(current["edition_used"]) == {"2024-03-01"}
    columns = sorted(before.columns)
    pd.testing.assert_frame_equal(
        current[columns]
        .sort_values(["time_period", "source_row", "measure"])
        .reset_index(drop=True),
        before[columns]
        .sort_values(["time_period", "source_row", "measure"])
        .reset_index(drop=True),
    )
    assert read_table(paths.curated, "harmonised", "revisions").empty
    meta = read_table(paths.curated, "meta", "submissions").set_index("source_file")
    assert meta.loc["PRT_2019-2020_ed2.csv", "status"] == "rejected"
    assert "code_is_mapped" in meta.loc["PRT_2019-2020_ed2.csv", "reason"]
    assert view(
        paths, "SELECT DISTINCT edition_used FROM harmonised.observations_current"
    ) == [("2024-03-01",)]


def _without_edition(source: Path) -> bytes:
    rows = list(csv.reader(io.StringIO(source.read_text(encoding="utf-8"))))
    at = rows[0].index("EDITION")
    for row in rows[1:]:
        if row:
            row[at] = ""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def test_an_empty_edition_is_read_as_the_date_received(paths: Paths) -> None:
    assert submit(paths, MEX, "template_MEX_2019-2020.csv", 1) == "accepted"
    assert submit(paths, _without_edition(MEX), "MEX_resent.csv", 9) == "accepted"
    publish_curated(paths.curated)

    current = read_table(paths.curated, "harmonised", "observations_current")
    # received 2025-01-09, later than the edition 2021-11-30: it is current
    assert set(current["edition_used"]) == {"2025-01-09"}
    assert current["edition"].isna().all()
    assert set(current["source_file"]) == {"MEX_resent.csv"}
    assert view(
        paths, "SELECT DISTINCT edition_used FROM harmonised.observations_current"
    ) == [("2025-01-09",)]
    # same values in both editions: nothing revised
    assert read_table(paths.curated, "harmonised", "revisions").empty


def test_views_are_listed_in_meta_and_the_serving_copy(paths: Paths) -> None:
    assert submit(paths, PRT_1, "PRT_2019-2020.csv", 1) == "accepted"
    publish_curated(paths.curated)
    listed = view(
        paths,
        "SELECT table_schema, table_name, table_type FROM meta.tables "
        "WHERE table_type = 'VIEW' ORDER BY 2",
    )
    assert listed == [
        ("harmonised", "observations_current", "VIEW"),
        ("harmonised", "revisions", "VIEW"),
    ]
    meta_views = read_table(paths.curated, "meta", "views")
    assert list(meta_views["view_name"]) == list(view_definitions()["view_name"])
    # every table's count in meta.tables matches its Parquet table
    for schema, table, rows in view(
        paths, "SELECT table_schema, table_name, row_count FROM meta.tables"
    ):
        if (schema, table) != ("meta", "tables"):
            assert len(read_table(paths.curated, str(schema), str(table))) == rows


def test_current_and_revisions_on_frames() -> None:
    """Ties and multipliers: the later receipt wins; differences in the new unit."""
    base = {
        "ref_area": "PRT",
        "region": "_T",
        "freq": "A",
        "sse_entity": "COOP",
        "sse_entity_nat": "_Z",
        "coop_type": "_Z",
        "coop_level": "_Z",
        "activity": "_T",
        "inst_sector": "_T",
        "sex": "_Z",
        "work_cat": "_Z",
        "member_type": "_Z",
        "measure": "B1G",
        "unit_measure": "XDC",
        "obs_status_nat": None,
        "conf_status": "F",
        "unit_state": None,
        "share_base": None,
        "source_row": 2,
    }
    rows = [
        # (year, value, text, mult, status, edition, sha)
        ("2020", 1.5, "1.5", 6, "A", "2024", "a"),
        ("2020", 1600.0, "1600", 3, "E", "2024-06", "b"),
        ("2021", 7.0, "7", 6, "A", "2024", "a"),
    ]
    observations = pd.DataFrame(
        [
            base
            | {
                "time_period": y,
                "obs_value": v,
                "obs_value_text": t,
                "unit_mult": m,
                "obs_status": s,
                "edition": e,
                "source_sha256": h,
                "source_file": f"{h}.csv",
            }
            for y, v, t, m, s, e, h in rows
        ]
    )
    submissions = pd.DataFrame(
        {
            "source_sha256": ["a", "b"],
            "received_at": pd.to_datetime(["2024-07-01", "2024-07-02"], utc=True),
            "received_date": ["2024-07-01", "2024-07-02"],
        }
    )
    current, revisions = current_and_revisions(observations, submissions)
    assert sorted(
        zip(current["time_period"], current["edition_used"], strict=True)
    ) == [
        ("2020", "2024-06"),  # "2024-06" sorts after "2024"
        ("2021", "2024"),  # only the first edition has 2021
    ]
    (revision,) = revisions.itertuples()
    assert revision.difference == pytest.approx(
        1600 - 1500
    )  # 1.5 million = 1500 thousand
    assert (revision.old_obs_status, revision.new_obs_status) == ("A", "E")
    assert (revision.old_unit_mult, revision.new_unit_mult) == (6, 3)
