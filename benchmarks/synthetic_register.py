"""Write a synthetic register with ../shared/tools/make_register.py (benchmarks).

One place for the command line both register benchmarks use; the generation is
never timed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE_REGISTER = ROOT.parent / "shared" / "tools" / "make_register.py"


def generate(
    out: Path, *, units: int, countries: int, seed: int, years: str | None = None
) -> None:
    """Write ``units`` units of ``countries`` countries to ``out`` (.csv/.parquet)."""
    if not MAKE_REGISTER.is_file():
        sys.exit(f"{MAKE_REGISTER} not found: pass --register FILE where offered")
    command = [
        sys.executable, str(MAKE_REGISTER),
        "--units", str(units), "--countries", str(countries), "--seed", str(seed),
        "--out", str(out), "--quiet",
    ]  # fmt: skip
    if years is not None:
        command += ["--years", years]
    subprocess.run(command, check=True)
