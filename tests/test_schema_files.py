"""Every declarative file under schemas/ loads, and code only names rules that exist."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sse_stats.errors import SchemaFileError
from sse_stats.schema.load import load_codelist
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue, load_rules

ROOT = Path(__file__).resolve().parent.parent
CODELISTS = sorted((ROOT / "schemas" / "harmonised" / "codelists").glob("*.csv"))


@pytest.mark.parametrize("path", CODELISTS, ids=lambda p: p.name)
def test_codelist__every_code__has_three_labels(path: Path) -> None:
    """Each code has an English, a French and a Spanish label."""
    codelist = load_codelist(path)
    assert codelist.labels
    assert all(
        all(label.strip() for label in labels) for labels in codelist.labels.values()
    )


def test_load_schema__components__template_order(schema: Schema) -> None:
    """The 31 template components load in the contract's order, with 13 dimensions."""
    assert schema.template_ids[:4] == (
        "STRUCTURE",
        "STRUCTURE_ID",
        "ACTION",
        "REF_AREA",
    )
    assert len(schema.template_ids) == 31
    assert len(schema.dimensions) == 13


def test_load_schema__every_component_codelist_exists(schema: Schema) -> None:
    """A component's code list is a file under codelists/ or a named ISO standard."""
    for comp in schema.components:
        if (
            comp.codelist
            and not comp.codelist.startswith("iso")
            and comp.codelist != "region"
        ):
            assert comp.codelist in schema.codelists, comp.id


def test_load_codelist__repeated_id__names_file_and_line(tmp_path: Path) -> None:
    """A repeated code is an error naming the file and the line."""
    path = tmp_path / "sex.csv"
    path.write_text(
        "id,label_en,label_fr,label_es\nF,a,b,c\nF,a,b,c\n", encoding="utf-8"
    )
    with pytest.raises(SchemaFileError, match=r"sex\.csv: line 3\.id: repeated id 'F'"):
        load_codelist(path)


def test_load_rules__unknown_key__names_rule(tmp_path: Path) -> None:
    """A misspelt key in a rule file is refused with the file and rule index."""
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - {name: a, label: b, level: 1, severity: error, severty: x}\n",
        encoding="utf-8",
    )
    with pytest.raises(
        SchemaFileError, match=r"r\.yaml: rules\[0\]: unknown keys \['severty'\]"
    ):
        load_rules(tmp_path)


def _rule_names_in_code() -> set[tuple[str, str]]:
    """(file, rule) for every string literal passed first to a finding-making call."""
    names = set()
    for path in (ROOT / "sse_stats").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("finding", "report")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add((path.name, node.args[0].value))
    return names


def test_rules__every_rule_named_in_code__is_defined(catalogue: RuleCatalogue) -> None:
    """Code never reports a rule that schemas/rules/*.yaml does not define."""
    names = _rule_names_in_code()
    assert names, "the scan found no finding calls"
    assert sorted((f, r) for f, r in names if r not in catalogue) == []


def test_key_dimensions__equal_concepts(schema: Schema) -> None:
    """The key tuple used in code is the dimensions of concepts.yaml, in order."""
    from sse_stats.schema.key import DIMENSIONS

    assert tuple(d.lower() for d in schema.dimensions) == DIMENSIONS
