"""The relations level-1 checks evaluate, read from ``schemas/harmonised/``.

``identities.yaml`` (accounting identities, schema.md §8.5), ``hierarchies.yaml``
(parts adding up to totals, §8.6) and the exhaustive national subgroups of
``codelists/sse_entity_nat.csv``, as frozen dataclasses; a malformed file names
the file and key (:class:`~sse_stats.errors.SchemaFileError`).
:mod:`sse_stats.validate.relations` evaluates them on a submission.
"""

from __future__ import annotations

import csv
import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from sse_stats.errors import SchemaFileError
from sse_stats.schema.key import DIMENSIONS
from sse_stats.schema.load import safe_yaml

BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

#: Components fixed in every relation: the observation key (schema.md §2) and EDITION.
FIXED: tuple[str, ...] = (*DIMENSIONS, "measure", "unit_state", "share_base", "edition")


@dataclass(frozen=True, slots=True)
class Tolerance:
    """§8.4: ``rounding × Σ 10^(UNIT_MULT − decimals) + relative × |lhs|``."""

    rounding: Decimal = Decimal("0.5")
    relative: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class Identity:
    """``lhs = Σ coefficient × measure`` (schema.md §8.5)."""

    name: str
    lhs: str
    rhs: tuple[tuple[str, int], ...]
    reference: str
    tolerance: Tolerance
    known_exceptions: tuple[Mapping[str, frozenset[str]], ...] = ()


@dataclass(frozen=True, slots=True)
class ZeroIfAbsent:
    """A child counted as 0 when absent, optionally only where a column matches."""

    code: str
    column: str | None = None
    codes: frozenset[str] = frozenset()
    negate: bool = False

    def applies(self, values: ObjArray) -> BoolArray:
        """Where (row by row, ``values`` = the column) the child is 0 when absent."""
        if self.column is None:
            return np.ones(len(values), dtype=bool)
        inside = np.isin(values, list(self.codes))
        return np.asarray(~inside if self.negate else inside, dtype=bool)


@dataclass(frozen=True, slots=True)
class HierarchyRelation:
    """One parent and its children (a list, or ``children_from`` a rule)."""

    parent: str
    children: tuple[str, ...] = ()
    children_from: str | None = None
    if_absent_code: str | None = None
    if_absent_children: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """A hierarchy along one dimension (schema.md §8.6)."""

    name: str
    dimension: str
    relations: tuple[HierarchyRelation, ...]
    zero_if_absent: tuple[ZeroIfAbsent, ...] = ()
    key_equivalents: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    measures: frozenset[str] | None = None
    parts: bool = True
    complete_regions: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subgroup:
    """A registered national subgroup (``sse_entity_nat.csv``)."""

    id: str
    group: str
    ref_area: str
    exhaustive: bool


@dataclass(frozen=True, slots=True)
class RelationSchemas:
    """Everything the relations read from ``schemas/``."""

    identities: tuple[Identity, ...]
    hierarchies: tuple[Hierarchy, ...]
    hierarchy_tolerance: Tolerance
    additive: frozenset[str]
    distinct: frozenset[str]
    not_checked: frozenset[str]
    may_be_negative: frozenset[str]
    distinct_equal_across: frozenset[str]
    unit_alias: Mapping[str, str]
    subgroups: tuple[Subgroup, ...]

    @property
    def non_negative(self) -> frozenset[str]:
        """Checked measures that cannot be negative."""
        return (self.additive | self.distinct) - self.may_be_negative - self.not_checked


