"""Secondary suppression: no suppressed cell can be recovered from published cells.

The checker here is written apart from ``sse_stats.accounts.sdc``: it reads the
hierarchies and identities of ``schemas/harmonised/`` and, for every relation
``parent = Σ children`` among the cells of all tables of one country, asserts
that the relation holds no suppressed cell or at least two.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from sse_stats.accounts import build_tables, protect_tables
from sse_stats.accounts.sdc import derived_status
from sse_stats.accounts.shells import KEY_COLUMNS, TableShell

ROOT = Path(__file__).resolve().parents[3]
HARMONISED = ROOT / "schemas" / "harmonised"
Pick = Callable[..., pd.DataFrame]


def _suppressed(cell: Mapping[str, Any]) -> bool:
    value = cell["obs_value"]
    empty = value is None or (isinstance(value, float) and math.isnan(value))
    return empty and cell["conf_status"] not in (None, "F")


def _relations(
    cells: list[dict[str, Any]],
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(name, [parent, *present children]) for each additive relation."""
    doc = yaml.safe_load((HARMONISED / "hierarchies.yaml").read_text(encoding="utf-8"))
    additive = set(doc["measures"]["additive"]) | {"RES_LISTED"}
    distinct = set(doc["measures"]["distinct_count"])
    with (HARMONISED / "codelists" / "sse_entity_nat.csv").open(encoding="utf-8") as f:
        subgroups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for rec in csv.DictReader(f):
            if rec["exhaustive"] == "Y":
                subgroups[(rec["ref_area"], rec["parent"])].append(rec["id"])
    for entry in doc["hierarchies"]:
        dim = entry["dimension"]
        equivalents = entry.get("key_equivalents") or {}
        for rel in entry["relations"]:
            if rel.get("children_from") == "present_codes":
                continue
            groups: dict[tuple[Any, ...], dict[Any, dict[str, Any]]] = defaultdict(dict)
            for cell in cells:
                measure = cell["measure"]
                ok = (
                    measure in set(entry["measures"])
                    if entry.get("measures")
                    else measure in additive
                    or (measure in distinct and dim in ("sex", "member_type"))
                )
                if not ok:
                    continue
                norm = tuple(
                    equivalents.get(c, {}).get(cell[c], cell[c])
                    for c in KEY_COLUMNS
                    if c != dim
                )
                groups[norm][cell[dim]] = cell
            for members in groups.values():
                parent = members.get(rel["parent"])
                if parent is None:
                    continue
                children = rel.get("children") or subgroups.get(
                    (parent["ref_area"], parent["sse_entity"]), []
                )
                alt = rel.get("if_absent")
                if alt and alt["code"] not in members:
                    children = alt["children"]
                present = [members[c] for c in children if c in members]
                if present:
                    yield entry["name"], [parent, *present]
    doc = yaml.safe_load((HARMONISED / "identities.yaml").read_text(encoding="utf-8"))
    by_key = {tuple(c[k] for k in KEY_COLUMNS): c for c in cells}
    position = KEY_COLUMNS.index("measure")
    for identity in doc["identities"]:
        for key, cell in by_key.items():
            if cell["measure"] != identity["lhs"]:
                continue
            terms = [
                by_key.get((*key[:position], m, *key[position + 1 :]))
                for m in identity["rhs"]
            ]
            present = [t for t in terms if t is not None]
            if present:
                yield identity["name"], [cell, *present]


def exposed(tables: Mapping[str, pd.DataFrame]) -> list[tuple[str, dict[str, Any]]]:
    """Relations with exactly one suppressed cell: (relation, that cell)."""
    union: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
    for frame in tables.values():
        for cell in frame.astype(object).where(frame.notna(), None).to_dict("records"):
            if cell["obs_value"] is None:
                cell["obs_value"] = math.nan
            key = (cell["ref_area"], tuple(cell[k] for k in KEY_COLUMNS))
            union.setdefault(key, cell)
    out = []
    for country in sorted({k[0] for k in union}):
        cells = [c for (ra, _), c in union.items() if ra == country]
        for name, members in _relations(cells):
            hidden = [c for c in members if _suppressed(c)]
            if len(hidden) == 1:
                out.append((name, hidden[0]))
    return out


