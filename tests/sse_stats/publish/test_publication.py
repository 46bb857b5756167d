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
from sse_stats.publish.connections import open_duckdb
from sse_stats.publish.publication import publish_curated
from sse_stats.publish.raw_files import (
    SubmissionChangedError,
    UnsafeFileError,
    check_raw_file,
    list_submissions,
    name_problem,
    parse_submission_key,
    scan_raw,
    submission_key,
    submission_path,
)
from sse_stats.publish.run_markdown import findings_markdown
from sse_stats.publish.staging import (
    TRIGGERS,
    promote_submission,
    rules_digest,
    stage_raw_file,
    stage_submission,
    staged_unchanged,
    staging_state,
)
from sse_stats.publish.store import read_table
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
    staged = stage_submission(
        report,
        paths.curated,
        trigger="batch",
        received_at=when,
        schemas_dir=paths.schemas,
    )
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
    staged = stage_submission(
        report, paths.curated, trigger="manual", schemas_dir=paths.schemas
    )

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
    # schema.md §2, §11.2: the message columns, once per file
    assert (record["structure_id"], record["action"]) == ("SSE:SSE_STATS(1.0)", "I")
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
    odd = "PRT édition (copie) +x.csv"
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
    other = add(paths, "good", GOOD_PRT, as_name="PRT édition (copie) _x.csv")
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
        "PRT;rm -rf x.csv",
        "PRT_$(id).csv",
        "PRT_`id`.csv",
        "PRT|x.csv",
        "PRT&x.csv",
        "PRT>x.csv",
        "PRT*.csv",
        "PRT'x.csv",
        "-rf.csv",
        "~x.csv",
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
    assert meta.loc[good, "structure_id"] == "SSE:SSE_STATS(1.0)"
    assert meta.loc[good, "action"] == "I"
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
    with (paths.raw / second).open("a", encoding="utf-8") as handle:
        handle.write("\n")  # other bytes (a blank line), same rows and edition
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


def test_stage_raw_file__revised_edition__level2_findings_staged(
    tmp_path: Path,
) -> None:
    """A second PRT edition staged after the first gets 18 growth/revision findings."""
    from sse_stats.settings import Paths

    nso = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "nso"
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(nso / "good" / "PRT_2019-2020.csv", raw / "PRT_2019-2020.csv")
    shutil.copy(
        nso / "bad" / "PRT__edition2_revision_plus60pct_no_break.csv",
        raw / "PRT_2019-2020_ed2.csv",
    )
    paths = Paths(
        raw=raw,
        curated=tmp_path / "curated",
        schemas=Path(__file__).resolve().parents[3] / "schemas",
    )
    first = stage_raw_file(paths, "PRT_2019-2020.csv", trigger="batch")
    second = stage_raw_file(paths, "PRT_2019-2020_ed2.csv", trigger="batch")
    assert (first.status, second.status) == ("accepted", "accepted")
    report = json.loads(
        next(
            (paths.curated / "reports").glob("PRT_2019-2020_ed2.csv.*.json")
        ).read_text(encoding="utf-8")
    )
    level2 = sorted(
        (f["row"], f["column"], f["rule"])
        for f in report["findings"]
        if f["level"] == 2
    )
    assert len(level2) == 18
    assert {r for _, _, r in level2} == {"growth_within_threshold", "revision_reported"}
    assert {row for row, _, _ in level2} == {13, 19}


# --------------------------------------------------------------------------
# Submission keys, sub-folders, duplicates
# --------------------------------------------------------------------------


def test_keys_name_the_bytes_and_a_changed_file_is_refused(paths: Paths) -> None:
    name = add(paths, "good", GOOD_KOR)
    (raw_file,) = scan_raw(paths.raw).files
    assert raw_file.key == submission_key(name, raw_file.sha256)
    assert parse_submission_key(raw_file.key) == (name, raw_file.sha256[:8])
    staged = stage_raw_file(paths, raw_file.key, trigger="sensor")
    assert staged.source_sha256 == raw_file.sha256
    assert promote_submission(paths, raw_file.key).promoted_at is not None

    with (paths.raw / name).open("a", encoding="utf-8") as handle:
        handle.write("\n")
    with pytest.raises(SubmissionChangedError, match="no longer holds the bytes"):
        stage_raw_file(paths, raw_file.key, trigger="sensor")
    with pytest.raises(SubmissionChangedError):
        promote_submission(paths, raw_file.key)
    (changed,) = scan_raw(paths.raw).files
    assert changed.key != raw_file.key and changed.name == name


