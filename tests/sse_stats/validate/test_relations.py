"""Level 1 across rows: identities, hierarchies, plausibility (schema.md §8.4-§8.7, "
"§10)."""

from __future__ import annotations

import csv
import itertools
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sse_stats.errors import SchemaFileError
from sse_stats.validate import relations
from sse_stats.validate.catalogue import RuleCatalogue
from sse_stats.validate.relation_schemas import load_relation_schemas
from sse_stats.validate.relations import (
    RelationsResult,
    check_relations,
    region_level,
    relation_rules,
)

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"

BASE: dict[str, Any] = {
    "ref_area": "PRT",
    "region": "_T",
    "time_period": "2020",
    "freq": "A",
    "sse_entity": "COOP",
    "sse_entity_nat": "_T",
    "coop_type": "_T",
    "coop_level": "_T",
    "activity": "_T",
    "inst_sector": "_T",
    "member_type": "_Z",
    "obs_status": "A",
    "obs_status_nat": None,
    "conf_status": "F",
    "coverage": None,
    "unit_state": None,
    "share_base": None,
    "valuation_method": None,
    "comment_obs": None,
    "source_id": "SRC",
    "edition": "2024-01-01",
    "source_file": "t.csv",
    "source_sha256": "0",
    "mapping_file": None,
    "source_column": "OBS_VALUE",
}
UNITS = {
    "N_UNITS": "NUM",
    "N_MEMBERS": "PS",
    "N_MEMBERSHIPS": "NUM",
    "EMP_PS": "PS",
    "EMP_JOBS": "JOBS",
    "EMP_FTE": "FTE",
    "HOURS": "H",
    "VOL_PS": "PS",
    "VOL_HOURS": "H",
    "VOL_FTE": "FTE",
    "SHARE_NAT": "PC",
}
SUBGROUPS = """id,label_en,label_fr,label_es,parent,description,ref_area,exhaustive
_T,Total,Total,Total,,,,
_Z,Not applicable,Sans objet,No aplicable,,,,
PRT_A,A,A,A,ASSOC,,PRT,Y
PRT_B,B,B,B,ASSOC,,PRT,Y
PRT_C,C,C,C,COOP,,PRT,N
PRT_D,D,D,D,COOP,,PRT,N
"""


def obs(measure: str, value: str | None, **kw: Any) -> dict[str, Any]:
    """One observation with the defaults of its measure (unit, SEX, WORK_CAT)."""
    unit = UNITS.get(measure, "XDC")
    employment = measure.startswith("EMP_") or measure == "HOURS"
    volunteer = measure.startswith("VOL_")
    row: dict[str, Any] = {
        "measure": measure,
        "value": value,
        "unit_measure": unit,
        "unit_mult": 6 if unit == "XDC" else 0,
        "currency": "EUR" if unit == "XDC" else None,
        "sex": "_T"
        if employment or volunteer or measure in ("N_MEMBERS", "N_MEMBERSHIPS")
        else "_Z",
        "work_cat": "EMP" if employment else ("VOLUNTEER_ORG" if volunteer else "_Z"),
        "member_type": "PERSON" if measure in ("N_MEMBERS", "N_MEMBERSHIPS") else "_Z",
        "unit_state": "ACTIVE" if measure == "N_UNITS" else None,
    }
    row.update(kw)
    return row


def suppressed(measure: str, **kw: Any) -> dict[str, Any]:
    return obs(measure, None, obs_status="Q", conf_status="C", **kw)


def impossible(measure: str, **kw: Any) -> dict[str, Any]:
    return obs(measure, None, obs_status="M", **kw)


def national(measure: str, value: str | None, **kw: Any) -> dict[str, Any]:
    return obs(
        measure,
        value,
        sse_entity="NATECON",
        sse_entity_nat="_Z",
        coop_type="_Z",
        coop_level="_Z",
        **kw,
    )


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    """A harmonised frame (docs/architecture.md) from a few rows; line = position + "
    "2."""
    records = []
    for line, row in enumerate(rows, start=2):
        record = {**BASE, "source_row": line, **row}
        text = record.pop("value")
        record["obs_value_text"] = text
        record["obs_value"] = float(text) if text else np.nan
        records.append(record)
    out = pd.DataFrame.from_records(records)
    out["unit_mult"] = out["unit_mult"].astype("Int64")
    numeric = ("obs_value", "unit_mult", "source_row")
    return out.astype({c: "str" for c in out.columns if c not in numeric})


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's identities and hierarchies, with test subgroups registered."""
    return make_schemas(tmp_path_factory.mktemp("schemas"))


def make_schemas(
    root: Path,
    *,
    hierarchies: dict[str, Any] | None = None,
    identities: dict[str, Any] | None = None,
) -> Path:
    harmonised = root / "harmonised"
    (harmonised / "codelists").mkdir(parents=True, exist_ok=True)
    for name, replace in (
        ("hierarchies.yaml", hierarchies),
        ("identities.yaml", identities),
    ):
        source = SCHEMAS / "harmonised" / name
        if replace is None:
            shutil.copy(source, harmonised / name)
        else:
            (harmonised / name).write_text(yaml.safe_dump(replace), encoding="utf-8")
    (harmonised / "codelists" / "sse_entity_nat.csv").write_text(
        SUBGROUPS, encoding="utf-8"
    )
    return root


def run(
    schemas: Path, catalogue: RuleCatalogue, *rows: dict[str, Any], **kw: Any
) -> RelationsResult:
    return check_relations(
        frame(*rows), catalogue=catalogue, schemas_dir=schemas, file="t.csv", **kw
    )


def found(result: RelationsResult) -> list[tuple[str, int | None, str | None]]:
    return [(f.rule, f.row, f.column) for f in result.findings]


def only(result: RelationsResult, rule: str) -> str:
    """The message of the single finding, which must be of ``rule``."""
    assert [f.rule for f in result.findings] == [rule], found(result)
    return result.findings[0].message


# ---- identities (§8.5) and tolerance (§8.4) ------------------------------------------


