"""How long `sse-stats check` takes on a 500-row national file, against GX's import.

Goal (issue 4): at most 1.5x the time Python needs just to import
great_expectations on the same machine. Both are timed here, in the same run,
as fresh processes (median of --repeat runs), with the peak memory of each.

    .venv/bin/python benchmarks/check_speed.py [--rows 500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECTIONS = "ABCDEFGHIJKLMNOPQRSTU"
FAMILIES = ["Associations", "Coopératives", "Mutuelles", "Fondations"]


def _fr(value: float, decimals: int = 0) -> str:
    """A number in the French layout: narrow no-break space thousands, decimal comma."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def write_national_file(path: Path, rows: int, seed: int = 1) -> None:
    """A FRA-layout file with ``rows`` data lines (synthetic, keys unique)."""
    rng = random.Random(seed)
    lines = [
        "Année;Famille;Section NAF;Libellé;Établissements employeurs;"
        "Effectifs salariés au 31/12;ETP;Masse salariale (k€)"
    ]
    keys = [(y, f, s) for y in range(1990, 2026) for f in FAMILIES for s in SECTIONS]
    for year, family, section in keys[:rows]:
        jobs = rng.randint(100, 90_000)
        lines.append(
            ";".join(
                [
                    str(year),
                    family,
                    section,
                    "libellé",
                    _fr(rng.randint(3, 900)),
                    _fr(jobs),
                    _fr(jobs * rng.uniform(0.6, 0.95), 1),
                    _fr(jobs * rng.uniform(20, 40)),
                ]
            )
        )
    lines.append("Note : s = secret statistique. Édition : 2023-12-15.;;;;;;;")
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def _timed(command: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode not in (0, 1):
        sys.exit(
            f"{command} failed ({completed.returncode}): "
            f"{completed.stderr.decode()[-400:]}"
        )
    return elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> None:
    """Print median wall times, their ratio and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "FRA_benchmark.csv"
        write_national_file(path, args.rows)
        gx_cmd = [sys.executable, "-c", "import great_expectations"]
        check_cmd = [
            sys.executable,
            "-m",
            "sse_stats",
            "check",
            str(path),
            "--country",
            "FRA",
            "--format",
            "json",
        ]
        gx_times, check_times = [], []
        for _ in range(args.repeat):  # interleaved, so machine noise hits both alike
            gx_times.append(_timed(gx_cmd)[0])
            elapsed, peak = _timed(check_cmd)
            check_times.append(elapsed)
        gx, check = statistics.median(gx_times), statistics.median(check_times)
        print(f"rows in file: {args.rows}; runs: {args.repeat}")
        print(f"import great_expectations: median {gx:.2f} s (min {min(gx_times):.2f})")
        print(
            f"sse-stats check:           median {check:.2f} s (min "
            f"{min(check_times):.2f})"
        )
        print(f"ratio check / GX import:   {check / gx:.2f} (goal <= 1.5)")
        print(f"peak RSS of a child process: {peak / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
