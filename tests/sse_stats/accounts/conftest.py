"""Fixtures for satellite tables: the six good NSO files harmonised, shells, tables.

The harmonised frames are built with the same calls as ``check_submission``
(read → national or template rows → ``build_frame``) without the validation
rules: the frame is identical, and validating six files would take several
seconds that these tests do not need.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pytest

from sse_stats.accounts import build_tables, load_shells
from sse_stats.accounts.disclosure import load_sdc
from sse_stats.accounts.protection import protect_published
from sse_stats.accounts.shells import TableShell
from sse_stats.harmonise.mapping import load_mapping
from sse_stats.harmonise.submission import harmonise_file
from sse_stats.schema.load import load_schema
from sse_stats.validate.catalogue import load_rules

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"
GOOD = ROOT / "tests" / "fixtures" / "nso" / "good"


def harmonise(path: Path) -> pd.DataFrame:
    """The harmonised frame of one good fixture (mapping chosen by file name)."""
    mapping = None
    if not path.name.startswith("template"):
        mapping = load_mapping(SCHEMAS / "mappings" / f"{path.name[:3]}.yaml")
    result = harmonise_file(
        path, mapping, schema=load_schema(SCHEMAS), cat=load_rules(SCHEMAS / "rules")
    )
    assert result.harmonised is not None, [f.message for f in result.findings]
    return result.harmonised.frame


@pytest.fixture(scope="session")
def shells() -> dict[str, TableShell]:
    """The ten shells of schemas/tables/."""
    return load_shells(SCHEMAS)


@pytest.fixture(scope="session")
def observations() -> pd.DataFrame:
    """All six good fixtures, concatenated as harmonised.observations holds them."""
    frames = [harmonise(path) for path in sorted(GOOD.glob("*.csv"))]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="session")
def built(
    observations: pd.DataFrame, shells: Mapping[str, TableShell]
) -> tuple[dict[str, pd.DataFrame], list[dict[str, object]]]:
    """Every table built from the fixtures, before disclosure control, and findings."""
    return build_tables(observations, shells)


@pytest.fixture(scope="session")
def tables(
    built: tuple[dict[str, pd.DataFrame], list[dict[str, object]]],
    shells: Mapping[str, TableShell],
) -> dict[str, pd.DataFrame]:
    """Every table built from the fixtures and protected (as published)."""
    return protect_published(built[0], shells, load_sdc(SCHEMAS))


DEFAULT_ROW: dict[str, object] = {
    "ref_area": "MEX",
    "region": "_T",
    "time_period": "2021",
    "freq": "A",
    "sse_entity": "_T",
    "sse_entity_nat": "_Z",
    "coop_type": "_Z",
    "coop_level": "_Z",
    "activity": "_T",
    "inst_sector": "_T",
    "sex": "_Z",
    "work_cat": "_Z",
    "member_type": "_Z",
    "measure": "B1G",
    "unit_measure": "XDC",
    "unit_mult": 6,
    "currency": "MXN",
    "obs_status": "A",
    "obs_status_nat": None,
    "conf_status": "F",
    "coverage": None,
    "unit_state": None,
    "valuation_method": None,
    "comment_obs": None,
    "source_id": "SYNTH",
    "edition": "2023-01-01",
    "share_base": None,
    "source_file": "constructed.csv",
    "source_sha256": "0" * 64,
    "source_column": "OBS_VALUE",
    "mapping_file": None,
}


def frame_of(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A harmonised frame from short row specs (``value`` is the published text)."""
    records = []
    for line, spec in enumerate(rows, start=2):
        record = {**DEFAULT_ROW, **{k: v for k, v in spec.items() if k != "value"}}
        text = spec.get("value")
        record["obs_value_text"] = None if text is None else str(text)
        record["obs_value"] = float(str(text)) if text is not None else float("nan")
        record["source_row"] = spec.get("source_row", line)
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    frame["unit_mult"] = frame["unit_mult"].astype("Int64")
    return frame


@pytest.fixture(scope="session")
def make_frame():  # type: ignore[no-untyped-def]
    """``make_frame(rows)``: a harmonised frame from short row specs."""
    return frame_of


def pick(frame: pd.DataFrame, **codes: object) -> pd.DataFrame:
    """Rows of ``frame`` whose columns equal ``codes`` (``None`` matches empty)."""
    mask = pd.Series(True, index=frame.index)
    for column, code in codes.items():
        mask &= frame[column].isna() if code is None else frame[column] == code
    return frame[mask]


@pytest.fixture(scope="session")
def cells():  # type: ignore[no-untyped-def]
    """``cells(frame, **codes)``: the rows with those codes."""
    return pick