def test_country_sub_folders(paths: Paths) -> None:
    (paths.raw / "PRT").mkdir()
    shutil.copyfile(fixture_file("good", GOOD_PRT), paths.raw / "PRT" / "2019-2020.csv")
    (paths.raw / "misc").mkdir()
    shutil.copyfile(fixture_file("good", GOOD_PRT), paths.raw / "misc" / "x.csv")
    assert list_submissions(paths.raw).names == ("PRT/2019-2020.csv",)
    staged = stage_raw_file(paths, "PRT/2019-2020.csv", trigger="batch")
    assert staged.status == "accepted" and staged.country == "PRT"
    assert staged.source_file == "2019-2020.csv"
    promote_submission(paths, "PRT/2019-2020.csv")
    publish_curated(paths.curated)
    meta = read_table(paths.curated, "meta", "submissions")
    assert list(meta["source_path"]) == ["PRT/2019-2020.csv"]
    for bad in ("misc/x.csv", "PRT/../x.csv", "PRT/sub/x.csv", "prt/x.csv"):
        with pytest.raises(UnsafeFileError):
            submission_path(paths.raw, bad)


def test_the_same_bytes_under_two_names_count_once(paths: Paths) -> None:
    first = add(paths, "good", GOOD_KOR, as_name="KOR_2016.csv")
    copy = add(paths, "good", GOOD_KOR, as_name="KOR_2016_resent.csv")
    scan = scan_raw(paths.raw)
    assert [f.name for f in scan.files] == [first]
    assert [(d.name, f.name) for d, f in scan.duplicates] == [(copy, first)]
    stage(paths, first, received=1)
    stage(paths, copy, received=2)  # staged anyway (e.g. by hand in the UI)

    summary = publish_curated(paths.curated)

    assert summary.accepted == 1 and summary.superseded == 1
    observations = read_table(paths.curated, "harmonised", "observations")
    assert set(observations["source_file"]) == {first}
    meta = read_table(paths.curated, "meta", "submissions").set_index("source_file")
    assert meta.loc[first, "also_received_as"] == copy
    assert meta.loc[copy, "duplicate_of"] == first
    assert "counted once" in meta.loc[copy, "reason"]
    findings = read_table(paths.curated, "validation", "findings")
    assert set(findings["source_file"]) <= {first}
    summary_rows = read_table(paths.curated, "validation", "rule_summary")
    assert set(summary_rows["source_file"]) == {first}


# --------------------------------------------------------------------------
# meta.submissions digests, meta.lineage, incremental publication
# --------------------------------------------------------------------------


def test_submissions_record_digests_status_and_reason(paths: Paths) -> None:
    good = add(paths, "good", GOOD_PRT)
    bad = add(paths, "bad", BAD_MEX)
    unusable = add(paths, "good", GOOD_PRT, as_name="USA_2021.csv")
    for name in (good, bad, unusable):
        if stage_raw_file(paths, name, trigger="batch").accepted:
            promote_submission(paths, name)
    publish_curated(paths.curated)

    meta = read_table(paths.curated, "meta", "submissions").set_index("source_file")
    digest = rules_digest(paths.schemas)
    assert digest is not None and len(digest) == 64
    assert meta.loc[good, "rules_sha256"] == digest
    assert meta.loc[bad, "rules_sha256"] == digest
    assert len(meta.loc[good, "mapping_sha256"]) == 64  # PRT.yaml + PRT_INE.csv
    assert pd.isna(meta.loc[bad, "mapping_sha256"])  # canonical template
    assert meta.loc[good, "status"] == "accepted" and pd.isna(meta.loc[good, "reason"])
    assert meta.loc[bad, "status"] == "rejected"
    assert meta.loc[bad, "reason"].startswith("1 error findings: identity_b1g")
    assert meta.loc[unusable, "status"] == "unusable"
    assert "no mapping for USA" in meta.loc[unusable, "reason"]
    assert str(meta.loc[good, "received_date"]) == str(
        meta.loc[good, "received_at"].date()
    )


