"""Register mappings load from schemas/registers/; mistakes name the file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sse_stats.errors import SchemaFileError
from sse_stats.register import load_register_mapping, process_register
from sse_stats.register.mapping import Breakdown
from sse_stats.validate.catalogue import load_rules

from .conftest import SCHEMAS


def test_make_register_mapping__loads_with_every_rule_defined() -> None:
    rules = list(load_rules(SCHEMAS / "rules"))
    mapping = load_register_mapping(SCHEMAS, "make_register", rule_names=rules)
    assert mapping.unit_id == "unit_id"
    assert mapping.count_series.measure == "N_UNITS"
    measures = {s.measure for s in mapping.series}
    assert measures == {
        "N_UNITS", "N_MEMBERS", "EMP_PS", "EMP_FTE", "P1", "P2", "B1G", "D1",
        "D11", "D12",
    }  # fmt: skip
    assert mapping.variables["fte"].decimals == 1
    assert mapping.variables["gross_value_added"].may_be_negative
    assert mapping.currencies["KOR"] == "KRW" and len(mapping.currencies) == 30
    assert mapping.grouped_dimensions == (
        "sse_entity", "coop_type", "coop_level", "activity", "inst_sector", "region",
    )  # fmt: skip
    assert all("N_UNITS" in b.measures for b in mapping.breakdowns)


def test_breakdown__grouping_sets_are_the_cube_within_fixed_codes() -> None:
    coop = Breakdown(
        id="c",
        by=("coop_type", "coop_level"),
        within={"sse_entity": ("COOP",)},
        measures=frozenset(),
    )
    assert coop.grouping_sets() == [
        ("sse_entity",),
        ("sse_entity", "coop_level"),
        ("sse_entity", "coop_type"),
        ("sse_entity", "coop_type", "coop_level"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("unit_id: unit_id", "unit_id: unit id", r"unit_id: 'unit id' is not a column"),
        (
            "  fte: {kind: count, decimals: 1}",
            "  fte: {kind: cnt}",
            r"variables\.fte\.kind",
        ),
        (
            "register_identity_d1, identity",
            "register_identity_dx, identity",
            r"unit_rules\[1\]\.rule: 'register_identity_dx' is not in schemas/rules/",
        ),
        ("sum: [wages]", "sum: [salaries]", r"series\[10\]\.sum: 'salaries'"),
        (
            "    within: {sse_entity: [COOP]}\n",
            "",
            r"breakdowns\[3\]: coop_type and coop_level apply to cooperatives only",
        ),
        (
            "    measures: [B1G]",
            "    measures: [B1G, P51G]",
            r"breakdowns\[2\]\.measures: no series for \['P51G'\]",
        ),
    ],
)
def test_mapping_mistake__names_file_and_key(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS / "registers", schemas / "registers")
    shutil.copytree(SCHEMAS / "harmonised", schemas / "harmonised")
    path = schemas / "registers" / "make_register.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    rules = list(load_rules(SCHEMAS / "rules"))
    with pytest.raises(SchemaFileError, match=rf"make_register\.yaml: {where}"):
        load_register_mapping(schemas, "make_register", rule_names=rules)


ANOTHER = """
name: esp_coops
title: A national register of cooperatives (test layout)
unit_id: nif
dimensions:
  ref_area: {constant: ESP}
  time_period: ejercicio
  sse_entity: {column: forma, recode: {Cooperativa: COOP, Mutua: MUTUAL}}
  coop_type: {column: clase, recode: {Trabajo: WORKER, Consumo: CONSUMER_USER, "-": _Z}}
  coop_level: {column: grado, recode: {"1": PRIMARY, "2": SECONDARY, "-": _Z}}
constants: {source_id: ESP_TEST, edition: "2024-06-30", coverage: ACTIVE_ONLY,
            unit_state: ACTIVE}
currency_table: make_register_countries.csv
variables:
  socias: {kind: count}
  socios: {kind: count}
  empleo: {kind: count}
  vab: {kind: money, may_be_negative: true}
series:
  - {measure: N_UNITS, unit_measure: NUM}
  - {measure: N_MEMBERS, sum: [socias, socios], unit_measure: PS,
     member_type: PERSON, sex: _T}
  - {measure: N_MEMBERS, sum: [socias], unit_measure: PS, member_type: PERSON, sex: F}
  - {measure: EMP_PS, sum: [empleo], unit_measure: PS, work_cat: EMP, sex: _T}
  - {measure: B1G, sum: [vab], unit_measure: XDC}
breakdowns:
  - {id: entity, by: [sse_entity], measures: [EMP_PS, B1G]}
  - {id: coop, by: [coop_type, coop_level], within: {sse_entity: [COOP]},
     measures: [N_MEMBERS]}
"""


def test_another_register__constant_country_recoded_codes(tmp_path: Path) -> None:
    """A national layout maps with data only: renamed columns, recodes, constants."""
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, schemas)
    (schemas / "registers" / "esp_coops.yaml").write_text(ANOTHER, encoding="utf-8")
    rows = ["nif,ejercicio,forma,clase,grado,socias,socios,empleo,vab"]
    for i in range(9):
        kind = "Trabajo" if i % 2 else "Consumo"
        rows.append(
            f"B{i:04d},2023,Cooperativa,{kind},1,{i},{2 * i},{10 + i},{1000 * i}"
        )
    rows += [f"M{i:04d},2023,Mutua,-,-,0,0,{i + 1},-{50 * i}" for i in range(4)]
    path = tmp_path / "registro.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = process_register(path, schemas, mapping="esp_coops")
    assert not result.blocked, [f.message for f in result.findings]
    obs = result.observations
    assert set(obs["ref_area"]) == {"ESP"} and set(obs["edition"]) == {"2024-06-30"}
    coop = obs[(obs["sse_entity"] == "COOP") & (obs["measure"] == "N_UNITS")]
    assert set(coop["coop_type"]) == {"WORKER", "CONSUMER_USER", "_T"}
    total = obs.query("sse_entity == '_T' and measure == 'EMP_PS'")
    assert total["obs_value"].tolist() == [sum(10 + i for i in range(9)) + 10.0]
    mutual = obs.query("sse_entity == 'MUTUAL' and measure == 'B1G'")
    assert mutual["currency"].tolist() == ["EUR"]
    assert set(obs.loc[obs["measure"] == "N_UNITS", "unit_state"]) == {"ACTIVE"}
