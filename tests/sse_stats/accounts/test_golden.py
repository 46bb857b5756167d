"""Each satellite table built from the six good fixtures equals its golden CSV.

Golden files (``tests/golden/satellite__<table>.csv``, one name per thing) are
readable CSV, sorted by cell key, floats with ten significant digits. Regenerate
them only on purpose, then review the diff:

    SSE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/sse_stats/accounts/test_golden.py

An update run rewrites the files and fails, so a test never passes by writing
its own expectation.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.accounts import SATELLITE_COLUMNS

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
UPDATE = os.environ.get("SSE_UPDATE_GOLDEN") == "1"
# The file digest is left out: it is provenance, not content, and unreadable in a diff.
COLUMNS = [c for c in SATELLITE_COLUMNS if c != "source_sha256"]
TABLES = sorted(
    p.stem for p in (GOLDEN.parents[1] / "schemas" / "tables").glob("t*.yaml")
)


def as_golden_csv(frame: pd.DataFrame) -> str:
    """The table as golden text: fixed columns, fixed float format, LF line ends."""
    return str(
        frame[COLUMNS].to_csv(index=False, float_format="%.10g", lineterminator="\n")
    )


@pytest.mark.parametrize("name", TABLES)
def test_table__fixtures__equals_golden(
    name: str, tables: Mapping[str, pd.DataFrame]
) -> None:
    """satellite.<name> on the fixtures is tests/golden/satellite__<name>.csv."""
    path = GOLDEN / f"satellite__{name}.csv"
    got = as_golden_csv(tables[name])
    if UPDATE:
        path.write_text(got, encoding="utf-8")
        pytest.fail(
            f"{path.name} rewritten (SSE_UPDATE_GOLDEN=1): review the diff, "
            "then run the tests without SSE_UPDATE_GOLDEN"
        )
    assert path.exists(), (
        f"{path} is missing; create it with SSE_UPDATE_GOLDEN=1 and review it"
    )
    expected = path.read_text(encoding="utf-8")
    if got != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), got.splitlines(), "golden", "built", lineterm="", n=1
        )
        pytest.fail("\n".join(list(diff)[:60]))