@pytest.fixture(scope="module")
def one_primary(observations: pd.DataFrame) -> pd.DataFrame:
    """PRT only, with the community subsector's 2020 D1 published (38.0).

    The mutual societies' `x` is then the only suppressed term of the SSE total:
    4197.4 − 446.1 − 3133.1 − 431.2 − 38.0 would give it away.
    """
    frame = observations[observations.ref_area == "PRT"].copy()
    row = (
        (frame.time_period == "2020")
        & (frame.measure == "D1")
        & (frame.sse_entity_nat == "PRT_COMMUNITY_SELFMAN")
    )
    frame.loc[
        row,
        ["obs_value", "obs_value_text", "obs_status", "obs_status_nat", "conf_status"],
    ] = [38.0, "38.0", "A", None, "F"]
    return frame


def test_protect_tables__fixtures__no_suppressed_cell_recoverable(
    tables: Mapping[str, pd.DataFrame],
) -> None:
    """On the six fixtures, every relation hides 0 or at least 2 cells."""
    assert exposed(tables) == []


def test_protect_tables__single_primary__checker_sees_exposure_before(
    one_primary: pd.DataFrame, shells: Mapping[str, TableShell]
) -> None:
    """Without secondary suppression the mutuals' D1 is exposed (the checker works)."""
    built, _ = build_tables(one_primary, shells)
    names = {name for name, _ in exposed(built)}
    assert "hierarchy_sse_entity" in names


def test_protect_tables__single_primary__smallest_sibling_suppressed_everywhere(
    one_primary: pd.DataFrame, shells: Mapping[str, TableShell], cells: Pick
) -> None:
    """The smallest published sibling (OTHER, 38.0) goes, in every table; never _T."""
    built, _ = build_tables(one_primary, shells)
    protected = protect_tables(built, shells)
    assert exposed(protected) == []
    for name, frame in protected.items():
        for entity, nat in [("OTHER", "_T"), ("OTHER", "PRT_COMMUNITY_SELFMAN")]:
            for _, cell in cells(
                frame,
                time_period="2020",
                measure="D1",
                sse_entity=entity,
                sse_entity_nat=nat,
            ).iterrows():
                assert math.isnan(cell.obs_value), (name, entity, nat)
                assert (cell.obs_status, cell.conf_status) == ("Q", "S")
                assert "Secondary suppression" in cell.note
        for _, total in cells(
            frame, time_period="2020", measure="D1", sse_entity="_T"
        ).iterrows():
            assert total.obs_value == 4197.4
        mutual = cells(frame, time_period="2020", measure="D1", sse_entity="MUTUAL")
        assert all(mutual.conf_status == "C")  # primary flags never change


def test_protect_tables__single_primary__ratios_of_secondary_cells_suppressed(
    one_primary: pd.DataFrame, shells: Mapping[str, TableShell], cells: Pick
) -> None:
    """D1 per FTE of the secondarily suppressed cells would reveal them: suppressed."""
    built, _ = build_tables(one_primary, shells)
    t1 = protect_tables(built, shells)["t01_key_aggregates_by_entity"]
    for nat in ("_T", "PRT_COMMUNITY_SELFMAN"):
        ratio = cells(
            t1,
            time_period="2020",
            measure="D1_PER_FTE",
            sse_entity="OTHER",
            sse_entity_nat=nat,
        ).iloc[0]
        assert math.isnan(ratio.obs_value) and ratio.conf_status == "S"
        assert ratio.obs_value_published != ratio.obs_value_published  # NaN


def test_protect_tables__identity__second_term_suppressed(
    shells: Mapping[str, TableShell],
    make_frame: Callable[[list[dict[str, object]]], pd.DataFrame],
) -> None:
    """B1G = P1 − P2 with P2 confidential: P1 or B1G must go as well."""
    frame = make_frame(
        [
            {"measure": "P1", "value": "100"},
            {"measure": "P2", "value": None, "obs_status": "Q", "conf_status": "C"},
            {"measure": "B1G", "value": "60"},
        ]
    )
    built, _ = build_tables(
        frame, {"t03_production_account": shells["t03_production_account"]}
    )
    assert exposed(built)
    protected = protect_tables(built, shells)
    assert exposed(protected) == []


def test_derived_status__precedence__break_beats_provisional() -> None:
    """Flags follow values by the §6.4 precedence (B before P before A)."""
    order = ["Q", "M", "L", "O", "K", "B", "D", "U", "E", "P", "F", "N", "A"]
    assert derived_status(["A", "P", "B"], order) == "B"
    assert derived_status([None, "A"], order) == "A"
