"""Tests for sse_stats.publish.store: atomic Parquet tables and the serving copy."""

from __future__ import annotations

import inspect
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sse_stats.errors import StoreError, StoreLockedError
from sse_stats.publish._atomic import Recovery
from sse_stats.publish.connections import open_duckdb
from sse_stats.publish.serving import publish_serving_copy
from sse_stats.publish.store import (
    read_table,
    recover,
    replace_partitions,
    write_table_parquet,
)

REPO = Path(__file__).resolve().parents[3]
SCHEMA, TABLE = "harmonised", "observations"
STRING_COLUMNS = ["ref_area", "time_period", "sse_entity", "measure", "comment_obs"]


def _observations(
    rows: list[tuple[str, str, str, float | None, int | None]],
) -> pd.DataFrame:
    """A small harmonised-like frame: (ref_area, time_period, measure, value, mult)."""
    return pd.DataFrame(
        {
            "ref_area": [r[0] for r in rows],
            "time_period": [r[1] for r in rows],
            "sse_entity": ["COOP"] * len(rows),
            "measure": [r[2] for r in rows],
            "obs_value": pd.array([r[3] for r in rows], dtype="float64"),
            "unit_mult": pd.array([r[4] for r in rows], dtype="Int64"),
            "comment_obs": pd.array(
                ["note" if r[3] is None else None for r in rows], dtype="str"
            ),
        }
    )


TWO_COUNTRIES = _observations(
    [
        ("PRT", "2021", "B1G", 3618.4, 6),
        ("PRT", "2022", "B1G", None, 6),
        ("ESP", "2021", "EMP_FTE", 1250.0, None),
        ("ESP", "2021", "B1G", 10.5, 9),
    ]
)


