"""Crash safety and readers, end to end, with real processes.

A publication killed with SIGKILL at any moment leaves ``curated/`` readable
and consistent (the old publication or the new one, Parquet and ``sse.duckdb``
alike), and the next run completes. A reader holding ``sse.duckdb`` open never
blocks a publication and keeps seeing one consistent publication.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from sse_stats.publish._paths import PARQUET_DIR
from sse_stats.publish.connections import open_duckdb
from sse_stats.publish.publication import publish_curated
from sse_stats.publish.staging import promote_submission, stage_raw_file
from sse_stats.publish.store import read_table, recover
from sse_stats.settings import Paths

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "tests" / "fixtures" / "nso" / "good" / "template_MEX_2019-2020.csv"
COUNTRIES = [
    *("ARG", "BRA", "CHL", "COL", "ECU", "PER", "URY", "VEN", "BOL", "PRY"),
    *("CAN", "USA", "CRI", "PAN", "GTM", "HND", "NIC", "SLV", "CUB", "DOM"),
    *("JAM", "HTI", "TTO", "BRB", "BHS", "BLZ", "GUY", "SUR", "ATG", "DMA"),
]
PUBLISHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from sse_stats.publish.publication import publish_curated
    print("ready", flush=True)
    summary = publish_curated(Path(sys.argv[1]), full=len(sys.argv) > 2)
    print("done", summary.observations, flush=True)
    """
)
READER = textwrap.dedent(
    """
    import sys
    import duckdb

    def state(con):
        counts = {
            f"{s}.{t}": n
            for s, t, n in con.execute(
                "SELECT table_schema, table_name, row_count FROM meta.tables"
            ).fetchall()
        }
        actual = {
            name: con.execute(
                "SELECT count(*) FROM query_table(?)", [name]
            ).fetchall()[0][0]
            for name in counts
            if name != "meta.tables"
        }
        consistent = all(counts[name] == n for name, n in actual.items())
        areas = con.execute(
            "SELECT count(DISTINCT ref_area) FROM harmonised.observations"
        ).fetchall()[0][0]
        return f"{areas} {consistent}"

    con = duckdb.connect(sys.argv[1], read_only=True)
    print(state(con), flush=True)
    sys.stdin.readline()
    print(state(con), flush=True)
    con.close()
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(state(con), flush=True)
    """
)


def synthetic_file(raw: Path, iso3: str) -> str:
    """The MEX template file rewritten as country ``iso3``."""
    rows = list(csv.reader(io.StringIO(TEMPLATE.read_text(encoding="utf-8"))))
    column = {name: i for i, name in enumerate(rows[0])}
    for row in rows[1:]:
        if row:
            row[column["REF_AREA"]] = iso3
            row[column["SOURCE_ID"]] = row[column["SOURCE_ID"]].replace("MEX", iso3)
            if row[column["SSE_ENTITY_NAT"]].startswith("MEX_"):
                row[column["SSE_ENTITY_NAT"]] = "_T"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    name = f"template_{iso3}_2019-2020.csv"
    (raw / name).write_text(buffer.getvalue(), encoding="utf-8")
    return name


def submit(paths: Paths, iso3: str) -> None:
    name = synthetic_file(paths.raw, iso3)
    assert stage_raw_file(paths, name, trigger="batch").accepted
    promote_submission(paths, name)


def python(code: str, *args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DAGSTER_HOME", None)
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )


def published_areas(curated: Path) -> frozenset[str]:
    """Check that curated/ is readable and consistent; return its ref areas.

    Recovery runs first, as it does at the start of any read or write through
    the store. Every Parquet table must be readable, sse.duckdb must open
    and list every table with the row count the Parquet table has, and the
    tables must agree with each other.
    """
    recover(curated)
    parquet = curated / PARQUET_DIR
    tables = {
        f"{schema.name}.{table.name}": len(read_table(curated, schema.name, table.name))
        for schema in parquet.iterdir()
        for table in schema.iterdir()
    }
    with open_duckdb(curated / "sse.duckdb", read_only=True) as con:
        listed = {
            f"{s}.{t}": n
            for s, t, n in con.execute(
                "SELECT table_schema, table_name, row_count FROM meta.tables"
            ).fetchall()
        }
        in_duckdb = con.execute(
            "SELECT DISTINCT ref_area FROM harmonised.observations"
        ).fetchall()
    assert listed == {name: tables[name] for name in listed}
    assert set(listed) == set(tables)
    observations = read_table(curated, "harmonised", "observations")
    meta = read_table(curated, "meta", "submissions")
    published = (meta["status"] == "accepted") & meta["promoted_at"].notna()
    assert set(observations["source_sha256"]) == set(
        meta.loc[published, "source_sha256"]
    )  # the tables agree with each other
    areas = frozenset(observations["ref_area"])
    assert frozenset(row[0] for row in in_duckdb) == areas
    current = read_table(curated, "harmonised", "observations_current")
    assert frozenset(current["ref_area"]) == areas
    return areas


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    raw = tmp_path / "raw"
    raw.mkdir()
    return Paths(raw=raw, curated=tmp_path / "curated", schemas=ROOT / "schemas")


