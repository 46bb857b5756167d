"""Staging, promotion and publication of submissions (no Dagster here)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.errors import StoreError, UsageError
from sse_stats.publish.publication import (
    TRIGGERS,
    UnsafeFileError,
    check_raw_file,
    findings_markdown,
    list_submissions,
    name_problem,
    promote_submission,
    publish_curated,
    stage_raw_file,
    stage_submission,
    submission_path,
)
from sse_stats.publish.store import open_duckdb, read_table
from sse_stats.settings import Paths

ROOT = Path(__file__).resolve().parents[3]
SOURCES = (
    ROOT / "data" / "raw",
    ROOT / "tests" / "fixtures" / "nso",
    ROOT.parent / "shared" / "fixtures",
)
GOOD_PRT = "PRT_2019-2020.csv"
GOOD_KOR = "template_KOR_2016-register.csv"
BAD_MEX = "template__B1G_not_P1_minus_P2.csv"
PRT_EDITION_2 = "PRT__edition2_revision_plus60pct_no_break.csv"
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def fixture_file(kind: str, name: str) -> Path:
    """A submission from data/raw, else the fixture copies (good/ or bad/)."""
    for base in SOURCES:
        for path in (base / name, base / kind / name):
            if path.is_file():
                return path
    pytest.skip(f"fixture {kind}/{name} not found")


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    raw = tmp_path / "raw"
    raw.mkdir()
    return Paths(raw=raw, curated=tmp_path / "curated", schemas=ROOT / "schemas")


def add(paths: Paths, kind: str, name: str, as_name: str | None = None) -> str:
    """Copy a fixture into the raw folder; return its name there."""
    target = paths.raw / (as_name or name)
    shutil.copyfile(fixture_file(kind, name), target)
    return target.name


def stage(paths: Paths, name: str, received: int | None = None) -> None:
    """Check and stage a raw file; promote it when accepted."""
    report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    when = None if received is None else dt.datetime(2025, 1, received, tzinfo=dt.UTC)
    staged = stage_submission(report, paths.curated, trigger="batch", received_at=when)
    if staged.accepted:
        promote_submission(paths, name)


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Relative path -> (sha256, mtime_ns) of every file under folder."""
    return {
        p.relative_to(folder).as_posix(): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------


def test_stage_writes_the_staging_folder_and_the_report(paths: Paths) -> None:
    name = add(paths, "good", GOOD_KOR)
    report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    staged = stage_submission(report, paths.curated, trigger="manual")

    assert staged.status == "accepted" and staged.accepted
    assert report.sha256 is not None
    assert (
        staged.folder
        == (
            paths.curated
            / "staging"
            / f"template_KOR_2016-register.{report.sha256[:8]}"
        ).resolve()
    )
    files = sorted(p.name for p in staged.folder.iterdir())
    assert files == [
        "findings.parquet",
        "observations.parquet",
        "rule_summary.parquet",
        "submission.json",
    ]
    assert report.frame is not None
    assert len(pd.read_parquet(staged.folder / "observations.parquet")) == len(
        report.frame
    )
    findings = pd.read_parquet(staged.folder / "findings.parquet")
    assert {"checked_at", "trigger", "sse_stats_version", "source_row"} <= set(
        findings.columns
    )
    assert set(findings["trigger"]) <= {"manual"}
    record = json.loads((staged.folder / "submission.json").read_text(encoding="utf-8"))
    assert record["source_file"] == name
    assert record["status"] == "accepted"
    assert record["ref_areas"] == ["KOR"] and record["rows"] == len(report.frame)
    assert record["layout"] == "canonical"
    # reports/<source_file>.<sha8>.json: the document of sse-stats check --format json
    report_file = paths.curated / "reports" / f"{name}.{report.sha256[:8]}.json"
    assert staged.report_file == report_file.resolve()
    assert report_file.read_text(encoding="utf-8").strip() == report.to_json()


def test_mapped_layout_records_its_mapping(paths: Paths) -> None:
    name = add(paths, "good", GOOD_PRT)
    staged = stage_raw_file(paths, name, trigger="batch")
    assert staged.status == "accepted"
    assert staged.country == "PRT" and staged.ref_areas == ("PRT",)
    assert staged.mapping_file is not None and "PRT" in staged.mapping_file
    assert staged.metadata()["mapping_file"] == staged.mapping_file


def test_trigger_must_be_known(paths: Paths) -> None:
    name = add(paths, "good", GOOD_KOR)
    report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    with pytest.raises(UsageError, match="trigger"):
        stage_submission(report, paths.curated, trigger="cron")
    assert "batch" in TRIGGERS


def test_a_file_without_layout_is_staged_as_unusable(paths: Paths) -> None:
    name = add(paths, "good", GOOD_PRT, as_name="USA_2021.csv")
    staged = stage_raw_file(paths, name, trigger="batch")
    assert staged.status == "unusable" and not staged.accepted
    assert staged.message is not None and "USA" in staged.message
    assert staged.report_file is None
    no_prefix = add(paths, "good", GOOD_PRT, as_name="data.csv")
    staged = stage_raw_file(paths, no_prefix, trigger="batch")
    assert staged.status == "unusable"
    assert "ISO 3166-1 alpha-3" in (staged.message or "")


def test_untrusted_names_stay_inside_curated(paths: Paths) -> None:
    odd = "PRT édition (copie) ;$x.csv"
    name = add(paths, "good", GOOD_PRT, as_name=odd)
    staged = stage_raw_file(paths, name, trigger="batch")
    assert staged.source_file == odd
    assert SAFE_NAME.fullmatch(staged.folder.name)
    assert staged.folder.parent == (paths.curated / "staging").resolve()
    assert staged.report_file is not None and SAFE_NAME.fullmatch(
        staged.report_file.name
    )
    assert staged.report_file.parent == (paths.curated / "reports").resolve()
    # a name that sanitises to the same text still gets its own folder
    other = add(paths, "good", GOOD_PRT, as_name="PRT édition (copie) _$x.csv")
    assert stage_raw_file(paths, other, trigger="batch").folder != staged.folder


def test_a_staging_folder_that_leaves_curated_is_refused(
    paths: Paths, tmp_path: Path
) -> None:
    name = add(paths, "good", GOOD_KOR)
    report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths.curated.mkdir()
    (paths.curated / "staging").symlink_to(elsewhere)
    with pytest.raises(StoreError, match="outside"):
        stage_submission(report, paths.curated, trigger="batch")
    assert list(elsewhere.iterdir()) == []


# --------------------------------------------------------------------------
# Raw file names and links
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../x.csv",
        "a/b.csv",
        "a\\b.csv",
        "a..b.csv",
        "",
        "bad\x00.csv",
        "bad\n.csv",
        "x\u202egsv.csv",
        "..",
    ],
)
def test_unsafe_names_are_refused(name: str) -> None:
    assert name_problem(name) is not None