def test_identity_b1g__rounded_terms__passes(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """PRT cooperatives 2019: 3618.4 − 2897.5 = 720.9 exactly."""
    result = run(
        schemas,
        catalogue,
        obs("P1", "3618.4"),
        obs("P2", "2897.5"),
        obs("B1G", "720.9"),
    )
    assert result.findings == []
    assert result.outcomes["identity_b1g"] == (1, 0, 0)


def test_identity_b1g__off_by_two__finding_on_lhs_with_rows_and_tolerance(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas, catalogue, obs("B1G", "500.3"), obs("P1", "1000.3"), obs("P2", "502.0")
    )
    message = only(result, "identity_b1g")
    assert found(result) == [("identity_b1g", 2, "OBS_VALUE")]
    assert result.findings[0].value == "500.3"
    assert result.findings[0].severity == "error"
    assert (
        "B1G 500.3 ≠ P1 − P2 = 498.3 (rows 3, 4; difference 2.0, tolerance 0.15)"
        in message
    )
    assert result.outcomes["identity_b1g"] == (0, 1, 0)


@pytest.mark.parametrize(
    ("b1g", "fails"), [("721.0", 0), ("720.8", 0), ("721.1", 1), ("720.7", 1)]
)
def test_identity_b1g__one_decimal_terms__0_1_passes_0_2_fails(
    b1g: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """Three terms with one decimal: tolerance 0.5 × 3 × 0.1 = 0.15."""
    result = run(
        schemas, catalogue, obs("P1", "3618.4"), obs("P2", "2897.5"), obs("B1G", b1g)
    )
    assert result.outcomes["identity_b1g"] == (1 - fails, fails, 0)


@pytest.mark.parametrize(("d1", "fails"), [("0.4", 0), ("0.5", 1)])
def test_identity_d1__difference_equal_to_tolerance__passes_exactly(
    d1: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """0.4 − 0.3 is 0.10000000000000003 in floats; exactly 0.1 = the tolerance."""
    result = run(
        schemas, catalogue, obs("D1", d1), obs("D11", "0.3"), impossible("D12")
    )
    assert result.outcomes["identity_d1"] == (1 - fails, fails, 0)


IDENTITY_CASES = {
    "identity_p1": ([("P11", "60"), ("P12", "10"), ("P13", "30")], "P1", "100", "110"),
    "identity_d1": ([("D11", "40"), ("D12", "10")], "D1", "50", "53"),
    "identity_b1n": ([("B1G", "40"), ("P51C", "10")], "B1N", "30", "25"),
    "identity_b2g_b3g": (
        [("B1G", "40"), ("D1", "20"), ("D29", "7"), ("D39", "2")],
        "B2G_B3G",
        "15",
        "20",
    ),
}


@pytest.mark.parametrize("rule", sorted(IDENTITY_CASES))
@pytest.mark.parametrize("holds", [True, False])
def test_identities__each__passes_and_fails(
    rule: str, holds: bool, schemas: Path, catalogue: RuleCatalogue
) -> None:
    terms, lhs, good, bad = IDENTITY_CASES[rule]
    rows = [obs(lhs, good if holds else bad), *(obs(m, v) for m, v in terms)]
    result = run(schemas, catalogue, *rows)
    assert result.outcomes[rule] == ((1, 0, 0) if holds else (0, 1, 0))
    assert found(result) == ([] if holds else [(rule, 2, "OBS_VALUE")])


def test_identity__term_absent__not_applicable_and_counted(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, obs("B1G", "999"), obs("P1", "100"))
    assert result.findings == []
    assert result.outcomes["identity_b1g"] == (0, 0, 1)


def test_identity__term_flagged_m__counts_zero(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("P1", "100"),
        obs("P11", "70"),
        impossible("P12"),
        obs("P13", "30"),
    )
    assert result.outcomes["identity_p1"] == (1, 0, 0)


def test_identity__suppressed_term__not_applicable_and_derivable_warning(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """P2 is the only empty term of B1G = P1 − P2: not applicable, but derivable."""
    result = run(
        schemas, catalogue, obs("B1G", "1"), obs("P1", "100"), suppressed("P2")
    )
    assert result.outcomes["identity_b1g"] == (0, 0, 1)
    assert found(result) == [("suppressed_cell_derivable", 4, "OBS_VALUE")]
    assert result.findings[0].severity == "warning"
    assert "identity_b1g" in result.findings[0].message


def test_suppressed_cell_derivable__another_term_missing__passes(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("B2G_B3G", "1"),
        obs("B1G", "100"),
        suppressed("D1"),
        obs("D29", "3"),
    )
    assert result.findings == []
    assert result.outcomes["suppressed_cell_derivable"] == (1, 0, 0)


def test_identity__other_currency__units_differ_and_not_applicable(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("B1G", "50"),
        obs("P1", "100"),
        obs("P2", "50", currency="USD"),
    )
    assert found(result) == [("units_differ", 2, "OBS_VALUE")]
    assert result.findings[0].severity == "warning"
    assert "EUR" in result.findings[0].message and "USD" in result.findings[0].message
    assert result.outcomes["identity_b1g"] == (0, 0, 1)


def test_identity__units_agree__units_differ_passes(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("B1G", "50"),
        obs("P1", "100"),
        obs("P2", "50"),
        obs("D1", "10", unit_measure="EUR", currency=None),
    )
    assert result.outcomes["units_differ"][:2] == (1, 0)


def test_identity__multipliers_differ__compared_in_base_units(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """P1 3618400 thousand = 3618.4 million."""
    good = run(
        schemas,
        catalogue,
        obs("P1", "3618400", unit_mult=3),
        obs("P2", "2897.5"),
        obs("B1G", "720.9"),
    )
    assert good.findings == []
    bad = run(
        schemas,
        catalogue,
        obs("B1G", "720.9"),
        obs("P1", "3628400", unit_mult=3),
        obs("P2", "2897.5"),
    )
    message = only(bad, "identity_b1g")
    assert "P1 − P2 = 730.9" in message and "UNIT_MULT 6" in message


def test_identity__known_exception__not_applicable(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    doc = yaml.safe_load(
        (SCHEMAS / "harmonised" / "identities.yaml").read_text("utf-8")
    )
    doc["identities"][0]["known_exceptions"] = [
        {"when": {"ref_area": ["PRT"]}, "reason": "test"}
    ]
    schemas = make_schemas(tmp_path, identities=doc)
    result = run(schemas, catalogue, obs("B1G", "1"), obs("P1", "100"), obs("P2", "50"))
    assert result.findings == []
    assert result.outcomes["identity_b1g"] == (0, 0, 1)


def test_identity__wide_layout__finding_on_lhs_cell(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """PRT: VAB, Produção and Consumo intermédio share line 12; the finding names "
    "VAB."""
    result = run(
        schemas,
        catalogue,
        obs("B1G", "157612.5", source_row=12, source_column="VAB"),
        obs("P1", "372415.2", source_row=12, source_column="Produção"),
        obs("P2", "196802.7", source_row=12, source_column="Consumo intermédio"),
    )
    assert found(result) == [("identity_b1g", 12, "VAB")]
    assert "(row 12;" in result.findings[0].message


# ---- hierarchies (§8.6) --------------------------------------------------------------


def sexes(
    total: str | None, f: str | None, m: str | None, **kw: Any
) -> list[dict[str, Any]]:
    rows = [
        obs("N_MEMBERS", total, sex="_T", **kw),
        obs("N_MEMBERS", f, sex="F", **kw),
        obs("N_MEMBERS", m, sex="M", **kw),
    ]
    return [r for r in rows if r["value"] is not None]


def test_hierarchy_sex__distinct_count__equality_holds(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """O is 0 when absent; distinct counts add up across SEX."""
    result = run(schemas, catalogue, *sexes("30", "10", "20"))
    assert result.findings == []
    assert result.outcomes["hierarchy_sex"] == (1, 0, 0)


def test_hierarchy_sex__total_off__finding_on_total_row(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *sexes("35", "10", "20"))
    message = only(result, "hierarchy_sex")
    assert found(result) == [("hierarchy_sex", 2, "OBS_VALUE")]
    assert (
        "N_MEMBERS, SEX _T 35 ≠ F + M = 30 (rows 3, 4; difference 5, tolerance 1.5)"
        in message
    )


def test_hierarchy_sex__other_present_but_empty__not_applicable(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        *sexes("35", "10", "20"),
        obs("N_MEMBERS", None, sex="O", obs_status="O"),
    )
    assert result.outcomes["hierarchy_sex"] == (0, 0, 1)
    assert found(result) == []


def test_hierarchy__suppressed_child__not_applicable_and_derivable(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("EMP_FTE", "30", sex="_T"),
        obs("EMP_FTE", "10", sex="F"),
        suppressed("EMP_FTE", sex="M"),
    )
    assert result.outcomes["hierarchy_sex"] == (0, 0, 1)
    assert found(result) == [("suppressed_cell_derivable", 4, "OBS_VALUE")]


def test_hierarchy__suppressed_parent__derivable(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        suppressed("EMP_FTE", sex="_T"),
        obs("EMP_FTE", "10", sex="F"),
        obs("EMP_FTE", "20", sex="M"),
    )
    assert found(result) == [("suppressed_cell_derivable", 2, "OBS_VALUE")]


def sectors(total: str, **children: str | None) -> list[dict[str, Any]]:
    rows = [obs("P1", total, inst_sector="_T")]
    for code, value in children.items():
        rows.append(
            obs("P1", value, inst_sector=code)
            if value is not None
            else impossible("P1", inst_sector=code)
        )
    return rows


@pytest.mark.parametrize(("total", "fails"), [("100", 0), ("110", 1)])
def test_hierarchy_inst_sector__children_flagged_m__count_zero(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        *sectors(total, S11="60", S12="40", S13=None, S14=None, S15=None),
    )
    assert result.outcomes["hierarchy_inst_sector"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_inst_sector", 2, "OBS_VALUE")] * fails
    if fails:
        assert "S13 (M)" in result.findings[0].message


def test_hierarchy_inst_sector__child_absent__not_applicable_parts_checked(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *sectors("100", S11="60", S12="40"))
    assert result.findings == []
    assert result.outcomes["hierarchy_inst_sector"] == (0, 0, 1)
    assert result.outcomes["parts_not_above_total"] == (1, 0, 0)


def test_parts_not_above_total__children_exceed_total__finding_on_total(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *sectors("90", S11="60", S12="40"))
    message = only(result, "parts_not_above_total")
    assert found(result) == [("parts_not_above_total", 2, "OBS_VALUE")]
    assert "INST_SECTOR _T 90 < S11 + S12 = 100 (the children present)" in message
    assert "difference -10, tolerance 1.5" in message


def test_parts_not_above_total__negative_measure__not_checked(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    rows = [{**r, "measure": "B1G"} for r in sectors("90", S11="60", S12="40")]
    result = run(schemas, catalogue, *rows)
    assert result.findings == []
    assert result.outcomes["parts_not_above_total"] == (0, 0, 0)


GROUPS = ("COOP", "MUTUAL", "ASSOC", "FOUND", "SOCENT", "SHG", "OTHER")


@pytest.mark.parametrize(("total", "fails"), [("70", 0), ("80", 1)])
def test_hierarchy_sse_entity__seven_groups__sum_to_sse_total(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """The SSE total carries _Z where a whole group carries _T (§4.12)."""
    rows = [
        obs(
            "N_UNITS",
            total,
            sse_entity="_T",
            sse_entity_nat="_Z",
            coop_type="_Z",
            coop_level="_Z",
        )
    ]
    rows += [
        obs(
            "N_UNITS",
            "10",
            sse_entity=g,
            coop_type="_T" if g == "COOP" else "_Z",
            coop_level="_T" if g == "COOP" else "_Z",
        )
        for g in GROUPS
    ]
    result = run(schemas, catalogue, *rows)
    assert result.outcomes["hierarchy_sse_entity"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_sse_entity", 2, "OBS_VALUE")] * fails


def regions(total: str, **children: str) -> list[dict[str, Any]]:
    return [
        obs("N_UNITS", total, region="_T"),
        *(obs("N_UNITS", v, region=k) for k, v in children.items()),
    ]


def test_hierarchy_region__v1__never_complete_only_parts(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *regions("100", PT11="60", PT15="30"))
    assert result.findings == []
    assert result.outcomes["hierarchy_region"] == (0, 0, 1)
    assert result.outcomes["parts_not_above_total"] == (1, 0, 0)
    over = run(schemas, catalogue, *regions("100", PT11="80", PT15="30"))
    assert found(over) == [("parts_not_above_total", 2, "OBS_VALUE")]


def test_hierarchy_region__two_nuts_levels__never_summed_together(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *regions("100", PT1="100", PT11="60", PT15="40"))
    assert result.findings == []
    assert result.outcomes["parts_not_above_total"] == (2, 0, 0)


@pytest.mark.parametrize(("total", "fails"), [("90", 0), ("99", 1)])
def test_hierarchy_region__complete_set_known__equality(
    total: str, fails: int, tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    doc = yaml.safe_load(
        (SCHEMAS / "harmonised" / "hierarchies.yaml").read_text("utf-8")
    )
    region = next(h for h in doc["hierarchies"] if h["name"] == "hierarchy_region")
    region["complete_regions"] = {"PRT": ["PT11", "PT15"]}
    schemas = make_schemas(tmp_path, hierarchies=doc)
    result = run(schemas, catalogue, *regions(total, PT11="60", PT15="30"))
    assert result.outcomes["hierarchy_region"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_region", 2, "OBS_VALUE")] * fails


def test_region_level__iso_and_nuts() -> None:
    assert [
        region_level(c)
        for c in ("_T", "KE-30", "FR-ARA", "FR-01", "PT1", "PT11", "PT111")
    ] == [0, 1, 1, 2, 1, 2, 3]


@pytest.mark.parametrize(("total", "fails"), [("100", 0), ("90", 1)])
def test_hierarchy_sse_entity_nat__exhaustive_subgroups__sum_to_group(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("N_UNITS", total, sse_entity="ASSOC", coop_type="_Z", coop_level="_Z"),
        obs(
            "N_UNITS",
            "60",
            sse_entity="ASSOC",
            sse_entity_nat="PRT_A",
            coop_type="_Z",
            coop_level="_Z",
        ),
        obs(
            "N_UNITS",
            "40",
            sse_entity="ASSOC",
            sse_entity_nat="PRT_B",
            coop_type="_Z",
            coop_level="_Z",
        ),
    )
    assert result.outcomes["hierarchy_sse_entity_nat"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_sse_entity_nat", 2, "OBS_VALUE")] * fails


@pytest.mark.parametrize(("c", "rule"), [("60", None), ("80", "parts_not_above_total")])
def test_hierarchy_sse_entity_nat__not_exhaustive__only_parts(
    c: str, rule: str | None, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("N_UNITS", "100"),
        obs("N_UNITS", c, sse_entity_nat="PRT_C"),
        obs("N_UNITS", "30", sse_entity_nat="PRT_D"),
    )
    assert result.outcomes["hierarchy_sse_entity_nat"] == (0, 0, 1)
    assert found(result) == ([(rule, 2, "OBS_VALUE")] if rule else [])


@pytest.mark.parametrize(("total", "fails"), [("90", 0), ("95", 1)])
def test_hierarchy_coop_type__unknown_absent__counts_zero(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    types = {
        "PRODUCER": "40",
        "WORKER": "10",
        "CONSUMER_USER": "30",
        "MULTI_STAKEHOLDER": "10",
    }
    result = run(
        schemas,
        catalogue,
        obs("N_UNITS", total),
        *(obs("N_UNITS", v, coop_type=k) for k, v in types.items()),
    )
    assert result.outcomes["hierarchy_coop_type"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_coop_type", 2, "OBS_VALUE")] * fails


@pytest.mark.parametrize(("total", "fails"), [("60", 0), ("70", 1)])
def test_hierarchy_coop_level__three_levels(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    levels = {"PRIMARY": "50", "SECONDARY": "8", "TERTIARY": "2"}
    result = run(
        schemas,
        catalogue,
        obs("N_UNITS", total),
        *(obs("N_UNITS", v, coop_level=k) for k, v in levels.items()),
    )
    assert result.outcomes["hierarchy_coop_level"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_coop_level", 2, "OBS_VALUE")] * fails


@pytest.mark.parametrize(("total", "fails"), [("210", 0), ("230", 1)])
def test_hierarchy_activity__all_sections(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    sections = "ABCDEFGHIJKLMNOPQRSTU"
    result = run(
        schemas,
        catalogue,
        obs("EMP_JOBS", total),
        *(obs("EMP_JOBS", "10", activity=s) for s in sections),
    )
    assert result.outcomes["hierarchy_activity"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_activity", 2, "OBS_VALUE")] * fails


def work(entity: str, **cats: str) -> list[dict[str, Any]]:
    coop = entity == "COOP"
    return [
        obs(
            "EMP_JOBS",
            v,
            work_cat=k,
            sse_entity=entity,
            coop_type="_T" if coop else "_Z",
            coop_level="_T" if coop else "_Z",
        )
        for k, v in cats.items()
    ]


@pytest.mark.parametrize(("emp", "fails"), [("50", 0), ("60", 1)])
def test_hierarchy_work_cat__emp_is_members_plus_nonmembers(
    emp: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas, catalogue, *work("ASSOC", EMP=emp, EMP_MEMBER="20", EMP_NONMEMBER="30")
    )
    assert result.outcomes["hierarchy_work_cat"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_work_cat", 2, "OBS_VALUE")] * fails


@pytest.mark.parametrize(("total", "fails"), [("65", 0), ("70", 1)])
def test_hierarchy_work_cat__total_is_emp_plus_worker_members(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas, catalogue, *work("COOP", _T=total, EMP="50", WORKER_MEMBER="15")
    )
    assert result.outcomes["hierarchy_work_cat"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_work_cat", 2, "OBS_VALUE")] * fails


@pytest.mark.parametrize(("total", "fails"), [("65", 0), ("75", 1)])
def test_hierarchy_work_cat__no_emp_row__members_nonmembers_workers(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        *work(
            "COOP", _T=total, EMP_MEMBER="20", EMP_NONMEMBER="30", WORKER_MEMBER="15"
        ),
    )
    assert result.outcomes["hierarchy_work_cat"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_work_cat", 2, "OBS_VALUE")] * fails


@pytest.mark.parametrize(
    ("entity", "outcome"),
    [("ASSOC", (0, 1, 0)), ("COOP", (0, 0, 1)), ("_T", (0, 0, 1))],
)
def test_hierarchy_work_cat__worker_members_absent__zero_only_outside_coops(
    entity: str, outcome: tuple[int, int, int], schemas: Path, catalogue: RuleCatalogue
) -> None:
    """Outside cooperatives _T = EMP; for COOP and the SSE total worker-members are "
    "unknown."""
    rows = work(entity, _T="60", EMP="50")
    if entity == "_T":
        rows = [{**r, "sse_entity_nat": "_Z"} for r in rows]
    result = run(schemas, catalogue, *rows)
    assert result.outcomes["hierarchy_work_cat"] == outcome
    assert result.outcomes["parts_not_above_total"] == (1 - outcome[1], 0, 0)


@pytest.mark.parametrize(("total", "fails"), [("36", 0), ("40", 1)])
def test_hierarchy_member_type__persons_sex_total_and_other_units(
    total: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """All members (SEX _Z, NUM) = persons (SEX _T, PS) + legal entities + "
    "cooperatives."""
    result = run(
        schemas,
        catalogue,
        obs("N_MEMBERS", total, member_type="_T", sex="_Z", unit_measure="NUM"),
        obs("N_MEMBERS", "30", member_type="PERSON", sex="_T"),
        obs("N_MEMBERS", "5", member_type="LEGAL_ENTITY", sex="_Z", unit_measure="NUM"),
        obs("N_MEMBERS", "1", member_type="COOP", sex="_Z", unit_measure="NUM"),
    )
    assert result.outcomes["hierarchy_member_type"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_member_type", 2, "OBS_VALUE")] * fails


def unit_states(**states: str) -> list[dict[str, Any]]:
    return [obs("N_UNITS", v, unit_state=k) for k, v in states.items()]


@pytest.mark.parametrize(("registered", "fails"), [("50", 0), ("60", 1)])
def test_hierarchy_unit_state__registered_is_active_plus_inactive(
    registered: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        *unit_states(REGISTERED=registered, ACTIVE="40", INACTIVE="10"),
    )
    assert result.outcomes["hierarchy_unit_state"] == (1 - fails, fails, 0)
    assert found(result) == [("hierarchy_unit_state", 2, "OBS_VALUE")] * fails


def test_hierarchy_unit_state__no_inactive__only_the_warning(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """KEN: active 14 > registered 9 is a plausibility warning, not a parts error."""
    result = run(schemas, catalogue, *unit_states(ACTIVE="14", REGISTERED="9"))
    assert found(result) == [("active_not_above_registered", 2, "OBS_VALUE")]
    assert result.outcomes["hierarchy_unit_state"] == (0, 0, 1)
    message = result.findings[0].message
    assert "ACTIVE 14 > REGISTERED 9 (row 3; difference 5, tolerance 1)" in message


def test_active_not_above_registered__fewer_active__passes(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *unit_states(ACTIVE="9", REGISTERED="14"))
    assert result.findings == []
    assert result.outcomes["active_not_above_registered"] == (1, 0, 0)


def persons(total: str, **children: str) -> list[dict[str, Any]]:
    return [
        obs("EMP_PS", total, inst_sector="_T"),
        *(obs("EMP_PS", v, inst_sector=k) for k, v in children.items()),
    ]


ALL_SECTORS = {"S11": "10", "S12": "10", "S13": "5", "S14": "5", "S15": "5"}


@pytest.mark.parametrize(
    ("total", "detail"),
    [
        ("30", None),
        ("8", "is at least its largest part"),
        ("40", "is at most the sum of its parts"),
    ],
)
def test_distinct_count_bounds__persons_across_sectors(
    total: str, detail: str | None, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """A person may work in two sectors: max(child) ≤ total ≤ Σ children."""
    result = run(schemas, catalogue, *persons(total, **ALL_SECTORS))
    assert result.outcomes["hierarchy_inst_sector"] == (0, 0, 0)
    if detail is None:
        assert result.findings == []
        assert result.outcomes["distinct_count_bounds"] == (1, 0, 0)
    else:
        assert detail in only(result, "distinct_count_bounds")
        assert found(result)[0][1] == 2


def test_distinct_count_bounds__child_missing__lower_bound_only(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *persons("100", S11="10", S12="10"))
    assert result.findings == []
    assert result.outcomes["distinct_count_bounds"] == (1, 0, 0)
    assert found(run(schemas, catalogue, *persons("5", S11="10"))) == [
        ("distinct_count_bounds", 2, "OBS_VALUE")
    ]


# ---- SSE not above the national economy (§8.3) ---------------------------------------


@pytest.mark.parametrize(("nat", "fails"), [("600000", 0), ("400000", 1)])
def test_sse_not_above_national__compared_in_base_units(
    nat: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """COOP P1 500.3 million against NATECON in thousands."""
    result = run(
        schemas, catalogue, obs("P1", "500.3"), national("P1", nat, unit_mult=3)
    )
    assert result.outcomes["sse_not_above_national"] == (1 - fails, fails, 0)
    assert found(result) == [("sse_not_above_national", 2, "OBS_VALUE")] * fails
    if fails:
        assert (
            "above the national economy's 400.0 (NATECON, row 3"
            in result.findings[0].message
        )


def test_sse_not_above_national__natecon_flagged_m__not_applicable(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """PRT: NATECON N_UNITS is M (//); the SSE count is not compared with 0."""
    result = run(
        schemas,
        catalogue,
        obs("N_UNITS", "2248"),
        national("N_UNITS", None, obs_status="M"),
    )
    assert result.findings == []
    assert result.outcomes["sse_not_above_national"] == (0, 0, 1)


# ---- plausibility (§8.7) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fte", "partner", "fails"),
    [
        ("110", "EMP_PS", 0),
        ("111", "EMP_PS", 1),
        ("111", "EMP_JOBS", 1),
        ("100", "EMP_JOBS", 0),
    ],
)
def test_fte_not_above_persons__employment(
    fte: str, partner: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, obs("EMP_FTE", fte), obs(partner, "100"))
    assert result.outcomes["fte_not_above_persons"] == (1 - fails, fails, 0)
    assert found(result) == [("fte_not_above_persons", 2, "OBS_VALUE")] * fails


def test_fte_not_above_persons__persons_preferred_to_jobs(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("EMP_FTE", "150"),
        obs("EMP_JOBS", "200"),
        obs("EMP_PS", "100"),
    )
    assert "EMP_PS 100" in only(result, "fte_not_above_persons")


def test_fte_not_above_persons__volunteers(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, obs("VOL_FTE", "50"), obs("VOL_PS", "20"))
    assert found(result) == [("fte_not_above_persons", 2, "OBS_VALUE")]


@pytest.mark.parametrize(("members", "fails"), [("100", 0), ("130", 1)])
def test_members_not_above_memberships(
    members: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas, catalogue, obs("N_MEMBERS", members), obs("N_MEMBERSHIPS", "120")
    )
    assert result.outcomes["members_not_above_memberships"] == (1 - fails, fails, 0)
    assert found(result) == [("members_not_above_memberships", 2, "OBS_VALUE")] * fails


def compensation(d1: str, fte: str, work_cat: str = "EMP") -> list[dict[str, Any]]:
    return [
        obs("D1", d1),
        obs("EMP_FTE", fte, work_cat=work_cat),
        national("D1", "1000.0"),
        national("EMP_FTE", "40000"),
    ]


@pytest.mark.parametrize(
    ("d1", "work_cat", "fails"),
    [
        ("100.0", "EMP", 0),
        ("10.0", "EMP", 1),
        ("300.0", "_T", 1),
        ("150.0", "_T", 0),
    ],
)
def test_avg_compensation_plausible__against_national_ratio(
    d1: str, work_cat: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """National 25 000 per FTE; 30 %-200 % of it is 7 500-50 000."""
    result = run(schemas, catalogue, *compensation(d1, "4000", work_cat))
    assert result.outcomes["avg_compensation_plausible"] == (1 - fails, fails, 0)
    assert found(result) == [("avg_compensation_plausible", 2, "OBS_VALUE")] * fails


@pytest.mark.parametrize(
    ("b2g", "p13", "outcome"),
    [
        ("10", "80", (1, 0, 0)),
        ("30", "80", (0, 1, 0)),
        ("30", "20", (0, 0, 1)),
    ],
)
def test_nonmarket_surplus_near_cfc(
    b2g: str,
    p13: str,
    outcome: tuple[int, int, int],
    schemas: Path,
    catalogue: RuleCatalogue,
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("B2G_B3G", b2g),
        obs("P1", "100"),
        obs("P13", p13),
        obs("P51C", "9"),
    )
    assert result.outcomes["nonmarket_surplus_near_cfc"] == outcome
    assert (
        found(result) == [("nonmarket_surplus_near_cfc", 2, "OBS_VALUE")] * outcome[1]
    )


@pytest.mark.parametrize(("member_type", "fails"), [("COOP", 0), ("PERSON", 1)])
def test_secondary_coop_members_are_coops(
    member_type: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs(
            "N_MEMBERS",
            "5",
            coop_level="SECONDARY",
            member_type=member_type,
            unit_measure="NUM",
        ),
    )
    assert result.outcomes["secondary_coop_members_are_coops"] == (1 - fails, fails, 0)
    assert (
        found(result) == [("secondary_coop_members_are_coops", 2, "OBS_VALUE")] * fails
    )


@pytest.mark.parametrize(("entity", "fails"), [("COOP", 0), ("_T", 0), ("ASSOC", 1)])
def test_coop_work_category_outside_coops__finding_on_work_cat_column(
    entity: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas,
        catalogue,
        obs("EMP_JOBS", "5", work_cat="WORKER_MEMBER", sse_entity=entity),
        origins={"WORK_CAT": "Categoria"},
    )
    assert result.outcomes["coop_work_category_outside_coops"] == (1 - fails, fails, 0)
    assert (
        found(result) == [("coop_work_category_outside_coops", 2, "Categoria")] * fails
    )
    if fails:
        assert result.findings[0].value == "WORKER_MEMBER"


@pytest.mark.parametrize(("method", "fails"), [("REPLACEMENT_COST", 0), (None, 1)])
def test_volunteer_value_has_method(
    method: str | None, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(
        schemas, catalogue, obs("VOL_VALUE", "130119.1", valuation_method=method)
    )
    assert result.outcomes["volunteer_value_has_method"] == (1 - fails, fails, 0)
    assert (
        found(result) == [("volunteer_value_has_method", 2, "VALUATION_METHOD")] * fails
    )


# ---- disclosure (§10) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "state", "fails"),
    [
        ("3", "ACTIVE", 0),
        ("2", "ACTIVE", 1),
        ("1", "REGISTERED", 1),
        ("2", "INACTIVE", 0),
    ],
)
def test_small_cell_not_flagged__published_magnitude_of_few_units(
    units: str, state: str, fails: int, schemas: Path, catalogue: RuleCatalogue
) -> None:
    """EMP_FTE (SEX _T, WORK_CAT EMP) of a cell whose N_UNITS is 1 or 2."""
    result = run(
        schemas,
        catalogue,
        obs("EMP_FTE", "12.5", activity="A"),
        obs("N_UNITS", units, activity="A", unit_state=state),
    )
    passes = 0 if state == "INACTIVE" else 1 - fails
    assert result.outcomes["small_cell_not_flagged"] == (passes, fails, 0)
    assert found(result) == [("small_cell_not_flagged", 2, "OBS_VALUE")] * fails


def test_small_cell_not_flagged__suppressed_magnitude__passes_silently(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """FRA foundations in section A: two units, every magnitude suppressed."""
    result = run(
        schemas,
        catalogue,
        suppressed("EMP_FTE", sse_entity="FOUND", activity="A"),
        obs("N_UNITS", "2", sse_entity="FOUND", activity="A"),
    )
    assert result.findings == []


# ---- units, exactness and repeated exposure ------------------------------------------


def test_hierarchy__child_in_other_currency__units_differ_on_total(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *sectors("100", S11="60", S12="40"))
    assert result.findings == []
    rows = sectors("100", S11="60", S12="40")
    rows[2]["currency"] = "USD"
    result = run(schemas, catalogue, *rows)
    assert found(result) == [("units_differ", 2, "OBS_VALUE")]
    assert "S12 in USD" in result.findings[0].message
    assert result.outcomes["parts_not_above_total"] == (0, 0, 1)


@pytest.mark.parametrize(
    "rule",
    [
        "sse_not_above_national",
        "avg_compensation_plausible",
        "nonmarket_surplus_near_cfc",
    ],
)
def test_pairs__other_currency__units_differ(
    rule: str, schemas: Path, catalogue: RuleCatalogue
) -> None:
    rows = {
        "sse_not_above_national": [
            obs("P1", "500"),
            national("P1", "400", currency="USD"),
        ],
        "avg_compensation_plausible": [
            *compensation("100.0", "4000")[:3],
            national("EMP_FTE", "40000"),
        ],
        "nonmarket_surplus_near_cfc": [
            obs("B2G_B3G", "10"),
            obs("P1", "100"),
            obs("P13", "80"),
            obs("P51C", "9", currency="USD"),
        ],
    }[rule]
    if rule == "avg_compensation_plausible":
        rows[2] = national("D1", "1000.0", currency="USD")
    result = run(schemas, catalogue, *rows)
    assert set(found(result)) == {("units_differ", 2, "OBS_VALUE")}
    assert any(rule in f.message for f in result.findings)
    assert result.outcomes[rule][:2] == (0, 0)


@pytest.mark.parametrize(
    ("rows", "rule"),
    [
        (
            sectors("0.4", S11="0.3", S12=None, S13=None, S14=None, S15=None),
            "hierarchy_inst_sector",
        ),
        (sectors("0.3", S11="0.4"), "parts_not_above_total"),
        (persons("10", S11="11"), "distinct_count_bounds"),
    ],
)
def test_hierarchy__difference_equal_to_tolerance__passes_exactly(
    rows: list[dict[str, Any]], rule: str, schemas: Path, catalogue: RuleCatalogue
) -> None:
    result = run(schemas, catalogue, *rows)
    assert result.findings == []
    assert result.outcomes[rule][:2] == (1, 0)


def test_suppressed_cell_derivable__two_relations__one_warning(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    """D1 of S11 follows from D11 + D12 and from the sector total: warned once."""
    rows = [
        suppressed("D1", inst_sector="S11"),
        obs("D11", "40", inst_sector="S11"),
        obs("D12", "10", inst_sector="S11"),
        obs("D1", "100", inst_sector="_T"),
    ]
    rows += [obs("D1", "10", inst_sector=s) for s in ("S12", "S13", "S14", "S15")]
    result = run(schemas, catalogue, *rows)
    assert found(result) == [("suppressed_cell_derivable", 2, "OBS_VALUE")]
    assert result.outcomes["suppressed_cell_derivable"] == (0, 2, 0)


def test_cells_key__many_distinct_columns__no_overflow(schemas: Path) -> None:
    """Twenty rows differing in every key column: 20^17 combinations > 2^63."""
    loaded = load_relation_schemas(schemas)
    rows = [
        obs("P1", "1", **{c: f"x{i}" for c in relations.FIXED if c != "measure"})
        for i in range(20)
    ]
    cells = relations._Cells(frame(*rows, *rows[:3]), loaded)
    key = cells.key(relations.FIXED)
    assert len(set(key[:20].tolist())) == 20
    assert key[20:].tolist() == key[:3].tolist()


BAD_IDENTITIES = [
    ({"identities": [{"name": "x", "lhs": "B1G", "rhs": {"P1": 2}}]}, r"rhs"),
    ({"identities": [{"name": "x", "lhs": "B1G"}]}, r"identities\[0\]"),
    ({"tolerance": {"rounding": "a lot"}, "identities": []}, r"tolerance"),
    (
        {
            "identities": [
                {
                    "name": "x",
                    "lhs": "B1G",
                    "rhs": {"P1": 1},
                    "known_exceptions": [{"when": {"nope": ["X"]}, "reason": "r"}],
                }
            ]
        },
        r"known_exceptions",
    ),
]


@pytest.mark.parametrize(("doc", "where"), BAD_IDENTITIES)
def test_load_relation_schemas__bad_identities__refused(
    doc: dict[str, Any], where: str, tmp_path: Path
) -> None:
    with pytest.raises(SchemaFileError, match=where):
        load_relation_schemas(make_schemas(tmp_path, identities=doc))


def _with_hierarchy(change: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        (SCHEMAS / "harmonised" / "hierarchies.yaml").read_text("utf-8")
    )
    doc["hierarchies"][0] = {**doc["hierarchies"][0], **change}
    return doc


@pytest.mark.parametrize(
    "change",
    [
        {"dimension": "measure"},
        {"relations": [{"parent": "_T", "children_from": "elsewhere"}]},
        {"relations": [{"children": ["A"]}]},
        {"zero_if_absent": [{"code": "O", "when": {"sse_entity": {"like": ["COOP"]}}}]},
        {"key_equivalents": {"sse_entity": {"_T": "_Z"}}},
    ],
)
def test_load_relation_schemas__bad_hierarchy__refused(
    change: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(SchemaFileError, match=r"hierarchies\[0\]"):
        load_relation_schemas(
            make_schemas(tmp_path, hierarchies=_with_hierarchy(change))
        )


def test_load_relation_schemas__missing_file__names_it(tmp_path: Path) -> None:
    schemas = make_schemas(tmp_path)
    (schemas / "harmonised" / "codelists" / "sse_entity_nat.csv").unlink()
    with pytest.raises(
        SchemaFileError, match=r"sse_entity_nat\.csv: \(file\): file not found"
    ):
        load_relation_schemas(schemas)


# ---- the run as a whole --------------------------------------------------------------


def test_check_relations__rule_crashes__error_finding_and_others_still_run(
    schemas: Path, catalogue: RuleCatalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(relations._Run, "fte_not_above_persons", boom)
    result = run(schemas, catalogue, obs("B1G", "1"), obs("P1", "100"), obs("P2", "50"))
    assert result.crashed == ["fte_not_above_persons"]
    crash = [f for f in result.findings if f.rule == "fte_not_above_persons"]
    assert len(crash) == 1 and crash[0].severity == "error" and crash[0].row is None
    assert ("identity_b1g", 2, "OBS_VALUE") in found(result)


def test_check_relations__empty_frame__no_finding(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    empty = frame(obs("P1", "1")).iloc[0:0]
    result = check_relations(
        empty, catalogue=catalogue, schemas_dir=schemas, file="t.csv"
    )
    assert result.findings == []
    assert set(result.outcomes) == set(relation_rules(load_relation_schemas(schemas)))


def test_relation_rules__every_rule__defined_in_catalogue(
    catalogue: RuleCatalogue,
) -> None:
    """Also loads the project's own schemas (with the real sse_entity_nat.csv)."""
    names = relation_rules(load_relation_schemas(SCHEMAS))
    assert [n for n in names if n not in catalogue] == []
    assert catalogue["suppressed_cell_derivable"].severity == "warning"


def test_measure_classes__agree_with_measure_codelist() -> None:
    path = SCHEMAS / "harmonised" / "codelists" / "measure.csv"
    if not path.exists():
        pytest.skip("measure.csv not written yet")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    loaded = load_relation_schemas(SCHEMAS)
    assert loaded.additive == {r["id"] for r in rows if r["additivity"] == "additive"}
    assert loaded.distinct == {r["id"] for r in rows if r["additivity"] == "distinct"}
    assert loaded.not_checked == {
        r["id"] for r in rows if r["additivity"] == "not_additive"
    }
    assert loaded.may_be_negative == {
        r["id"] for r in rows if r["may_be_negative"] != "N"
    }


def test_load_relation_schemas__override_without_reason__refused(
    tmp_path: Path,
) -> None:
    doc = yaml.safe_load(
        (SCHEMAS / "harmonised" / "identities.yaml").read_text("utf-8")
    )
    doc["identities"][0]["tolerance"] = {"relative": 0.0005}
    with pytest.raises(SchemaFileError, match=r"identities\[0\]\.tolerance.*reason"):
        load_relation_schemas(make_schemas(tmp_path, identities=doc))


def test_load_relation_schemas__hierarchy_without_dimension__refused(
    tmp_path: Path,
) -> None:
    doc = yaml.safe_load(
        (SCHEMAS / "harmonised" / "hierarchies.yaml").read_text("utf-8")
    )
    del doc["hierarchies"][0]["dimension"]
    with pytest.raises(SchemaFileError, match=r"hierarchies\[0\]"):
        load_relation_schemas(make_schemas(tmp_path, hierarchies=doc))


def _cube() -> pd.DataFrame:
    """About 50 000 consistent observations: every total equals the sum of its parts."""
    rng = np.random.default_rng(7)
    dims = ["sse_entity", "activity", "inst_sector", "region"]
    leaf = pd.DataFrame(
        list(
            itertools.product(
                ["2020", "2021"],
                GROUPS,
                "ABCDEFGHIJKLMNOPQRSTU",
                ["S11", "S12", "S15"],
                ["PT11", "PT15", "PT16", "PT17"],
            )
        ),
        columns=["time_period", *dims],
    )
    leaf["P1"] = rng.integers(1000, 100000, len(leaf))
    leaf["P2"] = (leaf["P1"] * 0.4).astype(int)
    leaf["B1G"] = leaf["P1"] - leaf["P2"]
    leaf["EMP_FTE"] = rng.integers(10, 5000, len(leaf))
    leaf["N_UNITS"] = rng.integers(3, 500, len(leaf))
    measures = ["P1", "P2", "B1G", "EMP_FTE", "N_UNITS"]
    parts = []
    for k in range(len(dims) + 1):
        for totals in itertools.combinations(dims, k):
            part = leaf.assign(**dict.fromkeys(totals, "_T"))
            parts.append(
                part.groupby(["time_period", *dims], as_index=False)[measures].sum()
            )
    long = pd.concat(parts, ignore_index=True).melt(
        id_vars=["time_period", *dims], var_name="measure", value_name="v"
    )
    money = long["measure"].isin(["P1", "P2", "B1G"]).to_numpy()
    entity = long["sse_entity"].to_numpy()
    coop = entity == "COOP"
    out = pd.DataFrame(
        {
            **{k: v for k, v in BASE.items() if k not in dims},
            "time_period": long["time_period"],
            "sse_entity": entity,
            "sse_entity_nat": np.where(entity == "_T", "_Z", "_T"),
            "coop_type": np.where(coop, "_T", "_Z"),
            "coop_level": np.where(coop, "_T", "_Z"),
            "activity": long["activity"],
            "inst_sector": long["inst_sector"],
            "region": long["region"],
            "measure": long["measure"],
            "sex": np.where(long["measure"] == "EMP_FTE", "_T", "_Z"),
            "work_cat": np.where(long["measure"] == "EMP_FTE", "EMP", "_Z"),
            "obs_value_text": [
                f"{v / 10:.1f}" if m else str(v)
                for v, m in zip(long["v"], money, strict=True)
            ],
            "unit_measure": np.select(
                [money, long["measure"] == "EMP_FTE"], ["XDC", "FTE"], "NUM"
            ),
            "unit_mult": np.where(money, 6, 0),
            "currency": pd.Series("EUR", index=long.index).where(money),
            "unit_state": pd.Series("ACTIVE", index=long.index).where(
                long["measure"] == "N_UNITS"
            ),
        }
    )
    out["obs_value"] = out["obs_value_text"].astype(float)
    out["unit_mult"] = out["unit_mult"].astype("Int64")
    out["source_row"] = np.arange(2, len(out) + 2)
    numeric = ("obs_value", "unit_mult", "source_row")
    return out.astype({c: "str" for c in out.columns if c not in numeric})


def test_check_relations__50000_rows__fast_and_clean(
    schemas: Path, catalogue: RuleCatalogue
) -> None:
    cube = _cube()
    assert len(cube) > 30_000
    start = time.perf_counter()
    result = check_relations(
        cube, catalogue=catalogue, schemas_dir=schemas, file="t.csv"
    )
    elapsed = time.perf_counter() - start
    assert result.findings == []
    assert result.outcomes["identity_b1g"][0] > 1000
    assert result.outcomes["hierarchy_activity"][0] > 100
    assert elapsed < 5, f"{elapsed:.2f} s"