@pytest.mark.slow
def test_publish_killed_at_random_moments_leaves_old_or_new_state(
    paths: Paths,
) -> None:
    """SIGKILL during publish_curated in a real process, six times, then finish."""
    submit(paths, COUNTRIES[0])
    publish_curated(paths.curated)
    areas = published_areas(paths.curated)
    # How long a publication takes in a fresh process, from "ready" to "done".
    timer = python(PUBLISHER, str(paths.curated), "full")
    assert timer.stdout is not None and timer.stdout.readline() == "ready\n"
    start = time.perf_counter()
    assert timer.stdout.readline().startswith("done")
    duration = time.perf_counter() - start
    timer.wait(timeout=30)
    timer.stdout.close()
    # Spread over the run and past its end (the commit is near the end),
    # shuffled and jittered.
    rng = random.Random(20261125)
    spread = [0.3, 0.6, 0.8, 0.9, 1.0, 1.3]
    rng.shuffle(spread)
    outcomes = []
    for iso3, share in zip(COUNTRIES[1:7], spread, strict=True):
        submit(paths, iso3)
        writer = python(PUBLISHER, str(paths.curated))
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
        time.sleep(share * rng.uniform(0.9, 1.1) * duration)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        writer.stdout.close()

        after = published_areas(paths.curated)
        submitted = frozenset(COUNTRIES[: COUNTRIES.index(iso3) + 1])
        assert after in (areas, submitted), (sorted(areas), sorted(after))
        outcomes.append("new" if after == submitted else "old")
        areas = after

    finisher = python(PUBLISHER, str(paths.curated))
    out, _ = finisher.communicate(timeout=120)
    assert finisher.returncode == 0 and "done" in out
    assert published_areas(paths.curated) == frozenset(COUNTRIES[:7])
    print("kills left:", outcomes)


@pytest.mark.slow
def test_python_m_pipelines_killed_while_publishing_then_rerun_exits_0(
    paths: Paths,
) -> None:
    """The command itself, killed once it starts publishing, then run again."""
    for iso3 in COUNTRIES[:2]:
        synthetic_file(paths.raw, iso3)
    command = [
        sys.executable,
        "-m",
        "pipelines",
        "--raw",
        str(paths.raw),
        "--curated",
        str(paths.curated),
    ]
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    first = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert first.stdout is not None
    line = first.stdout.readline()  # outcome lines come just before publishing
    assert ": accepted" in line, line
    time.sleep(random.Random(7).uniform(0.0, 0.5))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    first.stdout.close()
    if (paths.curated / "sse.duckdb").exists():
        assert published_areas(paths.curated) in (frozenset(), {"ARG", "BRA"})

    again = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )

    assert again.returncode == 0, again.stdout + again.stderr
    assert published_areas(paths.curated) == {"ARG", "BRA"}


@pytest.mark.slow
def test_a_reader_holding_the_database_does_not_block_a_publication(
    paths: Paths,
) -> None:
    submit(paths, COUNTRIES[0])
    publish_curated(paths.curated)
    reader = python(READER, str(paths.curated / "sse.duckdb"), stdin=subprocess.PIPE)
    assert reader.stdin is not None and reader.stdout is not None
    try:
        assert reader.stdout.readline() == "1 True\n"

        submit(paths, COUNTRIES[1])
        summary = publish_curated(paths.curated)  # while the reader holds the file

        assert set(summary.observations_by_country) == set(COUNTRIES[:2])
        assert published_areas(paths.curated) == set(COUNTRIES[:2])
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert reader.stdout.readline() == "1 True\n"  # its own, old, consistent copy
        assert reader.stdout.readline() == "2 True\n"  # a new connection: new copy
    finally:
        reader.kill()
        reader.wait(timeout=30)


class _Crash(BaseException):
    """Stands for a power cut: not an Exception, so no cleanup code runs."""


@pytest.mark.slow
def test_publish_crashing_at_each_rename_is_all_or_nothing(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rename of a publication (commit point, moves, serving copy) in turn.

    Each round publishes one change: BRA's promotion given, or withdrawn.
    """
    submit(paths, COUNTRIES[0])
    submit(paths, COUNTRIES[1])
    publish_curated(paths.curated)
    areas = published_areas(paths.curated)
    bra = synthetic_file(paths.raw, COUNTRIES[1])
    (folder,) = (paths.curated / "staging").glob(f"{bra[:-4]}.*")
    promoted = True
    for n in range(60):
        if promoted:  # withdraw the promotion (as a re-check would)
            (folder / "promoted.json").unlink()
        else:
            promote_submission(paths, bra)
        promoted = not promoted
        calls = [0]

        def crashing(
            real: Any, *args: Any, _calls: list[int] = calls, _n: int = n, **kwargs: Any
        ) -> Any:
            if _calls[0] == _n:
                raise _Crash
            _calls[0] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(os, "rename", functools.partial(crashing, os.rename))
        monkeypatch.setattr(os, "replace", functools.partial(crashing, os.replace))
        try:
            publish_curated(paths.curated)
        except _Crash:
            crashed = True
        else:
            crashed = False
        monkeypatch.undo()

        after = published_areas(paths.curated)  # recovers first
        new = {COUNTRIES[0], COUNTRIES[1]} if promoted else {COUNTRIES[0]}
        # rename 0 is the commit (plan.json): before it nothing moved
        assert after == (areas if crashed and n == 0 else new), (n, after)
        areas = after
        if not crashed:
            break
    assert not crashed and n >= 5, n