def test_ordinary_names_are_accepted() -> None:
    assert name_problem("PRT_2019-2020.csv") is None
    assert name_problem("Portugal édition 2.csv") is None


def test_symlinks_outside_raw_are_refused(paths: Paths, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    shutil.copyfile(fixture_file("good", GOOD_KOR), outside)
    (paths.raw / "evil.csv").symlink_to(outside)
    name = add(paths, "good", GOOD_KOR)
    (paths.raw / "alias.csv").symlink_to(paths.raw / name)
    (paths.raw / "folder.csv").mkdir()
    (paths.raw / "notes.txt").write_text("x", encoding="utf-8")

    with pytest.raises(UnsafeFileError, match="outside the raw folder"):
        submission_path(paths.raw, "evil.csv")
    with pytest.raises(UnsafeFileError):
        stage_raw_file(paths, "evil.csv", trigger="batch")
    assert submission_path(paths.raw, "alias.csv") == paths.raw / "alias.csv"
    listing = list_submissions(paths.raw)
    assert listing.names == ("alias.csv", name)
    assert [n for n, _ in listing.refused] == ["evil.csv"]
    assert not (paths.curated / "staging").exists()


def test_listing_a_missing_raw_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        list_submissions(tmp_path / "nope")


# --------------------------------------------------------------------------
# Promotion and publication
# --------------------------------------------------------------------------


def test_rejected_rows_never_reach_harmonised_observations(paths: Paths) -> None:
    good = add(paths, "good", GOOD_KOR)
    bad = add(paths, "bad", BAD_MEX)
    stage(paths, good)
    stage(paths, bad)
    with pytest.raises(UsageError, match="rejected"):
        promote_submission(paths, bad)

    summary = publish_curated(paths.curated, schemas_dir=paths.schemas)

    assert dict(summary.observations_by_country).keys() == {"KOR"}
    assert summary.accepted == 1 and summary.rejected == 1
    observations = read_table(paths.curated, "harmonised", "observations")
    assert set(observations["ref_area"]) == {"KOR"}
    assert bad not in set(observations["source_file"])
    findings = read_table(paths.curated, "validation", "findings")
    assert bad in set(findings["source_file"])
    assert (findings.loc[findings["source_file"] == bad, "severity"] == "error").any()
    meta = read_table(paths.curated, "meta", "submissions").set_index("source_file")
    assert meta.loc[bad, "status"] == "rejected" and meta.loc[bad, "observations"] == 0
    assert meta.loc[good, "status"] == "accepted"
    assert (
        paths.curated / "parquet" / "harmonised" / "observations" / "ref_area=KOR"
    ).is_dir()
    assert not (
        paths.curated / "parquet" / "harmonised" / "observations" / "ref_area=MEX"
    ).exists()
    with open_duckdb(summary.serving_file, read_only=True) as con:
        rows = con.execute(
            "SELECT ref_area, count(*) FROM harmonised.observations GROUP BY ref_area"
        ).fetchall()
        statuses = con.execute(
            "SELECT status FROM meta.submissions WHERE source_file = ?", [bad]
        ).fetchall()
        summary_rows = con.execute(
            "SELECT count(*) FROM validation.rule_summary "
            "WHERE source_file = ? AND fails > 0",
            [bad],
        ).fetchone()
    assert rows == [("KOR", summary.observations)]
    assert statuses == [("rejected",)]
    assert summary_rows is not None and summary_rows[0] >= 1


def test_an_accepted_submission_is_published_only_once_promoted(paths: Paths) -> None:
    name = add(paths, "good", GOOD_KOR)
    report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    stage_submission(report, paths.curated, trigger="batch")
    assert publish_curated(paths.curated).observations == 0
    promote_submission(paths, name)
    assert publish_curated(paths.curated).observations_by_country == {
        "KOR": len(report.frame) if report.frame is not None else -1
    }
    # re-staging withdraws the promotion until the next promote
    stage_submission(report, paths.curated, trigger="batch")
    assert publish_curated(paths.curated).observations == 0


def test_a_file_changed_after_its_check_is_not_promoted(paths: Paths) -> None:
    name = add(paths, "good", GOOD_KOR)
    report = check_raw_file(paths.raw, name, schemas_dir=paths.schemas)
    stage_submission(report, paths.curated, trigger="batch")
    with (paths.raw / name).open("a", encoding="utf-8") as handle:
        handle.write("\n")
    with pytest.raises(StoreError, match="not been staged"):
        promote_submission(paths, name)


def test_a_newer_submission_supersedes_the_same_country_and_edition(
    paths: Paths,
) -> None:
    first = add(paths, "good", GOOD_KOR, as_name="KOR_first.csv")
    second = add(paths, "good", GOOD_KOR, as_name="KOR_second.csv")
    stage(paths, second, received=2)
    stage(paths, first, received=1)

    summary = publish_curated(paths.curated)

    observations = read_table(paths.curated, "harmonised", "observations")
    assert set(observations["source_file"]) == {second}
    assert summary.superseded == 1 and summary.accepted == 1
    meta = read_table(paths.curated, "meta", "submissions").set_index("source_file")
    assert meta.loc[first, "status"] == "superseded"
    assert meta.loc[first, "superseded_by"] == second
    assert meta.loc[second, "observations"] == len(observations)


def test_other_editions_coexist_as_vintages(paths: Paths) -> None:
    first = add(paths, "good", GOOD_PRT)
    revised = add(paths, "bad", PRT_EDITION_2, as_name="PRT_2019-2020_ed2.csv")
    stage(paths, first, received=1)
    stage(paths, revised, received=2)

    publish_curated(paths.curated)

    observations = read_table(paths.curated, "harmonised", "observations")
    by_file = observations.groupby("source_file")["edition"].unique()
    assert set(by_file.index) == {first, revised}
    assert set(observations["edition"]) == {"2024-03-01", "2025-03-03"}


def test_publish_with_nothing_staged_writes_empty_tables(paths: Paths) -> None:
    summary = publish_curated(paths.curated, schemas_dir=paths.schemas)
    assert summary.observations == 0 and dict(summary.submissions_by_status) == {}
    with open_duckdb(summary.serving_file, read_only=True) as con:
        columns = [
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                ["harmonised", "observations"],
            ).fetchall()
        ]
    assert {"ref_area", "obs_value", "source_file", "source_row"} <= set(columns)


