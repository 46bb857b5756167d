"""Load ``schemas/harmonised`` into a :class:`Schema`; bad files name file and key."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sse_stats.errors import SchemaFileError
from sse_stats.schema.model import (
    Applicability,
    CodeList,
    Component,
    Condition,
    Measure,
    Schema,
)

_LABEL_COLUMNS = ("id", "label_en", "label_fr", "label_es")
_COMPONENT_KEYS = {"id", "role", "required", "default", "codelist"}


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (several times faster
than the pure-Python one; the same safe constructors): schema files are read
on every register run."""


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` of ``text``, with libyaml when available."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader


def load_yaml(path: Path) -> Any:
    """Load one YAML file safely; a syntax error names the file."""
    try:
        return safe_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaFileError(path.name, "(file)", "file is missing") from exc
    except yaml.YAMLError as exc:
        raise SchemaFileError(path.name, "(file)", f"invalid YAML: {exc}") from exc


def require_mapping(raw: Any, file: str, where: str) -> Mapping[str, Any]:
    """``raw`` if it is a YAML mapping, else a SchemaFileError naming file and key."""
    if not isinstance(raw, Mapping):
        raise SchemaFileError(file, where or "(file)", "a mapping is required")
    return raw


def require_sequence(raw: Any, file: str, where: str) -> Sequence[Any]:
    """``raw`` if it is a YAML list (not a string), else a SchemaFileError."""
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        raise SchemaFileError(file, where, "a list is required")
    return raw


def load_codelist(path: Path) -> CodeList:
    """Read one ``id,label_en,label_fr,label_es,…`` CSV file.

    Raises:
        SchemaFileError: a label column is missing, an id repeats or is empty.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _LABEL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SchemaFileError(path.name, "header", f"missing columns {missing}")
        labels: dict[str, tuple[str, str, str]] = {}
        extra: dict[str, dict[str, str]] = {}
        for line, record in enumerate(reader, start=2):
            code = (record.get("id") or "").strip()
            if not code:
                raise SchemaFileError(path.name, f"line {line}.id", "empty id")
            if code in labels:
                raise SchemaFileError(
                    path.name, f"line {line}.id", f"repeated id {code!r}"
                )
            labels[code] = (record["label_en"], record["label_fr"], record["label_es"])
            extra[code] = {
                k: (v or "") for k, v in record.items() if k not in _LABEL_COLUMNS and k
            }
    return CodeList(concept=path.stem, labels=labels, extra=extra)


def _components(doc: Any, source: str) -> tuple[Component, ...]:
    if not isinstance(doc, dict) or not isinstance(doc.get("components"), list):
        raise SchemaFileError(source, "components", "a list is required")
    out = []
    for index, raw in enumerate(doc["components"]):
        if not isinstance(raw, dict) or "id" not in raw or "role" not in raw:
            raise SchemaFileError(source, f"components[{index}]", "needs id and role")
        unknown = set(raw) - _COMPONENT_KEYS
        if unknown:
            raise SchemaFileError(
                source, f"components[{index}]", f"unknown keys {sorted(unknown)}"
            )
        default = raw.get("default")
        out.append(
            Component(
                id=str(raw["id"]),
                role=str(raw["role"]),
                required=bool(raw.get("required", False)),
                default=None if default is None else str(default),
                codelist=raw.get("codelist"),
            )
        )
    return tuple(out)


def _applicability(doc: Any, source: str) -> dict[str, Applicability]:
    dims = doc.get("dimensions") if isinstance(doc, dict) else None
    if not isinstance(dims, dict):
        raise SchemaFileError(source, "dimensions", "a mapping is required")
    out: dict[str, Applicability] = {}
    for dim, entries in dims.items():
        conditions = []
        for index, entry in enumerate(entries or []):
            when = entry.get("when") if isinstance(entry, dict) else None
            if not isinstance(when, dict):
                raise SchemaFileError(
                    source, f"dimensions.{dim}[{index}].when", "a mapping is required"
                )
            cond = Condition(codes={k: frozenset(map(str, v)) for k, v in when.items()})
            conditions.append((cond, str(entry.get("total_code", "_T"))))
        out[str(dim)] = Applicability(dimension=str(dim), conditions=tuple(conditions))
    return out


def _measures(codelist: CodeList) -> dict[str, Measure]:
    measures = {}
    for code in codelist.labels:
        if code.startswith("_"):
            continue
        units = codelist.attribute(code, "units").split()
        if not units:
            raise SchemaFileError("measure.csv", f"{code}.units", "no units given")
        measures[code] = Measure(
            id=code,
            units=frozenset(units),
            additivity=codelist.attribute(code, "additivity") or "additive",
            may_be_negative=codelist.attribute(code, "may_be_negative") or "N",
        )
    return measures


def load_schema(schemas_dir: Path) -> Schema:
    """Load the harmonised schema under ``schemas_dir/harmonised``.

    Raises:
        SchemaFileError: naming the file and key that is wrong.
    """
    base = schemas_dir / "harmonised"
    concepts = load_yaml(base / "concepts.yaml")
    components = _components(concepts, "concepts.yaml")
    codelists = {
        p.stem: load_codelist(p) for p in sorted((base / "codelists").glob("*.csv"))
    }
    external = ("iso3166_1", "iso3166_2", "iso4217", "region")  # not files here
    for comp in components:
        if comp.codelist and comp.codelist not in external + tuple(codelists):
            raise SchemaFileError(
                "concepts.yaml",
                f"{comp.id}.codelist",
                f"codelists/{comp.codelist}.csv is missing",
            )
    app_doc = load_yaml(base / "applicability.yaml")
    natecon = app_doc.get("natecon", {}) if isinstance(app_doc, dict) else {}
    return Schema(
        structure_id=str(concepts.get("structure_id", "")),
        components=components,
        codelists=codelists,
        applicability=_applicability(app_doc, "applicability.yaml"),
        measures=_measures(codelists["measure"]) if "measure" in codelists else {},
        natecon_not_applicable=frozenset(natecon.get("must_be_not_applicable", [])),
        natecon_work_cat=frozenset(natecon.get("work_cat_allowed", [])),
    )


@lru_cache(maxsize=8)
def cached_schema(schemas_dir: Path) -> Schema:
    """Load once per process; schema files do not change during a run."""
    return load_schema(schemas_dir)
