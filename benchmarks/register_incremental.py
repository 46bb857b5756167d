"""Cost of adding one country's register to a store that holds 50, against alone.

Goal (issue 8): adding one country and year when 50 are already loaded costs at
most 1.2x loading it into an empty store. "Adding" is what the Dagster partition
run does (``pipelines/assets/registers.py``): validate the units of the new
partition, aggregate them with disclosure control, build its satellite tables
and replace its partition of ``register.*`` in the curated store.

The 50 loaded partitions are 25 countries x 2 years of one make_register.py
file; the new one is PRT 2023 from another file of about one partition's size.
Both adds are timed ``--repeat`` times, alternating, each into a copy of the
store as it was before (median reported).

    .venv/bin/python benchmarks/register_incremental.py [--units 2000000]
        [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from synthetic_register import generate

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
GOAL_RATIO = 1.2


def add(curated: Path, register: Path, key: str) -> float:
    """Process and publish one partition (its units only); the seconds it took."""
    return load(curated, register, [key])


def load(curated: Path, register: Path, keys: list[str]) -> float:
    """Process partitions of a file (several: in one scan), publish each; seconds."""
    from sse_stats.register.publish import (
        RegisterFile,
        process_partitions,
        publish_register,
    )

    start = time.perf_counter()
    results = process_partitions(
        RegisterFile(path=register, mapping="make_register"), SCHEMAS, keys
    )
    for key, result in results.items():
        publish_register(curated, result, key)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    from sse_stats.register.publish import REGISTERS_DIR, discover

    with tempfile.TemporaryDirectory(prefix="register_incremental_") as tmp:
        base = Path(tmp)
        raw = base / "raw" / REGISTERS_DIR / "make_register"
        raw.mkdir(parents=True)
        loaded = raw / "loaded.parquet"
        print(f"generating {args.units:,} units: 25 countries x 2020-2021 …")
        generate(
            loaded, units=args.units, countries=25, seed=args.seed,
            years="2020-2021",
        )  # fmt: skip
        new = base / "new" / "prt_2023.parquet"
        new.parent.mkdir()
        generate(
            new, units=max(args.units // 50, 1000), countries=1,
            seed=args.seed + 1, years="2023",
        )  # fmt: skip
        keys = list(discover(raw.parent, SCHEMAS))
        print(f"loading {len(keys)} partitions in one run (one scan) …")
        store = base / "store_50"
        load_seconds = load(store, loaded, keys)
        one_at_a_time = add(base / "store_one", loaded, keys[0])
        loaded_times, alone_times = [], []
        for _ in range(args.repeat):
            for label, source in (("loaded", store), ("alone", None)):
                target = base / f"run_{label}"
                shutil.rmtree(target, ignore_errors=True)
                if source is not None:
                    shutil.copytree(source, target)
                seconds = add(target, new, "PRT_2023")
                (loaded_times if label == "loaded" else alone_times).append(seconds)
        with_50 = statistics.median(loaded_times)
        alone = statistics.median(alone_times)
        ratio = with_50 / alone
        print(
            f"loaded partitions      {len(keys)} in {load_seconds:.1f} s, one run "
            f"(one partition of that file alone: {one_at_a_time:.1f} s, so about "
            f"{one_at_a_time * len(keys):.0f} s one run per partition)"
        )
        print(f"new partition          PRT_2023, {new.stat().st_size / 1e6:.1f} MB")
        print(f"add with 50 loaded     {with_50:.2f} s  (runs {_fmt(loaded_times)})")
        print(f"add alone              {alone:.2f} s  (runs {_fmt(alone_times)})")
        print(
            f"ratio                  {ratio:.2f}x (goal <= {GOAL_RATIO}x: "
            f"{'met' if ratio <= GOAL_RATIO else 'NOT met'})"
        )


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