def test_raw_files_untouched_and_nothing_written_outside_curated(
    paths: Paths, tmp_path: Path
) -> None:
    add(paths, "good", GOOD_KOR)
    add(paths, "bad", BAD_MEX)
    add(paths, "good", GOOD_PRT, as_name="USA_2021.csv")
    raw_before = snapshot(paths.raw)
    outside_before = {
        p for p in tmp_path.rglob("*") if not p.is_relative_to(paths.curated)
    }

    for name in list_submissions(paths.raw).names:
        if stage_raw_file(paths, name, trigger="batch").accepted:
            promote_submission(paths, name)
    publish_curated(paths.curated)

    assert snapshot(paths.raw) == raw_before
    outside_after = {
        p for p in tmp_path.rglob("*") if not p.is_relative_to(paths.curated)
    }
    assert outside_after == outside_before


def test_findings_markdown_escapes_submitted_text() -> None:
    from sse_stats.errors import Finding

    finding = Finding(
        file="x.csv",
        row=2,
        column="SSE_ENTITY",
        value="a|b\n<script>",
        rule="code_in_codelist",
        level=1,
        severity="error",
        message="m",
    )
    text = findings_markdown([finding] * 25, limit=20)
    lines = text.splitlines()
    assert (
        lines[0].startswith("| row |")
        and len([ln for ln in lines if ln.startswith("| 2")]) == 20
    )
    assert "a\\|b &lt;script&gt;" in text and "<script>" not in text
    assert "5 more findings" in text


