"""The register path at national scale against a bare DuckDB GROUP BY of the same file.

Goals (issue 8): a 10 000 000-unit register (make_register.py, Parquet) through
validation, aggregation, disclosure control and satellite tables within 3x the
wall time of a bare ``GROUP BY`` of the same file over the same dimensions, timed
in the same run; peak memory under 1.5 GB.

Each measurement is a fresh child process; its wall time is taken by the parent
and its peak resident memory from ``os.wait4`` (the child's own ``ru_maxrss``,
DuckDB's threads included). Two baselines are timed, both summing every variable
with ``count(*)``:

* ``GROUP BY`` of the finest cells (every dimension the breakdowns use: the
  "same dimensions"), the goal's reference;
* ``GROUP BY GROUPING SETS`` of the published cells, for information.

    .venv/bin/python benchmarks/register_scale.py [--units 10000000]
        [--countries 30] [--seed 7] [--register FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from synthetic_register import generate

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
GOAL_RATIO = 3.0
GOAL_MEMORY_GB = 1.5


@dataclass
class Peak:
    """Peak memory of a child: its own RSS, and its whole process tree."""

    rss_gb: float = 0.0
    tree_pss_gb: float = 0.0
    tree_rss_gb: float = 0.0


def _tree(root: int) -> list[int]:
    """``root`` and every process below it (``/proc/<pid>/task/<tid>/children``)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in kB; (0, 0) once it is gone."""
    pss = rss = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Rss:"):
                rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


def _sample(pid: int, peak: Peak, done: threading.Event) -> None:
    """Sum PSS (shared pages split between processes) and RSS over the tree."""
    while not done.is_set():
        pss = rss = 0
        for member in _tree(pid):
            p, r = _memory_kb(member)
            pss += p
            rss += r
        peak.tree_pss_gb = max(peak.tree_pss_gb, pss / 1024 / 1024)
        peak.tree_rss_gb = max(peak.tree_rss_gb, rss / 1024 / 1024)
        done.wait(0.1)


def run_child(mode: str, register: Path) -> tuple[float, Peak, dict[str, object]]:
    """Run one measurement in a fresh process: wall seconds, peak memory, report.

    The child's own peak RSS comes from ``os.wait4``; its whole tree (the
    forked table workers included) is sampled every 100 ms from /proc.
    """
    command = [sys.executable, __file__, "--child", mode, "--register", str(register)]
    if mode != "register":
        command += ["--sql", bare_sql(register, mode == "sets")]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak = Peak()
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(proc.pid, peak, done))
    sampler.start()
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"child {mode} failed ({proc.returncode})")
    peak.rss_gb = usage.ru_maxrss / 1024 / 1024
    return wall, peak, json.loads(output.strip().splitlines()[-1])


# ------------------------------------------------------------------ children


def bare_sql(register: Path, grouping_sets: bool) -> str:
    """The bare GROUP BY (or GROUPING SETS) of the register, built in the parent
    so the child imports nothing but duckdb (a fair process wall time)."""
    from sse_stats.register.aggregate import grouping_sets as sets_of
    from sse_stats.register.mapping import load_register_mapping

    mapping = load_register_mapping(SCHEMAS, "make_register")
    dims = ["ref_area", "time_period", *mapping.grouped_dimensions]
    sums = ", ".join(f'sum("{v}")' for v in mapping.variables)
    keys = ", ".join(f'"{d}"' for d in dims)
    if grouping_sets:
        group = (
            "GROUPING SETS ("
            + ", ".join(
                "(" + ", ".join(f'"{d}"' for d in ("ref_area", "time_period", *g)) + ")"
                for g in sets_of(mapping)
            )
            + ")"
        )
    else:
        group = keys
    reader = "read_parquet($f)" if register.suffix == ".parquet" else "read_csv($f)"
    return f"SELECT {keys}, count(*), {sums} FROM {reader} GROUP BY {group}"  # noqa: S608


def child_bare(register: Path, sql: str) -> dict[str, object]:
    import duckdb

    con = duckdb.connect()
    start = time.perf_counter()
    rows = con.execute(sql, {"f": str(register)}).fetchall()
    return {"seconds": time.perf_counter() - start, "rows": len(rows)}


def child_register(register: Path) -> dict[str, object]:
    from sse_stats.register import process_register

    start = time.perf_counter()
    result = process_register(register, SCHEMAS)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "blocked": result.blocked,
        "units": result.units,
        "fine_cells": result.fine_cells,
        "observations": len(result.observations),
        "partitions": len(result.partitions),
        "conf_status": result.suppressed(),
        "table_rows": sum(len(t) for t in result.tables.values()),
        "steps": result.timings,
    }


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000_000)
    parser.add_argument("--countries", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--register", type=Path, help="use this register (.parquet or .csv)"
    )
    parser.add_argument("--keep", type=Path, help="write the register here, keep it")
    parser.add_argument("--child", choices=["bare", "sets", "register"])
    parser.add_argument("--sql", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "register":
            report = child_register(args.register)
        else:
            report = child_bare(args.register, args.sql)
        print(json.dumps(report))
        return
    with tempfile.TemporaryDirectory(prefix="register_scale_") as tmp:
        register = args.register
        if register is None:
            folder = args.keep or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            register = folder / f"register_{args.units}.parquet"
            if not register.exists():
                print(f"generating {args.units:,} units ({args.countries} countries)…")
                generate(
                    register, units=args.units, countries=args.countries,
                    seed=args.seed,
                )  # fmt: skip
        measure(register)


def measure(register: Path) -> None:
    size = register.stat().st_size / 1e6
    with register.open("rb") as handle:  # warm the page cache for every child
        while handle.read(1 << 24):
            pass
    bare_wall, bare_mem, bare = run_child("bare", register)
    sets_wall, sets_mem, sets = run_child("sets", register)
    full_wall, full_mem, full = run_child("register", register)
    ratio = full_wall / bare_wall
    query_ratio = float(str(full["seconds"])) / float(str(bare["seconds"]))
    peak = max(full_mem.tree_pss_gb, full_mem.rss_gb)
    steps = full["steps"]
    assert isinstance(steps, dict)
    lines = [
        f"register             {register.name} ({size:,.0f} MB "
        f"{register.suffix.lstrip('.').upper()})",
        f"units                {full['units']:,} in {full['partitions']} "
        f"country-years; {full['fine_cells']:,} fine cells",
        f"observations         {full['observations']:,}; table rows "
        f"{full['table_rows']:,}; CONF_STATUS {full['conf_status']}",
        "                     wall (process)   in-process   peak RSS   tree PSS",
        _row("bare GROUP BY", bare_wall, bare, bare_mem)
        + f"   ({bare['rows']:,} rows)",
        _row("bare GROUPING SETS", sets_wall, sets, sets_mem)
        + f"   ({sets['rows']:,} rows)",
        _row("register path", full_wall, full, full_mem),
        "  steps              " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()),
        f"ratio (process wall) {ratio:.2f}x the bare GROUP BY (goal <= "
        f"{GOAL_RATIO:.0f}x: {'met' if ratio <= GOAL_RATIO else 'NOT met'}); "
        f"{full_wall / sets_wall:.2f}x the bare GROUPING SETS",
        f"ratio (in-process)   {query_ratio:.2f}x (interpreter start and imports "
        "excluded from both)",
        f"peak memory          {peak:.2f} GB, whole process tree (goal < "
        f"{GOAL_MEMORY_GB} GB: {'met' if peak < GOAL_MEMORY_GB else 'NOT met'}); "
        f"tree RSS with shared pages counted twice {full_mem.tree_rss_gb:.2f} GB",
    ]
    print("\n".join(lines))


def _row(label: str, wall: float, report: dict[str, object], mem: Peak) -> str:
    seconds = float(str(report["seconds"]))
    return (
        f"{label:<20} {wall:9.2f} s   {seconds:9.2f} s   {mem.rss_gb:5.2f} GB"
        f"   {mem.tree_pss_gb:5.2f} GB"
    )


if __name__ == "__main__":
    main()