def _yaml(path: Path) -> dict[str, Any]:
    try:
        doc = safe_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaFileError(path.name, "(file)", "file not found") from None
    except yaml.YAMLError as exc:
        raise SchemaFileError(path.name, "(file)", f"invalid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise SchemaFileError(path.name, "(file)", "a mapping is required")
    return doc


def _codes(raw: Any, file: str, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise SchemaFileError(file, where, "a list of codes is required")
    return tuple(raw)


def _tolerance(raw: Any, file: str, where: str, default: Tolerance) -> Tolerance:
    if raw is None:
        return default
    if not isinstance(raw, dict) or set(raw) - {"rounding", "relative", "reason"}:
        raise SchemaFileError(file, where, "keys are rounding, relative and reason")
    try:
        tol = Tolerance(
            Decimal(str(raw.get("rounding", default.rounding))),
            Decimal(str(raw.get("relative", default.relative))),
        )
    except decimal.InvalidOperation:
        raise SchemaFileError(
            file, where, "rounding and relative are numbers"
        ) from None
    if tol.rounding < 0 or tol.relative < 0:
        raise SchemaFileError(file, where, "tolerances are not negative")
    if tol != default and where != "tolerance" and not raw.get("reason"):
        raise SchemaFileError(file, where, "an override needs a written reason")
    return tol


def _identities(path: Path) -> tuple[Identity, ...]:
    doc, file = _yaml(path), path.name
    default = _tolerance(doc.get("tolerance"), file, "tolerance", Tolerance())
    out = []
    for i, raw in enumerate(doc.get("identities") or []):
        where = f"identities[{i}]"
        if not isinstance(raw, dict) or not {"name", "lhs", "rhs"} <= set(raw):
            raise SchemaFileError(file, where, "name, lhs and rhs are required")
        rhs = raw["rhs"]
        if (
            not isinstance(rhs, dict)
            or not rhs
            or not all(isinstance(c, int) and c in (-1, 1) for c in rhs.values())
        ):
            raise SchemaFileError(file, f"{where}.rhs", "a mapping measure: +1 or -1")
        exceptions = []
        for j, exc in enumerate(raw.get("known_exceptions") or []):
            when = exc.get("when") if isinstance(exc, dict) else None
            if (
                not isinstance(when, dict)
                or not exc.get("reason")
                or set(when) - set(FIXED)
            ):
                raise SchemaFileError(
                    file,
                    f"{where}.known_exceptions[{j}]",
                    "needs when: {<key column>: [codes]} and a reason",
                )
            exceptions.append(
                {
                    k: frozenset(_codes(v, file, f"{where}.when.{k}"))
                    for k, v in when.items()
                }
            )
        out.append(
            Identity(
                name=str(raw["name"]),
                lhs=str(raw["lhs"]),
                rhs=tuple((str(m), int(c)) for m, c in rhs.items()),
                reference=str(raw.get("reference", "")),
                tolerance=_tolerance(
                    raw.get("tolerance"), file, f"{where}.tolerance", default
                ),
                known_exceptions=tuple(exceptions),
            )
        )
    return tuple(out)


def _zero(raw: Any, file: str, where: str) -> ZeroIfAbsent:
    if isinstance(raw, str):
        return ZeroIfAbsent(raw)
    if not isinstance(raw, dict) or "code" not in raw:
        raise SchemaFileError(file, where, "a code or {code, when}")
    when = raw.get("when") or {}
    if len(when) != 1:
        raise SchemaFileError(file, f"{where}.when", "exactly one column condition")
    ((column, cond),) = when.items()
    if (
        column not in FIXED
        or not isinstance(cond, dict)
        or len(cond) != 1
        or next(iter(cond)) not in ("in", "not_in")
    ):
        raise SchemaFileError(
            file, f"{where}.when", "{<key column>: {in|not_in: [codes]}}"
        )
    ((op, codes),) = cond.items()
    return ZeroIfAbsent(
        str(raw["code"]),
        column,
        frozenset(_codes(codes, file, where)),
        negate=op == "not_in",
    )


def _hierarchy(raw: Any, file: str, where: str) -> Hierarchy:
    if not isinstance(raw, dict) or not {"name", "dimension", "relations"} <= set(raw):
        raise SchemaFileError(file, where, "name, dimension and relations are required")
    dim = raw["dimension"]
    if dim not in FIXED or dim == "measure":
        raise SchemaFileError(
            file, f"{where}.dimension", f"{dim!r} is not a key column"
        )
    relations = []
    for j, rel in enumerate(raw["relations"] or []):
        rwhere = f"{where}.relations[{j}]"
        if not isinstance(rel, dict) or "parent" not in rel:
            raise SchemaFileError(file, rwhere, "parent is required")
        source = rel.get("children_from")
        if source not in (None, "registered_subgroups", "present_codes") or (
            source is None
        ) == ("children" not in rel):
            raise SchemaFileError(
                file,
                rwhere,
                "children, or children_from registered_subgroups | present_codes",
            )
        alt = rel.get("if_absent") or {}
        relations.append(
            HierarchyRelation(
                parent=str(rel["parent"]),
                children=_codes(rel["children"], file, rwhere)
                if source is None
                else (),
                children_from=source,
                if_absent_code=alt.get("code"),
                if_absent_children=_codes(alt["children"], file, rwhere) if alt else (),
            )
        )
    equivalents = raw.get("key_equivalents") or {}
    if (
        not isinstance(equivalents, dict)
        or set(equivalents) - set(FIXED)
        or dim in equivalents
    ):
        raise SchemaFileError(
            file, f"{where}.key_equivalents", "{<other key column>: {code: code}}"
        )
    complete = raw.get("complete_regions") or {}
    measures = raw.get("measures")
    return Hierarchy(
        name=str(raw["name"]),
        dimension=dim,
        relations=tuple(relations),
        zero_if_absent=tuple(
            _zero(z, file, f"{where}.zero_if_absent[{k}]")
            for k, z in enumerate(raw.get("zero_if_absent") or [])
        ),
        key_equivalents={
            str(c): {str(a): str(b) for a, b in m.items()}
            for c, m in equivalents.items()
        },
        measures=None if measures is None else frozenset(_codes(measures, file, where)),
        parts=bool(raw.get("parts_not_above_total", True)),
        complete_regions={
            str(k): frozenset(_codes(v, file, f"{where}.complete_regions"))
            for k, v in complete.items()
        },
    )


def _subgroups(path: Path) -> tuple[Subgroup, ...]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise SchemaFileError(path.name, "(file)", "file not found") from None
    out = []
    for row in rows:
        code, group = (row.get("id") or "").strip(), (row.get("parent") or "").strip()
        if not code or code.startswith("_") or not group:
            continue
        area = (row.get("ref_area") or "").strip() or code.split("_", 1)[0]
        out.append(
            Subgroup(code, group, area, (row.get("exhaustive") or "").strip() == "Y")
        )
    return tuple(out)


def load_relation_schemas(schemas_dir: Path) -> RelationSchemas:
    """Read identities, hierarchies and the registered subgroups under ``schemas_dir``.

    ``schemas_dir`` is the ``schemas/`` folder (``harmonised/identities.yaml``,
    ``harmonised/hierarchies.yaml``, ``harmonised/codelists/sse_entity_nat.csv``).

    Raises:
        SchemaFileError: a file is missing or malformed.
    """
    harmonised = schemas_dir / "harmonised"
    identities = _identities(harmonised / "identities.yaml")
    path = harmonised / "hierarchies.yaml"
    doc, file = _yaml(path), path.name
    measures = doc.get("measures") or {}
    groups = {
        k: frozenset(_codes(measures.get(k, []), file, f"measures.{k}"))
        for k in ("additive", "distinct_count", "not_checked", "may_be_negative")
    }
    hierarchies = tuple(
        _hierarchy(h, file, f"hierarchies[{i}]")
        for i, h in enumerate(doc.get("hierarchies") or [])
    )
    alias = {}
    for i, same in enumerate(doc.get("comparable_units") or []):
        codes = _codes(same, file, f"comparable_units[{i}]")
        alias.update(dict.fromkeys(codes, codes[0]))
    needs_codelist = any(
        r.children_from == "registered_subgroups"
        for h in hierarchies
        for r in h.relations
    )
    codelist = next(
        (
            h.get("codelist")
            for h in doc.get("hierarchies") or []
            if isinstance(h, dict) and h.get("codelist")
        ),
        "codelists/sse_entity_nat.csv",
    )
    return RelationSchemas(
        identities=identities,
        hierarchies=hierarchies,
        hierarchy_tolerance=_tolerance(
            doc.get("tolerance"), file, "tolerance", Tolerance()
        ),
        additive=groups["additive"],
        distinct=groups["distinct_count"],
        not_checked=groups["not_checked"],
        may_be_negative=groups["may_be_negative"],
        distinct_equal_across=frozenset(
            _codes(
                doc.get("distinct_count_equal_across") or [],
                file,
                "distinct_count_equal_across",
            )
        ),
        unit_alias=alias,
        subgroups=_subgroups(harmonised / str(codelist)) if needs_codelist else (),
    )


@lru_cache(maxsize=8)
def _cached_schemas(schemas_dir: Path, stamp: tuple[int, ...]) -> RelationSchemas:
    del stamp  # part of the cache key only: a changed file is read again
    return load_relation_schemas(schemas_dir)


def cached_relation_schemas(schemas_dir: Path) -> RelationSchemas:
    """:func:`load_relation_schemas`, read again only when a file changes."""
    names = ("identities.yaml", "hierarchies.yaml", "codelists/sse_entity_nat.csv")
    stamp = tuple(
        (schemas_dir / "harmonised" / n).stat().st_mtime_ns
        if (schemas_dir / "harmonised" / n).exists()
        else -1
        for n in names
    )
    return _cached_schemas(schemas_dir, stamp)