def _sorted(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with the given column order, rows sorted, index reset."""
    keys = ["ref_area", "time_period", "measure"]
    return frame[columns].sort_values(keys).reset_index(drop=True)


def _files(curated: Path) -> dict[str, int]:
    """Every file under ``curated`` with its size (a snapshot to compare)."""
    return {
        p.relative_to(curated).as_posix(): p.stat().st_size
        for p in curated.rglob("*")
        if p.is_file()
    }


def _python(script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Start ``sys.executable -c script`` with the repository importable."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], env=env, text=True, **popen
    )


# --------------------------------------------------------------------------
# Round trip and layout
# --------------------------------------------------------------------------


def test_write_table_parquet__two_countries__hive_read_equals_input(
    tmp_path: Path,
) -> None:
    """Two ref_area partitions read back equal to the input; strings stay strings."""
    folder = write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)

    assert folder == tmp_path / "parquet" / SCHEMA / TABLE
    assert sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")
    ) == [
        "ref_area=ESP/part-0.parquet",
        "ref_area=PRT/part-0.parquet",
    ]
    back = read_table(tmp_path, SCHEMA, TABLE)
    assert list(back.columns)[-1] == "ref_area"  # hive columns come back last
    columns = list(TWO_COUNTRIES.columns)
    pd.testing.assert_frame_equal(
        _sorted(back, columns), _sorted(TWO_COUNTRIES, columns)
    )
    for column in STRING_COLUMNS:
        assert isinstance(back[column].dtype, pd.StringDtype), column


def test_write_table_parquet__two_countries__files_keep_time_period_as_string(
    tmp_path: Path,
) -> None:
    """Inside the files time_period is a string and ref_area is absent (path only)."""
    folder = write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)

    file_schema = pq.read_schema(folder / "ref_area=PRT" / "part-0.parquet")
    assert pa.types.is_string(file_schema.field("time_period").type) or (
        pa.types.is_large_string(file_schema.field("time_period").type)
    )
    assert "ref_area" not in file_schema.names
    # The analysts' own query sees ref_area exactly once.
    con = duckdb.connect()
    described = con.sql(
        "DESCRIBE SELECT * FROM read_parquet($p, hive_partitioning = true)",
        params={"p": f"{tmp_path}/parquet/{SCHEMA}/{TABLE}/**/*.parquet"},
    ).fetchall()
    con.close()
    assert [row[0] for row in described].count("ref_area") == 1


def test_write_table_parquet__numeric_looking_code__read_back_as_string(
    tmp_path: Path,
) -> None:
    """A partition code made of digits ("123") is not turned into a number."""
    frame = _observations([("123", "2021", "B1G", 1.0, 0)])

    write_table_parquet(tmp_path, SCHEMA, TABLE, frame)

    assert read_table(tmp_path, SCHEMA, TABLE)["ref_area"].tolist() == ["123"]


def test_write_table_parquet__partition_by_none__single_data_file(
    tmp_path: Path,
) -> None:
    """Without a partition column the table is one data.parquet holding every column."""
    folder = write_table_parquet(
        tmp_path, "meta", "submissions", TWO_COUNTRIES, partition_by=None
    )

    assert [p.name for p in folder.iterdir()] == ["data.parquet"]
    assert "ref_area" in pq.read_schema(folder / "data.parquet").names
    assert len(read_table(tmp_path, "meta", "submissions")) == len(TWO_COUNTRIES)


def test_write_table_parquet__all_empty_object_column__stored_as_string(
    tmp_path: Path,
) -> None:
    """An object column with no value at all is written as a string column."""
    frame = TWO_COUNTRIES.assign(currency=pd.Series([None] * 4, dtype=object))

    folder = write_table_parquet(tmp_path, SCHEMA, TABLE, frame)

    field = pq.read_schema(folder / "ref_area=ESP" / "part-0.parquet").field("currency")
    assert pa.types.is_string(field.type) or pa.types.is_large_string(field.type)


def test_write_table_parquet__rewrite__old_partitions_disappear(tmp_path: Path) -> None:
    """A whole-table write replaces every partition, dropping countries not in it."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)

    write_table_parquet(
        tmp_path, SCHEMA, TABLE, TWO_COUNTRIES.query("ref_area == 'PRT'")
    )

    assert sorted(read_table(tmp_path, SCHEMA, TABLE)["ref_area"].unique()) == ["PRT"]
    assert [p.name for p in (tmp_path / ".staging").iterdir()] == ["lock"]


def test_read_table__never_written__empty_frame(tmp_path: Path) -> None:
    """Reading a table that does not exist gives an empty frame, not an error."""
    assert read_table(tmp_path / "missing", SCHEMA, TABLE).empty
    assert read_table(tmp_path, SCHEMA, TABLE).empty


def test_replace_partitions__prt_republished__esp_kept(tmp_path: Path) -> None:
    """Re-publishing PRT replaces its rows and keeps ESP's files untouched."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)
    esp_file = tmp_path / "parquet" / SCHEMA / TABLE / "ref_area=ESP" / "part-0.parquet"
    esp_inode = esp_file.stat().st_ino
    new_prt = _observations([("PRT", "2023", "B1G", 4000.0, 6)])

    replace_partitions(tmp_path, SCHEMA, TABLE, new_prt)

    back = read_table(tmp_path, SCHEMA, TABLE)
    columns = list(TWO_COUNTRIES.columns)
    expected = pd.concat([TWO_COUNTRIES.query("ref_area == 'ESP'"), new_prt])
    pd.testing.assert_frame_equal(_sorted(back, columns), _sorted(expected, columns))
    assert esp_file.stat().st_ino == esp_inode


def test_replace_partitions__empty_table__becomes_partitioned(tmp_path: Path) -> None:
    """A table written empty (one data.parquet) accepts its first partitions."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES.iloc[0:0])

    replace_partitions(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)

    folder = tmp_path / "parquet" / SCHEMA / TABLE
    assert sorted(p.name for p in folder.iterdir()) == ["ref_area=ESP", "ref_area=PRT"]
    assert len(read_table(tmp_path, SCHEMA, TABLE)) == len(TWO_COUNTRIES)


def test_replace_partitions__unpartitioned_table_with_rows__raises(
    tmp_path: Path,
) -> None:
    """Partitions are never mixed into a table stored as one non-empty file."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES, partition_by=None)
    before = _files(tmp_path)

    with pytest.raises(StoreError, match="not partitioned by ref_area"):
        replace_partitions(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)

    assert _files(tmp_path) == before


# --------------------------------------------------------------------------
# Untrusted names
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    ["../x", "PRT'; DROP", "prt", "PRT\n", "PRT/ESP", "", "ABCDEFGHIJKLMNOPQ", None],
    ids=["dotdot", "quote", "lower", "newline", "slash", "empty", "17chars", "null"],
)
@pytest.mark.parametrize("write", [write_table_parquet, replace_partitions])
def test_partition_writes__bad_partition_value__raises_and_writes_nothing(
    tmp_path: Path, code: str | None, write: Callable[..., Path]
) -> None:
    """A code outside [A-Z0-9_]{1,16} raises StoreError naming it; no file changes."""
    curated = tmp_path / "curated"
    write_table_parquet(curated, SCHEMA, TABLE, TWO_COUNTRIES)
    before = _files(tmp_path)  # the parent too: nothing may appear beside curated
    frame = TWO_COUNTRIES.assign(ref_area=["ESP", "ESP", code, "ESP"])
    shown = "nan" if code is None else repr(code)  # pandas 3 stores None as NaN

    with pytest.raises(StoreError, match=re.escape(shown)):
        write(curated, SCHEMA, TABLE, frame)

    assert _files(tmp_path) == before


@pytest.mark.parametrize(
    ("schema", "table"),
    [("..", "x"), ("harmonised", "../../x"), ("Harmonised", "t"), ("h", 'x"; --')],
)
def test_write_table_parquet__bad_identifier__raises(
    tmp_path: Path, schema: str, table: str
) -> None:
    """Schema and table names must be lower-case identifiers; nothing is written."""
    with pytest.raises(StoreError, match="is not a lower-case identifier"):
        write_table_parquet(tmp_path, schema, table, TWO_COUNTRIES)

    assert _files(tmp_path) == {}


def test_write_table_parquet__curated_path_with_equals__raises(tmp_path: Path) -> None:
    """A curated path like run=5/ is refused: hive reading would add a column."""
    with pytest.raises(StoreError, match="hive partition"):
        write_table_parquet(tmp_path / "run=5", SCHEMA, TABLE, TWO_COUNTRIES)


# --------------------------------------------------------------------------
# Crash safety
# --------------------------------------------------------------------------


class _Crash(BaseException):
    """Stands for a power cut: not an Exception, so no cleanup code catches it."""


@pytest.fixture
def crash_after(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Make the n-th rename (os.rename or os.replace, counted from 0) crash."""

    def arm(n: int) -> None:
        calls = [0]

        def wrap(real: Callable[..., None]) -> Callable[..., None]:
            def renamed(*args: Any, **kwargs: Any) -> None:
                if calls[0] == n:
                    raise _Crash
                calls[0] += 1
                real(*args, **kwargs)

            return renamed

        monkeypatch.setattr(os, "rename", wrap(os.rename))
        monkeypatch.setattr(os, "replace", wrap(os.replace))

    return arm


def _version_frame(version: int) -> pd.DataFrame:
    """Table content number ``version``: size and countries change with it.

    Its source is also run by the writer subprocess: it uses only ``np``, ``pd``.
    """
    rows = 20_000 + 1_000 * (version % 7)
    codes = ["ESP", "FRA", "PRT", "URY"][: 2 + version % 3]
    index = np.arange(rows, dtype="int64")
    return pd.DataFrame(
        {
            "ref_area": pd.array([codes[i % len(codes)] for i in range(rows)], "str"),
            "time_period": pd.array([str(2000 + i % 20) for i in range(rows)], "str"),
            "version": np.full(rows, version, dtype="int64"),
            "row": index,
            "checksum": (index * 7919 + version) % 1_000_003,
        }
    )


def _assert_one_complete_version(curated: Path, allowed: set[int]) -> int:
    """The table is exactly one version among ``allowed``, complete; return it."""
    table = read_table(curated, SCHEMA, TABLE)
    versions = set(table["version"].unique().tolist())
    assert len(versions) == 1, f"mixed versions {sorted(versions)}"
    (version,) = versions
    assert version in allowed
    expected = _version_frame(version)
    assert len(table) == len(expected)
    assert int(table["checksum"].sum()) == int(expected["checksum"].sum())
    columns = ["row", "ref_area", "checksum"]
    got = table[columns].sort_values("row").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected[columns], check_dtype=False)
    return int(version)