def test_lineage_has_one_row_per_table_build(paths: Paths) -> None:
    kor = add(paths, "good", GOOD_KOR)
    stage(paths, kor)
    publish_curated(paths.curated)
    prt = add(paths, "good", GOOD_PRT)
    stage(paths, prt)
    second = publish_curated(paths.curated)

    lineage = read_table(paths.curated, "meta", "lineage")
    runs = lineage.groupby("publication_id", sort=False)
    assert runs.ngroups == 2
    last = lineage[lineage["publication_id"] == lineage["publication_id"].iloc[-1]]
    built = set(
        zip(
            last["table_schema"],
            last["table_name"],
            last["partition"].fillna(""),
            strict=True,
        )
    )
    assert ("harmonised", "observations", "ref_area=PRT") in built
    assert ("harmonised", "observations", "ref_area=KOR") not in built  # untouched
    assert {("validation", "findings", ""), ("meta", "submissions", "")} <= built
    row = last[
        (last["table_name"] == "observations") & (last["partition"] == "ref_area=PRT")
    ].iloc[0]
    meta = read_table(paths.curated, "meta", "submissions").set_index("source_file")
    assert list(row["input_sha256"]) == [meta.loc[prt, "source_sha256"]]
    assert list(row["rules_sha256"]) == [rules_digest(paths.schemas)]
    assert list(row["mapping_sha256"]) == [meta.loc[prt, "mapping_sha256"]]
    assert row["row_count"] == second.observations_by_country["PRT"]
    assert row["sse_stats_version"] and not bool(row["full_rebuild"])


def test_publication_rebuilds_only_the_areas_that_changed(paths: Paths) -> None:
    kor = add(paths, "good", GOOD_KOR)
    stage(paths, kor)
    first = publish_curated(paths.curated)
    assert first.full and first.areas == ("KOR",)
    kor_folder = (
        paths.curated / "parquet" / "harmonised" / "observations" / "ref_area=KOR"
    )
    kor_files = snapshot(kor_folder)

    prt = add(paths, "good", GOOD_PRT)
    stage(paths, prt)
    second = publish_curated(paths.curated)

    assert not second.full and second.areas == ("PRT",) and second.changed == 1
    assert snapshot(kor_folder) == kor_files  # not rewritten
    assert set(second.observations_by_country) == {"KOR", "PRT"}
    nothing = publish_curated(paths.curated)
    assert nothing.areas == () and nothing.changed == 0
    assert nothing.observations_by_country == second.observations_by_country

    everything = publish_curated(paths.curated, full=True)
    assert everything.full and everything.areas == ("KOR", "PRT")
    assert everything.observations_by_country == second.observations_by_country
    with open_duckdb(everything.serving_file, read_only=True) as con:
        rows = con.execute(
            "SELECT ref_area, count(*) FROM harmonised.observations "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert dict(rows) == dict(second.observations_by_country)


def test_an_area_left_without_submissions_is_dropped(paths: Paths) -> None:
    kor = add(paths, "good", GOOD_KOR)
    prt = add(paths, "good", GOOD_PRT)
    stage(paths, kor)
    stage(paths, prt)
    publish_curated(paths.curated)
    report = check_raw_file(paths.raw, kor, schemas_dir=paths.schemas)
    stage_submission(report, paths.curated, trigger="batch")  # promotion withdrawn

    summary = publish_curated(paths.curated)

    assert set(summary.observations_by_country) == {"PRT"}
    folder = paths.curated / "parquet" / "harmonised" / "observations"
    assert sorted(p.name for p in folder.iterdir()) == ["ref_area=PRT"]
    current = read_table(paths.curated, "harmonised", "observations_current")
    assert set(current["ref_area"]) == {"PRT"}


def test_staged_unchanged_skips_only_identical_checks(paths: Paths) -> None:
    name = add(paths, "good", GOOD_KOR)
    (raw_file,) = scan_raw(paths.raw).files
    assert staged_unchanged(paths, raw_file) is None  # never staged
    stage_raw_file(paths, raw_file.key, trigger="batch")
    assert staged_unchanged(paths, raw_file) is None  # accepted, not promoted
    promote_submission(paths, raw_file.key)
    same = staged_unchanged(paths, raw_file)
    assert same is not None and same.status == "accepted"
    record = same.folder / "submission.json"
    data = json.loads(record.read_text(encoding="utf-8"))
    record.write_text(json.dumps({**data, "rules_sha256": "0" * 64}), encoding="utf-8")
    assert staged_unchanged(paths, raw_file) is None  # the rules changed since
    assert name == raw_file.name


def test_staging_state_changes_when_a_submission_is_staged(paths: Paths) -> None:
    before = staging_state(paths.curated)
    name = add(paths, "good", GOOD_KOR)
    stage_raw_file(paths, name, trigger="batch")
    staged = staging_state(paths.curated)
    assert staged != before
    promote_submission(paths, name)
    assert staging_state(paths.curated) != staged
