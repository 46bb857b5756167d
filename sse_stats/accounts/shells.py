"""Satellite table shells (schema.md §9) as frozen objects, loaded from ``schemas/``.

A shell (``schemas/tables/tNN_<name>.yaml``) says which cells a table keeps (the
dimensions it shows and their codes, the fixed dimensions, the level measures),
which absent cells it may derive and by which formula, and the presentation
multiplier per unit. A new table is a new shell, not new code.

This module only reads and checks files; building a table is
:mod:`sse_stats.accounts.build`, disclosure control :mod:`sse_stats.accounts.sdc`.
The reference data every shell needs (registered national subgroups, the flag
precedence, the hierarchies and identities used by disclosure control) is loaded
once into a :class:`ShellContext` shared by all shells.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sse_stats.errors import SchemaFileError
from sse_stats.schema.key import DIMENSIONS
from sse_stats.schema.load import (
    load_codelist,
    load_yaml,
    require_mapping,
    require_sequence,
)

KEY_COLUMNS: tuple[str, ...] = (
    *DIMENSIONS,
    "measure",
    "unit_state",
    "share_base",
    "base_measure",
)
"""The key of a satellite cell: the observation key of schema.md §2 plus
``base_measure``, which tells apart ratio cells computed from different measures."""

ANY = "any"
PERIMETER = "perimeter"
_FREE_DIMENSIONS = frozenset({"ref_area", "time_period", "freq"})
_SELECTABLE = frozenset(KEY_COLUMNS) - {"measure"}
_UNIT_CLASSES = frozenset({"currency", "NUM", "PS", "JOBS", "FTE", "H", "PC"})
_RESULT_UNITS = frozenset({"PC", "numerator", "inputs"})


@dataclass(frozen=True, slots=True)
class Match:
    """Codes a column must (or, with ``negate``, must not) take.

    Examples:
        >>> Match(frozenset({"_T"}), negate=True)("KE-30")
        True
    """

    codes: frozenset[str]
    negate: bool = False

    def __call__(self, value: object) -> bool:
        """Whether ``value`` satisfies the condition."""
        return (value in self.codes) != self.negate


@dataclass(frozen=True, slots=True, kw_only=True)
class CellSelector:
    """Cells of some measures, singled out by codes of other columns.

    Examples:
        >>> sel = CellSelector(measures=frozenset({"EMP_FTE"}),
        ...                    coords={"work_cat": Match(frozenset({"EMP"}))})
        >>> sel.matches({"measure": "EMP_FTE", "work_cat": "EMP"})
        True
    """

    measures: frozenset[str]
    coords: Mapping[str, Match] = field(default_factory=dict)

    def matches(self, cell: Mapping[str, Any]) -> bool:
        """Whether ``cell`` has one of the measures and every named code."""
        return cell.get("measure") in self.measures and all(
            match(cell.get(column)) for column, match in self.coords.items()
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ZeroIfAbsent:
    """A term read as 0 when it has no row, where ``when`` holds (hierarchies.yaml)."""

    code: str
    when: Mapping[str, Match]

    def applies(self, cell: Mapping[str, Any]) -> bool:
        """Whether the condition holds for the output cell ``cell``."""
        return all(match(cell.get(column)) for column, match in self.when.items())


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearDerivation:
    """``target = Σ coefficient × term`` along one column (kinds ``sum``, ``linear``).

    ``children_from = "exhaustive_subgroups"`` takes the terms from
    ``sse_entity_nat.csv``: the subgroups registered for the cell's REF_AREA and
    SSE_ENTITY, when they are marked exhaustive.
    """

    id: str
    kind: str
    dimension: str
    target: str
    terms: tuple[tuple[str, int], ...]
    children_from: str | None = None
    measures: frozenset[str] | None = None
    zero_if_absent: tuple[ZeroIfAbsent, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RatioDerivation:
    """``measure = numerator / denominator × scale``.

    The denominator is the numerator's cell with the ``denominator`` codes set.
    With ``share_base`` the result carries the numerator's measure as
    ``SHARE_BASE`` (a share of the national economy, schema.md §3.1).
    """

    id: str
    measure: str
    numerator: CellSelector
    denominator: Mapping[str, str]
    scale: int
    share_base: bool = False
    check_submitted: str | None = None
    kind: str = "ratio"


@dataclass(frozen=True, slots=True, kw_only=True)
class GrowthDerivation:
    """``measure = (x[t] / x[t-1] − 1) × scale``, both years of the same edition."""

    id: str
    measure: str
    numerator: CellSelector
    scale: int
    kind: str = "growth"


Derivation = LinearDerivation | RatioDerivation | GrowthDerivation


@dataclass(frozen=True, slots=True, kw_only=True)
class Perimeter:
    """What stands for the SSE in each country and year (T10)."""

    total: str
    fallback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SatelliteMeasure:
    """A measure that exists only in satellite tables (schema.md §9.1 rule 7)."""

    id: str
    label_en: str
    unit: str
    additive: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Relation:
    """A parts-sum-to-total relation of ``hierarchies.yaml`` along one column."""

    name: str
    dimension: str
    parent: str
    children: tuple[str, ...]
    children_from: str | None = None
    if_absent: tuple[str, tuple[str, ...]] | None = None
    measures: frozenset[str] | None = None
    key_equivalents: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """An accounting identity of ``identities.yaml``: ``lhs = Σ coef × rhs``."""

    name: str
    lhs: str
    rhs: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellContext:
    """Reference data shared by every shell, read from ``schemas/``."""

    flag_precedence: tuple[str, ...]
    satellite_measures: Mapping[str, SatelliteMeasure]
    subgroups: Mapping[tuple[str, str], tuple[str, ...]]
    coverage_labels: Mapping[str, str]
    coverage_without_note: frozenset[str]
    valuation_labels: Mapping[str, str]
    additive_measures: frozenset[str]
    distinct_measures: frozenset[str]
    distinct_equal_across: frozenset[str]
    relations: tuple[Relation, ...]
    identities: tuple[Identity, ...]

    def exhaustive_subgroups(self, ref_area: str, sse_entity: str) -> tuple[str, ...]:
        """Registered subgroups that partition a group (empty: not exhaustive)."""
        return self.subgroups.get((ref_area, sse_entity), ())


@dataclass(frozen=True, slots=True, kw_only=True)
class TableShell:
    """One satellite table (schema.md §9.2) as declared in ``schemas/tables/``.

    ``dimensions`` maps each shown dimension to its kept codes (``None`` for any
    code); every other dimension is fixed (§9.1 rule 2) at ``fixed[dim]`` or, when
    not named there, at ``_T`` where it applies and ``_Z`` where it does not.
    """

    name: str
    title: str
    description: str
    reference: str
    layout_rows: tuple[str, ...]
    layout_columns: tuple[str, ...]
    dimensions: Mapping[str, frozenset[str] | None]
    fixed: Mapping[str, str]
    cells: tuple[CellSelector, ...]
    derivations: tuple[Derivation, ...]
    presentation_units: Mapping[str, int]
    presentation_measures: Mapping[str, int]
    footnotes: tuple[str, ...]
    perimeter: Perimeter | None
    context: ShellContext

    def derivation(self, derivation_id: str) -> Derivation:
        """The derivation called ``derivation_id``."""
        for derivation in self.derivations:
            if derivation.id == derivation_id:
                return derivation
        raise KeyError(derivation_id)

    def presentation_mult(self, measure: str, unit_class: str) -> int | None:
        """The multiplier cells of ``measure`` in ``unit_class`` are shown in."""
        if measure in self.presentation_measures:
            return self.presentation_measures[measure]
        return self.presentation_units.get(unit_class)


# ---------------------------------------------------------------- loading


def load_shells(schemas_dir: Path) -> dict[str, TableShell]:
    """Load every ``schemas/tables/t*.yaml`` shell, keyed by table name.

    Args:
        schemas_dir: the ``schemas/`` folder.

    Returns:
        ``{name: TableShell}`` in file-name order (``t01_…`` first).

    Raises:
        SchemaFileError: a shell or a file it relies on is malformed; the message
            names the file and the key path.

    Examples:
        >>> shells = load_shells(Path("schemas"))
        >>> dict(shells["t01_key_aggregates_by_entity"].fixed)
        {'activity': '_T', 'inst_sector': '_T'}
    """
    context = load_context(schemas_dir)
    measure_codes = set(
        load_codelist(schemas_dir / "harmonised" / "codelists" / "measure.csv").labels
    )
    known = measure_codes | set(context.satellite_measures)
    codelists = _dimension_codelists(schemas_dir)
    shells: dict[str, TableShell] = {}
    for path in sorted((schemas_dir / "tables").glob("t*.yaml")):
        shell = _shell(load_yaml(path), path.name, context, known, codelists)
        shells[shell.name] = shell
    return shells


def load_context(schemas_dir: Path) -> ShellContext:
    """Read the reference data shells need (see :class:`ShellContext`)."""
    common_file = "_common.yaml"
    common = require_mapping(
        load_yaml(schemas_dir / "tables" / common_file), common_file, ""
    )
    _check_keys(
        common,
        {"flag_precedence", "satellite_measures", "coverage_without_note"},
        common_file,
        "",
    )
    satellite: dict[str, SatelliteMeasure] = {}
    for code, raw in require_mapping(
        common.get("satellite_measures"), common_file, "satellite_measures"
    ).items():
        where = f"satellite_measures.{code}"
        spec = require_mapping(raw, common_file, where)
        _check_keys(spec, {"label_en", "unit", "additive"}, common_file, where)
        unit = str(spec.get("unit", ""))
        if unit not in _RESULT_UNITS:
            raise SchemaFileError(
                common_file,
                f"{where}.unit",
                f"{unit!r} is not one of {sorted(_RESULT_UNITS)}",
            )
        satellite[str(code)] = SatelliteMeasure(
            id=str(code),
            label_en=str(spec.get("label_en", "")),
            unit=unit,
            additive=bool(spec.get("additive", False)),
        )
    codelists = schemas_dir / "harmonised" / "codelists"
    hierarchies = require_mapping(
        load_yaml(schemas_dir / "harmonised" / "hierarchies.yaml"),
        "hierarchies.yaml",
        "",
    )
    measure_classes = require_mapping(
        hierarchies.get("measures", {}), "hierarchies.yaml", "measures"
    )
    additive = {str(m) for m in measure_classes.get("additive", []) or []}
    additive |= {code for code, m in satellite.items() if m.additive}
    return ShellContext(
        flag_precedence=tuple(
            str(f)
            for f in require_sequence(
                common.get("flag_precedence"), common_file, "flag_precedence"
            )
        ),
        satellite_measures=satellite,
        subgroups=_exhaustive_subgroups(codelists / "sse_entity_nat.csv"),
        coverage_labels=_labels(codelists / "coverage.csv"),
        coverage_without_note=frozenset(
            str(c) for c in common.get("coverage_without_note", []) or []
        ),
        valuation_labels=_labels(codelists / "valuation_method.csv"),
        additive_measures=frozenset(additive),
        distinct_measures=frozenset(
            str(m) for m in measure_classes.get("distinct_count", []) or []
        ),
        distinct_equal_across=frozenset(
            str(c) for c in hierarchies.get("distinct_count_equal_across", []) or []
        ),
        relations=_relations(hierarchies),
        identities=_identities(
            load_yaml(schemas_dir / "harmonised" / "identities.yaml")
        ),
    )


_SHELL_KEYS = {
    "name",
    "title",
    "description",
    "reference",
    "layout",
    "dimensions",
    "fixed",
    "measures",
    "derivations",
    "presentation",
    "footnotes",
    "perimeter",
}
_FOOTNOTES = {"coverage", "valuation_method"}


def _shell(
    doc: Any,
    file: str,
    context: ShellContext,
    known_measures: set[str],
    codelists: Mapping[str, frozenset[str]],
) -> TableShell:
    raw = require_mapping(doc, file, "")
    _check_keys(raw, _SHELL_KEYS, file, "")
    for required in ("name", "measures", "presentation"):
        if required not in raw:
            raise SchemaFileError(file, required, "is required")
    name = str(raw["name"])
    if f"{name}.yaml" != file:
        raise SchemaFileError(
            file,
            "name",
            f"{name!r} must equal the file name "
            "(one name per thing: asset key = table = file)",
        )
    dimensions = _shown_dimensions(raw.get("dimensions") or {}, file, codelists)
    fixed = {
        str(k): str(v)
        for k, v in require_mapping(raw.get("fixed") or {}, file, "fixed").items()
    }
    for dim in fixed:
        _check_column(dim, file, f"fixed.{dim}", DIMENSIONS)
        if dim in dimensions:
            raise SchemaFileError(file, f"fixed.{dim}", "is also a shown dimension")
    cells = tuple(
        _selector(item, file, f"measures[{i}]", known_measures)
        for i, item in enumerate(require_sequence(raw["measures"], file, "measures"))
    )
    derivations = tuple(
        _derivation(item, file, f"derivations[{i}]", known_measures, context)
        for i, item in enumerate(
            require_sequence(raw.get("derivations") or [], file, "derivations")
        )
    )
    ids = [d.id for d in derivations]
    if len(set(ids)) != len(ids):
        raise SchemaFileError(file, "derivations", f"repeated id in {ids}")
    layout = require_mapping(raw.get("layout") or {}, file, "layout")
    _check_keys(layout, {"rows", "columns"}, file, "layout")
    presentation = require_mapping(raw["presentation"], file, "presentation")
    _check_keys(presentation, {"units", "measures"}, file, "presentation")
    units = {
        str(k): _mult(v, file, f"presentation.units.{k}")
        for k, v in require_mapping(
            presentation.get("units") or {}, file, "presentation.units"
        ).items()
    }
    for unit in units:
        if unit not in _UNIT_CLASSES:
            raise SchemaFileError(
                file,
                f"presentation.units.{unit}",
                f"unknown unit class{_hint(unit, _UNIT_CLASSES)}",
            )
    footnotes = tuple(
        str(f) for f in require_sequence(raw.get("footnotes") or [], file, "footnotes")
    )
    for note in footnotes:
        if note not in _FOOTNOTES:
            raise SchemaFileError(
                file, "footnotes", f"unknown footnote {note!r}{_hint(note, _FOOTNOTES)}"
            )
    perimeter = _perimeter(raw.get("perimeter"), file)
    uses_token = any(
        codes is not None and PERIMETER in codes for codes in dimensions.values()
    )
    if uses_token and perimeter is None:
        raise SchemaFileError(
            file, "perimeter", "is required when a dimension lists `perimeter`"
        )
    return TableShell(
        name=name,
        title=str(raw.get("title", "")),
        description=str(raw.get("description", "")),
        reference=str(raw.get("reference", "")),
        layout_rows=tuple(str(c) for c in layout.get("rows", []) or []),
        layout_columns=tuple(str(c) for c in layout.get("columns", []) or []),
        dimensions=dimensions,
        fixed=fixed,
        cells=cells,
        derivations=derivations,
        presentation_units=units,
        presentation_measures={
            str(k): _mult(v, file, f"presentation.measures.{k}")
            for k, v in require_mapping(
                presentation.get("measures") or {}, file, "presentation.measures"
            ).items()
        },
        footnotes=footnotes,
        perimeter=perimeter,
        context=context,
    )


def _shown_dimensions(
    raw: Any, file: str, codelists: Mapping[str, frozenset[str]]
) -> dict[str, frozenset[str] | None]:
    out: dict[str, frozenset[str] | None] = {}
    for dim, codes in require_mapping(raw, file, "dimensions").items():
        where = f"dimensions.{dim}"
        _check_column(str(dim), file, where, DIMENSIONS)
        if str(dim) in _FREE_DIMENSIONS:
            raise SchemaFileError(
                file,
                where,
                "REF_AREA, TIME_PERIOD and FREQ are always kept; do not list them",
            )
        if codes == ANY:
            out[str(dim)] = None
            continue
        listed = frozenset(str(c) for c in require_sequence(codes, file, where))
        allowed = codelists.get(str(dim))
        unknown = sorted(
            c
            for c in listed
            if allowed is not None and c not in allowed and c != PERIMETER
        )
        if unknown:
            raise SchemaFileError(
                file, where, f"codes {unknown} are not in codelists/{dim}.csv"
            )
        out[str(dim)] = listed
    return out


def _selector(raw: Any, file: str, where: str, known: set[str]) -> CellSelector:
    spec = require_mapping(raw, file, where)
    if "measure" not in spec:
        raise SchemaFileError(file, where, "needs `measure`")
    measures = _codes(spec["measure"], file, f"{where}.measure")
    unknown = sorted(m for m in measures if m not in known)
    if unknown:
        raise SchemaFileError(
            file,
            f"{where}.measure",
            f"unknown measures {unknown}{_hint(unknown[0], known)}",
        )
    coords = {}
    for column, value in spec.items():
        if column == "measure":
            continue
        _check_column(str(column), file, f"{where}.{column}", _SELECTABLE)
        coords[str(column)] = _match(value, file, f"{where}.{column}")
    return CellSelector(measures=measures, coords=coords)


def _derivation(
    raw: Any, file: str, where: str, known: set[str], context: ShellContext
) -> Derivation:
    spec = require_mapping(raw, file, where)
    kind = str(spec.get("kind", ""))
    common = {"id", "kind"}
    if kind in ("sum", "linear"):
        keys = common | {"dimension", "measures", "zero_if_absent"}
        keys |= (
            {"parent", "children", "children_from"}
            if kind == "sum"
            else {"target", "terms"}
        )
        _check_keys(spec, keys, file, where)
        dimension = str(spec.get("dimension", ""))
        _check_column(dimension, file, f"{where}.dimension", (*DIMENSIONS, "measure"))
        children_from = spec.get("children_from")
        if children_from is not None and children_from != "exhaustive_subgroups":
            raise SchemaFileError(
                file,
                f"{where}.children_from",
                "only `exhaustive_subgroups` is supported",
            )
        if kind == "sum":
            target = str(spec.get("parent", ""))
            terms = tuple((str(c), 1) for c in spec.get("children", []) or [])
        else:
            target = str(spec.get("target", ""))
            terms = tuple(
                (str(c), int(k))
                for c, k in require_mapping(
                    spec.get("terms"), file, f"{where}.terms"
                ).items()
            )
        if not terms and children_from is None:
            raise SchemaFileError(file, where, "needs children, children_from or terms")
        if dimension == "measure":
            bad = sorted({target, *(c for c, _ in terms)} - known)
            if bad:
                raise SchemaFileError(file, where, f"unknown measures {bad}")
        zero = tuple(
            ZeroIfAbsent(
                code=str(
                    require_mapping(z, file, f"{where}.zero_if_absent[{i}]")["code"]
                ),
                when={
                    str(c): _match(v, file, f"{where}.zero_if_absent[{i}].when.{c}")
                    for c, v in require_mapping(
                        z.get("when", {}), file, f"{where}.zero_if_absent[{i}].when"
                    ).items()
                },
            )
            for i, z in enumerate(spec.get("zero_if_absent", []) or [])
        )
        measures = spec.get("measures")
        return LinearDerivation(
            id=_id(spec, file, where),
            kind=kind,
            dimension=dimension,
            target=target,
            terms=terms,
            children_from=None if children_from is None else str(children_from),
            measures=None
            if measures is None
            else _codes(measures, file, f"{where}.measures"),
            zero_if_absent=zero,
        )
    if kind in ("ratio", "growth"):
        keys = common | {"measure", "numerator", "scale"}
        if kind == "ratio":
            keys |= {"denominator", "share_base", "check_submitted"}
        _check_keys(spec, keys, file, where)
        measure = str(spec.get("measure", ""))
        if measure not in context.satellite_measures:
            raise SchemaFileError(
                file,
                f"{where}.measure",
                f"{measure!r} is not a "
                "satellite measure of schemas/tables/_common.yaml",
            )
        numerator = _selector(spec.get("numerator"), file, f"{where}.numerator", known)
        scale = int(spec.get("scale", 1))
        if kind == "growth":
            return GrowthDerivation(
                id=_id(spec, file, where),
                measure=measure,
                numerator=numerator,
                scale=scale,
            )
        denominator = {
            str(k): str(v)
            for k, v in require_mapping(
                spec.get("denominator"), file, f"{where}.denominator"
            ).items()
        }
        for column in denominator:
            _check_column(column, file, f"{where}.denominator.{column}", KEY_COLUMNS)
        check = spec.get("check_submitted")
        return RatioDerivation(
            id=_id(spec, file, where),
            measure=measure,
            numerator=numerator,
            denominator=denominator,
            scale=scale,
            share_base=bool(spec.get("share_base", False)),
            check_submitted=None if check is None else str(check),
        )
    raise SchemaFileError(
        file,
        f"{where}.kind",
        f"unknown kind {kind!r}{_hint(kind, {'sum', 'linear', 'ratio', 'growth'})}",
    )


def _perimeter(raw: Any, file: str) -> Perimeter | None:
    if raw is None:
        return None
    spec = require_mapping(raw, file, "perimeter")
    _check_keys(spec, {"total", "fallback"}, file, "perimeter")
    fallback = spec.get("fallback")
    if fallback not in (None, "single_group"):
        raise SchemaFileError(
            file, "perimeter.fallback", "only `single_group` is supported"
        )
    return Perimeter(
        total=str(spec.get("total", "_T")),
        fallback=None if fallback is None else str(fallback),
    )


# ------------------------------------------------ reference files of others


def _exhaustive_subgroups(path: Path) -> dict[tuple[str, str], tuple[str, ...]]:
    groups: dict[tuple[str, str], list[str]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            if (record.get("exhaustive") or "").strip() == "Y":
                key = (record.get("ref_area", ""), record.get("parent", ""))
                groups.setdefault(key, []).append(record["id"])
    return {key: tuple(sorted(codes)) for key, codes in groups.items()}


def _labels(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    codelist = load_codelist(path)
    return {code: codelist.label(code) for code in codelist.labels}


def _dimension_codelists(schemas_dir: Path) -> dict[str, frozenset[str]]:
    folder = schemas_dir / "harmonised" / "codelists"
    out = {}
    for dim in DIMENSIONS:
        path = folder / f"{dim}.csv"
        if path.exists():
            out[dim] = frozenset(load_codelist(path).labels) | {"_T", "_Z", "_U"}
    return out


def _relations(doc: Mapping[str, Any]) -> tuple[Relation, ...]:
    # hierarchies.yaml belongs to validation; only the keys disclosure control needs
    # are read, and other keys are left to its own loader to check.
    try:
        return _read_relations(doc)
    except (KeyError, TypeError, AttributeError) as exc:
        raise SchemaFileError(
            "hierarchies.yaml", "hierarchies", f"cannot read a relation: {exc!r}"
        ) from exc


def _read_relations(doc: Mapping[str, Any]) -> tuple[Relation, ...]:
    out = []
    for entry in doc.get("hierarchies", []) or []:
        measures = entry.get("measures")
        equivalents = {
            str(c): {str(k): str(v) for k, v in (m or {}).items()}
            for c, m in (entry.get("key_equivalents") or {}).items()
        }
        for rel in entry.get("relations", []) or []:
            alt = rel.get("if_absent")
            out.append(
                Relation(
                    name=str(entry["name"]),
                    dimension=str(entry["dimension"]),
                    parent=str(rel["parent"]),
                    children=tuple(str(c) for c in rel.get("children", []) or []),
                    children_from=rel.get("children_from"),
                    if_absent=None
                    if not alt
                    else (str(alt["code"]), tuple(str(c) for c in alt["children"])),
                    measures=None
                    if measures is None
                    else frozenset(map(str, measures)),
                    key_equivalents=equivalents,
                )
            )
    return tuple(out)


def _identities(doc: Any) -> tuple[Identity, ...]:
    entries = doc.get("identities", []) if isinstance(doc, dict) else []
    try:
        return _read_identities(entries)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SchemaFileError(
            "identities.yaml", "identities", f"cannot read an identity: {exc!r}"
        ) from exc


def _read_identities(entries: Any) -> tuple[Identity, ...]:
    return tuple(
        Identity(
            name=str(e["name"]),
            lhs=str(e["lhs"]),
            rhs=tuple((str(m), int(k)) for m, k in e["rhs"].items()),
        )
        for e in entries or []
    )


# ----------------------------------------------------------------- helpers


def _codes(raw: Any, file: str, where: str) -> frozenset[str]:
    if isinstance(raw, str):
        return frozenset({raw})
    return frozenset(str(c) for c in require_sequence(raw, file, where))


def _match(raw: Any, file: str, where: str) -> Match:
    if isinstance(raw, Mapping):
        _check_keys(raw, {"in", "not_in"}, file, where)
        if "not_in" in raw:
            return Match(_codes(raw["not_in"], file, f"{where}.not_in"), negate=True)
        return Match(_codes(raw.get("in", []), file, f"{where}.in"))
    return Match(_codes(raw, file, where))


def _mult(raw: Any, file: str, where: str) -> int:
    if raw not in (0, 3, 6, 9):
        raise SchemaFileError(file, where, f"{raw!r} is not a UNIT_MULT (0, 3, 6, 9)")
    return int(raw)


def _id(spec: Mapping[str, Any], file: str, where: str) -> str:
    value = spec.get("id")
    if not isinstance(value, str) or not value.isidentifier():
        raise SchemaFileError(file, f"{where}.id", "a snake_case id is required")
    return value


def _check_column(column: str, file: str, where: str, allowed: Any) -> None:
    if column not in allowed:
        raise SchemaFileError(
            file, where, f"unknown column {column!r}{_hint(column, allowed)}"
        )


def _check_keys(
    raw: Mapping[str, Any], allowed: set[str], file: str, where: str
) -> None:
    for key in raw:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise SchemaFileError(
                file, path, f"unknown key {key!r}{_hint(str(key), allowed)}"
            )


def _hint(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
