"""Cost of adding one submission to a store holding 50 countries vs an empty one.

Goal (issue 5): adding one submission to a curated store that already holds
50 countries costs at most 1.2x adding it to an empty store. Both are timed in
the same run, in this process, on the same synthetic files:

- 51+ canonical-template files are generated from
  ``data/raw/template_MEX_2019-2020.csv`` for other ISO 3166-1 alpha-3 codes
  (``REF_AREA`` and ``SOURCE_ID`` rewritten; the Mexican registered subgroup
  ``SSE_ENTITY_NAT`` set to ``_T``, which any country may use);
- "empty": a fresh store receives one file;
- "loaded": a store with 50 countries checked, promoted and published receives
  one more file (a different country each repetition);
- the two alternate, so a machine busy with other work slows both alike.

"Adding" is what the pipeline does for one new file: check and stage
(``stage_raw_file``), promote, then ``publish_curated`` (Parquet partitions of
the new country, whole small tables, and the serving copy ``sse.duckdb``, in one
commit). The median of ``--repeat`` runs is printed for the check and for the
publication, their ratios, and the peak memory of the process. ``--profile``
prints where the loaded publication spends its time.

    .venv/bin/python benchmarks/add_submission.py [--countries 50] [--repeat 7]
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pycountry

from sse_stats.publish.publication import publish_curated
from sse_stats.publish.staging import promote_submission, stage_raw_file
from sse_stats.settings import Paths

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "data" / "raw" / "template_MEX_2019-2020.csv"
GOAL = 1.2


def synthetic_file(iso3: str, folder: Path) -> str:
    """Write the MEX template file as country ``iso3``; return its name."""
    rows = list(csv.reader(io.StringIO(TEMPLATE.read_text(encoding="utf-8"))))
    column = {name: i for i, name in enumerate(rows[0])}
    for row in rows[1:]:
        if not row:
            continue
        row[column["REF_AREA"]] = iso3
        row[column["SOURCE_ID"]] = row[column["SOURCE_ID"]].replace("MEX", iso3)
        if row[column["SSE_ENTITY_NAT"]].startswith("MEX_"):
            row[column["SSE_ENTITY_NAT"]] = "_T"  # registered for MEX only
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    name = f"template_{iso3}_2019-2020.csv"
    (folder / name).write_text(buffer.getvalue(), encoding="utf-8")
    return name


def new_store(base: Path, label: str) -> Paths:
    raw = base / label / "raw"
    raw.mkdir(parents=True)
    return Paths(raw=raw, curated=base / label / "curated", schemas=ROOT / "schemas")


def add(paths: Paths, iso3: str) -> tuple[float, float]:
    """Check, stage and promote one new file, then publish; the two times."""
    name = synthetic_file(iso3, paths.raw)
    start = time.perf_counter()
    staged = stage_raw_file(paths, name, trigger="batch")
    if not staged.accepted:
        sys.exit(f"{name} was {staged.status}: {staged.reason}")
    promote_submission(paths, name)
    checked = time.perf_counter()
    summary = publish_curated(paths.curated, schemas_dir=paths.schemas)
    published = time.perf_counter()
    if iso3 not in summary.observations_by_country:
        sys.exit(f"{iso3} was not published")
    return checked - start, published - checked


def timed(label: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    check = statistics.median(r[0] for r in runs)
    publish = statistics.median(r[1] for r in runs)
    print(
        f"{label:<28} check+stage {check * 1000:7.0f} ms   publish "
        f"{publish * 1000:7.0f} ms   total {(check + publish) * 1000:7.0f} ms"
    )
    return check, publish


def main() -> None:
    """Print median times, ratios and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--countries", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    codes = [c.alpha_3 for c in pycountry.countries if c.alpha_3 != "MEX"]
    loaded_codes = codes[: args.countries]
    extra = codes[args.countries : args.countries + args.repeat + 1]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        loaded = new_store(base, "loaded")
        start = time.perf_counter()
        for iso3 in loaded_codes:
            name = synthetic_file(iso3, loaded.raw)
            if stage_raw_file(loaded, name, trigger="batch").accepted:
                promote_submission(loaded, name)
        first = publish_curated(loaded.curated, schemas_dir=loaded.schemas)
        setup = time.perf_counter() - start
        add(new_store(base, "warm"), extra[-1])  # warm-up: caches, DuckDB start
        # Alternate the two cases, so a busy machine slows both alike.
        empty_runs, loaded_runs = [], []
        for i in range(args.repeat):
            empty_runs.append(add(new_store(base, f"empty{i}"), extra[i]))
            loaded_runs.append(add(loaded, extra[i]))

        print(
            f"{len(first.observations_by_country)} countries loaded "
            f"({first.observations} observations) in {setup:.1f} s; "
            f"median of {args.repeat} runs:"
        )
        e_check, e_pub = timed("add 1 to an empty store", empty_runs)
        l_check, l_pub = timed(f"add 1 to {args.countries} countries", loaded_runs)
        total = (l_check + l_pub) / (e_check + e_pub)
        print(
            f"ratio loaded/empty: total {total:.2f}x (goal <= {GOAL}x: "
            f"{'met' if total <= GOAL else 'NOT met'}), "
            f"check {l_check / e_check:.2f}x, publish {l_pub / e_pub:.2f}x"
        )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (this process): {peak:.0f} MiB")
        if args.profile:
            _profile(lambda: add(loaded, extra[args.repeat]))


def _profile(step: Callable[[], object]) -> None:
    profile = cProfile.Profile()
    profile.runcall(step)
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(r"sse_stats|duckdb|pyarrow", 25)


if __name__ == "__main__":
    main()
