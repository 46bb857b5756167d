"""Fixtures for registers: generated registers (make_register.py) and crafted ones.

Generated registers come from ``../shared/tools/make_register.py`` (skipped when
the shared tools are absent). Crafted registers are small frames written with
pandas, every unit valid unless a test changes it: one unit per dict, the
make_register.py columns.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sse_stats.register import RegisterResult, process_register

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"
MAKE_REGISTER = ROOT.parent / "shared" / "tools" / "make_register.py"

COLUMNS = [
    "unit_id", "ref_area", "time_period", "sse_entity", "coop_type", "coop_level",
    "activity", "inst_sector", "region", "members_f", "members_m", "employees",
    "fte", "output", "intermediate_consumption", "gross_value_added",
    "compensation", "wages", "employer_social_contributions",
]  # fmt: skip


def generate(
    folder: Path, *, units: int, countries: int, seed: int, suffix: str
) -> Path:
    """Run make_register.py into ``folder``; skip the test when it is absent."""
    if not MAKE_REGISTER.is_file():
        pytest.skip(f"{MAKE_REGISTER} is not available")
    out = folder / f"reg_{units}_{countries}_{seed}.{suffix}"
    if not out.exists():
        subprocess.run(
            [
                sys.executable,
                str(MAKE_REGISTER),
                "--units",
                str(units),
                "--countries",
                str(countries),
                "--seed",
                str(seed),
                "--out",
                str(out),
                "--quiet",
            ],  # fmt: skip
            check=True,
        )
    return out


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by the session's generated registers."""
    return tmp_path_factory.mktemp("registers")


@pytest.fixture(scope="session")
def small_parquet(generated_dir: Path) -> Path:
    """20 000 units of 3 countries (PRT, ESP, FRA), Parquet."""
    return generate(generated_dir, units=20_000, countries=3, seed=11, suffix="parquet")


@pytest.fixture(scope="session")
def small_csv(generated_dir: Path) -> Path:
    """The same units as ``small_parquet``, CSV."""
    return generate(generated_dir, units=20_000, countries=3, seed=11, suffix="csv")


@pytest.fixture(scope="session")
def small_result(small_parquet: Path) -> RegisterResult:
    """The register path on ``small_parquet`` (tables included)."""
    return process_register(small_parquet, SCHEMAS)


def unit(**changes: Any) -> dict[str, Any]:
    """One valid unit (an association in Lisbon), with ``changes`` applied.

    Money and FTE follow the unit's identities unless given explicitly.
    """
    row: dict[str, Any] = {
        "unit_id": 1,
        "ref_area": "PRT",
        "time_period": 2022,
        "sse_entity": "ASSOC",
        "coop_type": "_Z",
        "coop_level": "_Z",
        "activity": "Q",
        "inst_sector": "S15",
        "region": "PT-11",
        "members_f": 10,
        "members_m": 10,
        "employees": 10,
        "fte": 8.5,
        "output": 1000,
        "intermediate_consumption": 400,
        "wages": 300,
        "employer_social_contributions": 60,
    }
    row.update(changes)
    if "gross_value_added" not in row:
        row["gross_value_added"] = row["output"] - row["intermediate_consumption"]
    if "compensation" not in row:
        row["compensation"] = row["wages"] + row["employer_social_contributions"]
    return row


def crafted(
    rows: Iterable[Mapping[str, Any]], path: Path, *, number: bool = True
) -> Path:
    """Write units to ``path`` (CSV or Parquet); ids numbered 1… when ``number``."""
    frame = pd.DataFrame([dict(r) for r in rows])
    if number:
        frame["unit_id"] = range(1, len(frame) + 1)
    frame = frame[COLUMNS]
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def schemas_copy(tmp_path: Path) -> Callable[[Mapping[str, str]], Path]:
    """A copy of schemas/ with rule severities changed: ``{rule: severity}``."""

    def make(severities: Mapping[str, str]) -> Path:
        target = tmp_path / "schemas"
        if not target.exists():
            shutil.copytree(SCHEMAS, target)
        rules = target / "rules" / "register.yaml"
        text = rules.read_text(encoding="utf-8")
        for rule, severity in severities.items():
            head = f"name: {rule}, applies_to: registers, level: 1, severity: "
            start = text.index(head) + len(head)
            end = text.index(",", start)
            text = text[:start] + severity + text[end:]
        rules.write_text(text, encoding="utf-8")
        return target

    return make
