"""python -m pipelines: exit codes, printed lines, Parquet and the serving copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.__main__ import main
from sse_stats.publish.connections import open_duckdb
from sse_stats.publish.raw_files import scan_raw
from sse_stats.publish.store import read_table

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (
    ROOT / "data" / "raw",
    ROOT / "tests" / "fixtures" / "nso",
    ROOT.parent / "shared" / "fixtures",
)
GOOD = "template_KOR_2016-register.csv"
GOOD_PRT = "PRT_2019-2020.csv"
BAD = "template__B1G_not_P1_minus_P2.csv"


def fixture_file(kind: str, name: str) -> Path:
    """A submission from data/raw, else the fixture copies (good/ or bad/)."""
    for base in SOURCES:
        for path in (base / name, base / kind / name):
            if path.is_file():
                return path
    pytest.skip(f"fixture {kind}/{name} not found")


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An empty raw folder and a curated folder; an ephemeral Dagster instance."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    raw = tmp_path / "raw"
    raw.mkdir()
    return raw, tmp_path / "curated"


def add(raw: Path, kind: str, name: str) -> None:
    shutil.copyfile(fixture_file(kind, name), raw / name)


def published(curated: Path, ref_area: str) -> tuple[int, int]:
    """Rows for ref_area in the Parquet table and in sse.duckdb."""
    table = read_table(curated, "harmonised", "observations")
    in_parquet = int((table["ref_area"] == ref_area).sum()) if len(table) else 0
    with open_duckdb(curated / "sse.duckdb", read_only=True) as con:
        row = con.execute(
            "SELECT count(*) FROM harmonised.observations WHERE ref_area = ?",
            [ref_area],
        ).fetchone()
    return in_parquet, int(row[0]) if row else -1


def test_one_good_one_bad_exits_1_and_publishes_the_good_one(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    add(raw, "good", GOOD)
    add(raw, "bad", BAD)

    code = main(["--raw", str(raw), "--curated", str(curated)])

    out = capsys.readouterr().out
    assert code == 1, out
    assert f"{GOOD}: accepted (0 errors" in out
    assert f"{BAD}: rejected (" in out
    kor = published(curated, "KOR")
    assert kor[0] > 0 and kor[0] == kor[1]
    assert published(curated, "MEX") == (0, 0)
    assert (
        curated / "parquet" / "harmonised" / "observations" / "ref_area=KOR"
    ).is_dir()
    assert "2 submissions in this run" in out


def test_all_good_exits_0_and_reruns_are_idempotent(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    add(raw, "good", GOOD)
    add(raw, "good", GOOD_PRT)
    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0
    first = {area: published(curated, area) for area in ("KOR", "PRT")}
    assert all(n > 0 for n, _ in first.values())
    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0
    assert {area: published(curated, area) for area in ("KOR", "PRT")} == first
    meta = read_table(curated, "meta", "submissions")
    assert sorted(meta["status"]) == ["accepted", "accepted"]
    assert "accepted" in capsys.readouterr().out


def test_a_symlink_outside_raw_is_refused(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    outside = tmp_path / "outside.csv"
    shutil.copyfile(fixture_file("good", GOOD), outside)
    (raw / "evil.csv").symlink_to(outside)

    code = main(["--raw", str(raw), "--curated", str(curated)])

    out = capsys.readouterr().out
    assert code == 1
    assert "evil.csv: refused" in out and "outside the raw folder" in out
    assert published(curated, "KOR") == (0, 0)
    assert read_table(curated, "meta", "submissions").empty


def test_an_empty_raw_folder_publishes_empty_tables(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0
    assert (curated / "sse.duckdb").is_file()
    assert "0 submissions in this run" in capsys.readouterr().out


def test_a_system_error_exits_2_with_one_line(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    assert main(["--raw", str(raw / "missing"), "--curated", str(curated)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "system error" in err and "Traceback" not in err
    assert (
        main(["--raw", str(raw / "missing"), "--curated", str(curated), "--debug"]) == 2
    )
    assert "Traceback" in capsys.readouterr().err


def test_an_unwritable_curated_folder_is_a_system_error(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, _ = folders
    add(raw, "good", GOOD)
    bad_curated = raw.parent / "cur*ated"  # a glob character: the store refuses it
    assert main(["--raw", str(raw), "--curated", str(bad_curated)]) == 2
    captured = capsys.readouterr()
    assert "system error" in captured.err and "Traceback" not in captured.err


@pytest.mark.slow
def test_python_m_pipelines_with_a_dagster_home(tmp_path: Path) -> None:
    raw, curated, home = tmp_path / "raw", tmp_path / "curated", tmp_path / "home"
    raw.mkdir()
    home.mkdir()
    shutil.copyfile(ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    add(raw, "good", GOOD)
    add(raw, "bad", BAD)
    env = {**os.environ, "DAGSTER_HOME": str(home), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "--raw",
            str(raw),
            "--curated",
            str(curated),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{BAD}: rejected" in done.stdout
    kor = published(curated, "KOR")
    assert kor[0] > 0 and kor[0] == kor[1]
    # the partitions are recorded in the persistent instance, keyed name@sha8
    keys = {f.name: f.key for f in scan_raw(raw).files}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(instance.get_dynamic_partitions("submissions")) == sorted(
            [keys[GOOD], keys[BAD]]
        )
        runs = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/partition": keys[GOOD]})
        )
        assert len(runs) == 1
    # a second run checks nothing again and keeps the same partitions
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "--raw",
            str(raw),
            "--curated",
            str(curated),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 1, again.stdout + again.stderr
    assert "unchanged since its last check" in again.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_dynamic_partitions("submissions")) == 2
        runs = instance.get_runs(
            filters=dg.RunsFilter(tags={"dagster/partition": keys[GOOD]})
        )
        assert len(runs) == 1


def test_the_same_bytes_twice_are_one_submission(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    add(raw, "good", GOOD)
    shutil.copyfile(raw / GOOD, raw / "KOR_resent.csv")

    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0

    out = capsys.readouterr().out
    assert (
        f"KOR_resent.csv: duplicate (0 errors, 0 warnings) - same bytes as {GOOD}"
        in out
    )
    meta = read_table(curated, "meta", "submissions")
    assert list(meta["source_file"]) == [GOOD]
    kor = published(curated, "KOR")
    assert kor[0] > 0 and kor[0] == kor[1]


def test_unsafe_names_are_refused_with_a_clear_message(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    add(raw, "good", GOOD)
    shutil.copyfile(raw / GOOD, raw / "KOR;rm -rf x.csv")
    shutil.copyfile(raw / GOOD, raw / "KOR_$(id).csv")
    shutil.copyfile(raw / GOOD, raw / "KOR\x1b[31m.csv")

    code = main(["--raw", str(raw), "--curated", str(curated)])

    out = capsys.readouterr().out
    assert code == 1
    assert "KOR;rm -rf x.csv: refused" in out and "shell characters" in out
    assert "KOR_$(id).csv: refused" in out
    assert "KOR\\x1b[31m.csv: refused" in out and "control character" in out
    assert "\x1b" not in out  # names are printed escaped
    assert set(read_table(curated, "meta", "submissions")["source_file"]) == {GOOD}


def test_country_folders_and_rechecks(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    (raw / "PRT").mkdir()
    shutil.copyfile(fixture_file("good", GOOD_PRT), raw / "PRT" / "2019-2020.csv")

    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0
    assert "PRT/2019-2020.csv: accepted" in capsys.readouterr().out
    assert published(curated, "PRT")[0] > 0

    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0
    assert "unchanged since its last check" in capsys.readouterr().out
    assert main(["--raw", str(raw), "--curated", str(curated), "--recheck"]) == 0
    assert "unchanged" not in capsys.readouterr().out


def test_a_changed_file_becomes_a_new_edition_of_its_country(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    raw, curated = folders
    add(raw, "good", GOOD_PRT)
    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0
    revised = fixture_file("bad", "PRT__edition2_revision_plus60pct_no_break.csv")
    shutil.copyfile(revised, raw / GOOD_PRT)  # same name, new bytes

    assert main(["--raw", str(raw), "--curated", str(curated)]) == 0

    capsys.readouterr()
    observations = read_table(curated, "harmonised", "observations")
    assert set(observations["edition"]) == {"2024-03-01", "2025-03-03"}
    revisions = read_table(curated, "harmonised", "revisions")
    assert len(revisions) > 0
    meta = read_table(curated, "meta", "submissions")
    assert list(meta["source_file"]) == [GOOD_PRT, GOOD_PRT]


def test_register__one_run_per_file__bad_country_blocked_exit_1(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A register under raw/registers/<mapping>/: its countries run in one run;
    a bad unit in Spain blocks Spain (exit 1), Portugal is in the serving copy."""
    raw, curated = folders
    add(raw, "good", GOOD)
    sample = ROOT / "data" / "raw" / "registers" / "make_register"
    target = raw / "registers" / "make_register"
    target.mkdir(parents=True)
    lines = (sample / "sample_register_2022.csv").read_text().splitlines()
    header = lines[0].split(",")
    spanish = next(i for i, line in enumerate(lines) if ",ESP," in line)
    cells = lines[spanish].split(",")
    cells[header.index("employees")] = "-2"
    lines[spanish] = ",".join(cells)
    (target / "register.csv").write_text("\n".join(lines) + "\n")
    code = main(["--raw", str(raw), "--curated", str(curated)])
    out = capsys.readouterr().out
    assert code == 1
    assert "register.csv: register, 3,000 units, 1 of 2 countries and years" in out
    assert "blocked: ESP_2022" in out
    with open_duckdb(curated / "sse.duckdb", read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT register_partition FROM register.observations"
        ).fetchall()
    assert rows == [("PRT_2022",)]