def test_relative_folders_work(
    paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = Paths(raw=Path("raw"), curated=Path("curated"), schemas=paths.schemas)
    name = add(relative, "good", GOOD_KOR)
    staged = stage_raw_file(relative, name, trigger="cli")
    assert staged.report_file is not None and staged.report_file.is_file()
    promote_submission(relative, name)
    assert publish_curated(relative.curated).observations_by_country.keys() == {"KOR"}


def test_stage_raw_file__revised_edition__level2_findings_staged(tmp_path: Path) -> None:
    """A second PRT edition staged after the first gets the 18 growth and revision findings."""
    from sse_stats.settings import Paths

    nso = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "nso"
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(nso / "good" / "PRT_2019-2020.csv", raw / "PRT_2019-2020.csv")
    shutil.copy(nso / "bad" / "PRT__edition2_revision_plus60pct_no_break.csv",
                raw / "PRT_2019-2020_ed2.csv")
    paths = Paths(raw=raw, curated=tmp_path / "curated",
                  schemas=Path(__file__).resolve().parents[3] / "schemas")
    first = stage_raw_file(paths, "PRT_2019-2020.csv", trigger="batch")
    second = stage_raw_file(paths, "PRT_2019-2020_ed2.csv", trigger="batch")
    assert (first.status, second.status) == ("accepted", "accepted")
    report = json.loads(next((paths.curated / "reports").glob("PRT_2019-2020_ed2.csv.*.json"))
                        .read_text(encoding="utf-8"))
    level2 = sorted((f["row"], f["column"], f["rule"]) for f in report["findings"]
                    if f["level"] == 2)
    assert len(level2) == 18
    assert {r for _, _, r in level2} == {"growth_within_threshold", "revision_reported"}
    assert {row for row, _, _ in level2} == {13, 19}