def _assert_nothing_staged(curated: Path) -> None:
    """Only the lock is left in .staging; the analysts' glob holds only real parts."""
    assert [p.name for p in (curated / ".staging").iterdir()] == ["lock"]
    pattern = re.compile(rf"{SCHEMA}/{TABLE}/ref_area=[A-Z]{{3}}/part-0\.parquet")
    for path in (curated / "parquet").rglob("*"):
        if path.is_file():
            assert pattern.fullmatch(path.relative_to(curated / "parquet").as_posix())


def test_write_table_parquet__crash_at_each_rename__recover_gives_old_or_new(
    tmp_path: Path, crash_after: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the commit the old table stays; after it, recover rolls forward."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, _version_frame(0))
    old = 0
    for n in range(10):
        new = n + 1
        crash_after(n)
        try:
            write_table_parquet(tmp_path, SCHEMA, TABLE, _version_frame(new))
        except _Crash:
            crashed = True
        else:
            crashed = False
        monkeypatch.undo()
        if n == 2:  # crashed between the two renames: the final path is absent
            assert not (tmp_path / "parquet" / SCHEMA / TABLE).exists()
        rolled = recover(tmp_path)
        assert recover(tmp_path) == Recovery()  # idempotent
        got = _assert_one_complete_version(tmp_path, {old, new})
        _assert_nothing_staged(tmp_path)
        if not crashed:
            assert got == new
            break
        # Crash point 0 is the commit (plan.json rename); 1 and 2 are the swap.
        assert got == (old if n == 0 else new)
        assert rolled == (Recovery(0, 1) if n == 0 else Recovery(1, 0))
        old = got
    assert n == 3  # three crash points exercised, then a clean write


def test_replace_partitions__crash_at_each_rename__all_or_none_replaced(
    tmp_path: Path, crash_after: Callable[[int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while swapping two partitions never leaves one old and one new."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)
    esp = TWO_COUNTRIES.query("ref_area == 'ESP'")
    for n in range(10):
        new = _observations(
            [("PRT", "2030", "B1G", float(n), 6), ("URY", "2030", "B1G", float(n), 6)]
        )
        crash_after(n)
        try:
            replace_partitions(tmp_path, SCHEMA, TABLE, new)
        except _Crash:
            crashed = True
        else:
            crashed = False
        monkeypatch.undo()
        recover(tmp_path)
        back = read_table(tmp_path, SCHEMA, TABLE)
        assert _sorted(back.query("ref_area == 'ESP'"), list(esp.columns)).equals(
            _sorted(esp, list(esp.columns))
        )
        others = back.query("ref_area != 'ESP'")
        if n == 0 and crashed:  # before the commit: nothing replaced yet
            assert sorted(others["ref_area"]) == ["PRT", "PRT"]
        else:
            assert sorted(others["ref_area"]) == ["PRT", "URY"]
            assert others["obs_value"].tolist() == [float(n), float(n)]
        if not crashed:
            break
        write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)  # reset
    assert n == 4  # commit, two renames for PRT, one for URY (new), then clean


WRITER = """
import sys
from pathlib import Path
from sse_stats.publish.store import write_table_parquet

curated, first = Path(sys.argv[1]), int(sys.argv[2])
frames = [_version_frame(first + i) for i in range(3)]
print("ready", flush=True)
i = 0
while True:
    write_table_parquet(curated, "harmonised", "observations", frames[i % 3])
    i += 1
"""


def test_write_table_parquet__sigkill_at_random_moments__old_or_new(
    tmp_path: Path,
) -> None:
    """A writer killed with SIGKILL leaves one complete version after recover."""
    script = "import numpy as np\nimport pandas as pd\n"
    script += textwrap.dedent(inspect.getsource(_version_frame)) + WRITER
    write_table_parquet(tmp_path, SCHEMA, TABLE, _version_frame(0))
    delays = random.Random(20260607)
    seen: set[int] = {0}
    for attempt in range(1, 5):
        first = 10 * attempt  # this writer cycles through versions first..first+2
        writer = _python(script, str(tmp_path), str(first), stdout=subprocess.PIPE)
        assert writer.stdout is not None
        assert writer.stdout.readline() == "ready\n"
        time.sleep(delays.uniform(0.0, 0.4))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdout.close()

        recover(tmp_path)
        allowed = seen | {first, first + 1, first + 2}
        seen.add(_assert_one_complete_version(tmp_path, allowed))
        _assert_nothing_staged(tmp_path)


# --------------------------------------------------------------------------
# Serving copy and connections
# --------------------------------------------------------------------------


def test_publish_serving_copy__tables_under_schemas__readable_by_duckdb_1_4(
    tmp_path: Path,
) -> None:
    """sse.duckdb holds each Parquet table under its schema, plus meta.tables."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)
    write_table_parquet(tmp_path, "validation", "findings", TWO_COUNTRIES.iloc[:1])
    (tmp_path / "sse.duckdb.tmp-stale").write_bytes(b"left by a crash")
    lineage = pd.DataFrame({"table_name": ["observations"], "built_by": ["test"]})

    path = publish_serving_copy(tmp_path, {"meta.lineage": lineage})

    assert path == tmp_path / "sse.duckdb"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".staging",
        "parquet",
        "sse.duckdb",
    ]
    with open_duckdb(path, read_only=True) as con:
        tags = con.execute(
            "SELECT tags FROM duckdb_databases() WHERE database_name = 'sse'"
        ).fetchall()
        assert tags == [({"storage_version": "v1.4.0+"},)]
        listed = con.execute(
            "SELECT table_schema, table_name, row_count FROM meta.tables ORDER BY 1, 2"
        ).fetchall()
        assert listed == [
            ("harmonised", "observations", 4),
            ("meta", "lineage", 1),
            ("validation", "findings", 1),
        ]
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'harmonised' AND table_name = 'observations'"
            ).fetchall()
        )
        assert types["ref_area"] == "VARCHAR"
        assert types["time_period"] == "VARCHAR"
        assert types["obs_value"] == "DOUBLE"
        got = con.sql("SELECT * FROM harmonised.observations").df()
    columns = list(TWO_COUNTRIES.columns)
    pd.testing.assert_frame_equal(
        _sorted(got, columns), _sorted(TWO_COUNTRIES, columns)
    )


def test_publish_serving_copy__name_given_twice__raises(tmp_path: Path) -> None:
    """An in-memory table may not shadow a Parquet table of the same name."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)

    with pytest.raises(StoreError, match="harmonised.observations is given twice"):
        publish_serving_copy(tmp_path, {"harmonised.observations": TWO_COUNTRIES})

    assert not (tmp_path / "sse.duckdb").exists()


READER = """
import sys
import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
query = "SELECT count(*), sum(obs_value) FROM harmonised.observations"
print(*con.execute(query).fetchone(), flush=True)
sys.stdin.readline()
print(*con.execute(query).fetchone(), flush=True)
"""


def test_publish_serving_copy__reader_holds_old_file__swap_not_blocked(
    tmp_path: Path,
) -> None:
    """A reader keeps its old consistent copy; publishing is not blocked by it."""
    write_table_parquet(tmp_path, SCHEMA, TABLE, TWO_COUNTRIES)
    path = publish_serving_copy(tmp_path)
    old_inode = path.stat().st_ino
    reader = _python(READER, str(path), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert reader.stdin is not None and reader.stdout is not None
    try:
        old = _counted(reader.stdout.readline())
        assert old == pytest.approx((4, 3618.4 + 1250.0 + 10.5))

        new_prt = _observations([("PRT", "2023", "B1G", 1.0, 6)])
        replace_partitions(tmp_path, SCHEMA, TABLE, new_prt)
        publish_serving_copy(tmp_path)

        with open_duckdb(path, read_only=True) as con:
            assert con.execute(
                "SELECT count(*), sum(obs_value) FROM harmonised.observations"
            ).fetchone() == pytest.approx((3, 1250.0 + 10.5 + 1.0))
        reader.stdin.write("again\n")
        reader.stdin.flush()
        assert _counted(reader.stdout.readline()) == old
    finally:
        reader.stdin.close()
        reader.wait(timeout=10)
        reader.stdout.close()
    assert path.stat().st_ino != old_inode


def _counted(line: str) -> tuple[int, float]:
    """Parse the reader's "count sum" line."""
    count, total = line.split()
    return int(count), float(total)


HOLDER = """
import sys
import duckdb

con = duckdb.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.readline()
"""


def test_open_duckdb__file_held_by_writer__raises_store_locked(tmp_path: Path) -> None:
    """A file locked by another process raises StoreLockedError naming it."""
    path = tmp_path / "work.duckdb"
    holder = _python(HOLDER, str(path), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline() == "held\n"
        with (
            pytest.raises(StoreLockedError, match=re.escape(str(path))),
            open_duckdb(path, read_only=True, retries=2),
        ):
            pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()


def test_open_duckdb__unknown_table__no_python_variable_used(tmp_path: Path) -> None:
    """Replacement scans are off: a missing table never resolves to a variable."""
    observations = TWO_COUNTRIES  # noqa: F841 - the name DuckDB must not pick up

    with (
        open_duckdb(tmp_path / "x.duckdb", read_only=False) as con,
        pytest.raises(duckdb.CatalogException),
    ):
        con.sql("SELECT * FROM observations").fetchall()
