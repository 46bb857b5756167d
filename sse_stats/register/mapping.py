"""Register mappings (``schemas/registers/<name>.yaml``) as frozen objects.

A register is unit-level data, one row per unit (CSV or Parquet). Its mapping
says which column identifies a unit, where each dimension comes from, which
variables the units carry, which unit-level rules apply, which harmonised series
are sums of which variables, and which cells (breakdowns) are published. The
format is described in ``schemas/registers/README.md``; this module only reads
and checks it. Unknown keys and codes are errors naming the file and the key.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sse_stats.errors import SchemaFileError
from sse_stats.schema.load import (
    load_codelist,
    load_yaml,
    require_mapping,
    require_sequence,
)

DIMENSIONS: tuple[str, ...] = (
    "ref_area",
    "time_period",
    "sse_entity",
    "coop_type",
    "coop_level",
    "activity",
    "inst_sector",
    "region",
)
"""Dimensions a register may carry, as harmonised columns (schema.md §11.1)."""

BREAKDOWN_DIMENSIONS: tuple[str, ...] = DIMENSIONS[2:]
"""Dimensions a breakdown may group by (REF_AREA and TIME_PERIOD always are)."""

SERIES_CODES: tuple[str, ...] = ("sex", "work_cat", "member_type")
"""Dimensions a series fixes (the rest come from the cell)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_KINDS = frozenset({"count", "money"})
_CONSTANTS = ("freq", "source_id", "edition", "coverage", "unit_state")
_TOP_KEYS = {
    "name",
    "title",
    "unit_id",
    "dimensions",
    "constants",
    "currency_table",
    "variables",
    "unit_rules",
    "series",
    "breakdowns",
}
COUNT_MEASURE = "N_UNITS"
"""The measure counted (not summed): the number of units of a cell."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DimensionSource:
    """Where one dimension comes from: a column (possibly recoded) or a constant."""

    dimension: str
    column: str | None = None
    constant: str | None = None
    recode: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Variable:
    """A unit-level numeric column.

    ``decimals`` is the precision the register carries; values are summed as
    integers of ``10^-decimals`` so sums are exact.
    """

    name: str
    kind: str
    decimals: int = 0
    may_be_negative: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitRule:
    """A rule between variables of one unit.

    ``form`` is ``identity`` (``lhs = Σ coefficient × term``), ``bound``
    (``lhs <= rhs``) or ``requires`` (``lhs > 0`` only when ``rhs > 0``).
    """

    rule: str
    form: str
    lhs: str
    terms: tuple[tuple[str, int], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The variables the rule reads, left-hand side first."""
        return (self.lhs, *(name for name, _ in self.terms))


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """A harmonised series: a measure with fixed codes, summed over units.

    ``terms`` are added per unit; an empty tuple is the count of units
    (``N_UNITS``). ``id`` is a stable SQL-safe name (``s00``, ``s01``, …).
    """

    id: str
    measure: str
    terms: tuple[str, ...]
    unit_measure: str
    codes: Mapping[str, str]
    decimals: int = 0
    may_be_negative: bool = False

    @property
    def is_count(self) -> bool:
        """Whether the series counts units."""
        return not self.terms

    @property
    def source_column(self) -> str:
        """The register column(s) the value comes from (``a+b`` for a sum)."""
        return "+".join(self.terms)


@dataclass(frozen=True, slots=True, kw_only=True)
class Breakdown:
    """Published cells: every combination of ``by`` (each code or ``_T``)."""

    id: str
    by: tuple[str, ...]
    within: Mapping[str, tuple[str, ...]]
    measures: frozenset[str]

    def grouping_sets(self) -> list[tuple[str, ...]]:
        """Every subset of ``by`` plus the ``within`` dimensions, ordered.

        Examples:
            >>> b = Breakdown(id="x", by=("sse_entity", "activity"), within={},
            ...               measures=frozenset())
            >>> b.grouping_sets()
            [(), ('activity',), ('sse_entity',), ('sse_entity', 'activity')]
        """
        fixed = tuple(d for d in BREAKDOWN_DIMENSIONS if d in self.within)
        out: set[tuple[str, ...]] = set()
        for mask in range(2 ** len(self.by)):
            chosen = {d for i, d in enumerate(self.by) if mask >> i & 1}
            out.add(tuple(d for d in BREAKDOWN_DIMENSIONS if d in chosen or d in fixed))
        return sorted(out, key=lambda s: (len(s), s))


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterMapping:
    """One register layout (``schemas/registers/<name>.yaml``)."""

    name: str
    title: str
    file: str
    unit_id: str
    dimensions: Mapping[str, DimensionSource]
    constants: Mapping[str, str | None]
    currencies: Mapping[str, str]
    variables: Mapping[str, Variable]
    unit_rules: tuple[UnitRule, ...]
    series: tuple[Series, ...]
    breakdowns: tuple[Breakdown, ...]

    @property
    def count_series(self) -> Series:
        """The ``N_UNITS`` series."""
        return next(s for s in self.series if s.is_count)

    @property
    def grouped_dimensions(self) -> tuple[str, ...]:
        """Dimensions any breakdown groups by, in canonical order."""
        used = {d for b in self.breakdowns for d in (*b.by, *b.within)}
        return tuple(d for d in BREAKDOWN_DIMENSIONS if d in used)

    def columns(self) -> tuple[str, ...]:
        """Register columns the mapping reads (unit id, dimensions, variables)."""
        names = [self.unit_id]
        names += [s.column for s in self.dimensions.values() if s.column is not None]
        names += list(self.variables)
        return tuple(dict.fromkeys(names))


def load_register_mapping(
    schemas_dir: Path, name: str, *, rule_names: Sequence[str] | None = None
) -> RegisterMapping:
    """Load ``schemas/registers/<name>.yaml``.

    Args:
        schemas_dir: the ``schemas/`` folder.
        name: the mapping name (file stem), e.g. ``make_register``.
        rule_names: rule names of the catalogue; when given, every rule a mapping
            names must be one of them.

    Raises:
        SchemaFileError: the file, a key or a code is wrong; the message names the
            file and the key path.

    Examples:
        >>> m = load_register_mapping(Path("schemas"), "make_register")
        >>> m.unit_id, m.count_series.measure
        ('unit_id', 'N_UNITS')
    """
    if not _IDENTIFIER.fullmatch(name):
        raise SchemaFileError(f"{name}.yaml", "(file)", "not a mapping name")
    path = schemas_dir / "registers" / f"{name}.yaml"
    file = path.name
    raw = require_mapping(load_yaml(path), file, "")
    _check_keys(raw, _TOP_KEYS, file, "")
    for key in ("name", "unit_id", "dimensions", "variables", "series", "breakdowns"):
        if key not in raw:
            raise SchemaFileError(file, key, "is required")
    if str(raw["name"]) != name:
        raise SchemaFileError(file, "name", f"{raw['name']!r} must equal the file name")
    codelists = _codelists(schemas_dir)
    dimensions = _dimensions(raw["dimensions"], file)
    variables = _variables(raw["variables"], file)
    constants = _constants(raw.get("constants") or {}, file)
    currencies = _currencies(raw.get("currency_table"), path.parent, file)
    rules = _unit_rules(raw.get("unit_rules") or [], file, variables, rule_names)
    series = _series(raw["series"], file, variables, codelists)
    breakdowns = _breakdowns(raw["breakdowns"], file, series, dimensions)
    if any(s.unit_measure == "XDC" for s in series) and not currencies:
        raise SchemaFileError(
            file, "currency_table", "is required when a series is in XDC"
        )
    return RegisterMapping(
        name=name,
        title=str(raw.get("title", "")),
        file=f"registers/{file}",
        unit_id=_column(raw["unit_id"], file, "unit_id"),
        dimensions=dimensions,
        constants=constants,
        currencies=currencies,
        variables=variables,
        unit_rules=rules,
        series=series,
        breakdowns=breakdowns,
    )


# ------------------------------------------------------------------ sections


def _dimensions(raw: Any, file: str) -> dict[str, DimensionSource]:
    out: dict[str, DimensionSource] = {}
    spec = require_mapping(raw, file, "dimensions")
    for dim, value in spec.items():
        where = f"dimensions.{dim}"
        if dim not in DIMENSIONS:
            raise SchemaFileError(file, where, f"unknown dimension {dim!r}")
        if isinstance(value, str):
            out[dim] = DimensionSource(
                dimension=dim, column=_column(value, file, where)
            )
            continue
        item = require_mapping(value, file, where)
        _check_keys(item, {"column", "constant", "recode"}, file, where)
        if ("column" in item) == ("constant" in item):
            raise SchemaFileError(file, where, "needs exactly one of column, constant")
        if "constant" in item:
            out[dim] = DimensionSource(dimension=dim, constant=str(item["constant"]))
            continue
        recode = {
            str(k): str(v)
            for k, v in require_mapping(
                item.get("recode") or {}, file, f"{where}.recode"
            ).items()
        }
        out[dim] = DimensionSource(
            dimension=dim,
            column=_column(item["column"], file, f"{where}.column"),
            recode=recode,
        )
    for dim in ("ref_area", "time_period", "sse_entity"):
        if dim not in out:
            raise SchemaFileError(file, f"dimensions.{dim}", "is required")
    return out


def _variables(raw: Any, file: str) -> dict[str, Variable]:
    out: dict[str, Variable] = {}
    for name, value in require_mapping(raw, file, "variables").items():
        where = f"variables.{name}"
        column = _column(name, file, where)
        item = require_mapping(value, file, where)
        _check_keys(item, {"kind", "decimals", "may_be_negative"}, file, where)
        kind = str(item.get("kind", ""))
        if kind not in _KINDS:
            raise SchemaFileError(
                file, f"{where}.kind", f"must be one of {sorted(_KINDS)}"
            )
        decimals = item.get("decimals", 0)
        if not isinstance(decimals, int) or not 0 <= decimals <= 6:
            raise SchemaFileError(file, f"{where}.decimals", "must be an integer 0-6")
        out[column] = Variable(
            name=column,
            kind=kind,
            decimals=decimals,
            may_be_negative=bool(item.get("may_be_negative", False)),
        )
    if not out:
        raise SchemaFileError(file, "variables", "at least one variable is required")
    return out


def _constants(raw: Any, file: str) -> dict[str, str | None]:
    spec = require_mapping(raw, file, "constants")
    _check_keys(spec, set(_CONSTANTS), file, "constants")
    out: dict[str, str | None] = dict.fromkeys(_CONSTANTS)
    out["freq"] = "A"
    for key, value in spec.items():
        out[str(key)] = None if value is None else str(value)
    return out


def _currencies(raw: Any, folder: Path, file: str) -> dict[str, str]:
    if raw is None:
        return {}
    name = str(raw)
    if not _IDENTIFIER.fullmatch(Path(name).stem) or Path(name).name != name:
        raise SchemaFileError(file, "currency_table", "a file name next to the mapping")
    path = folder / name
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if not {"ref_area", "currency"} <= set(reader.fieldnames or []):
                raise SchemaFileError(name, "header", "needs ref_area,currency")
            table = {row["ref_area"].strip(): row["currency"].strip() for row in reader}
    except FileNotFoundError as exc:
        raise SchemaFileError(file, "currency_table", f"{name} is missing") from exc
    for area, currency in table.items():
        if not re.fullmatch(r"[A-Z]{3}", area) or not re.fullmatch(
            r"[A-Z]{3}", currency
        ):
            raise SchemaFileError(name, area, "ISO 3166 alpha-3 and ISO 4217 codes")
    return table


def _unit_rules(
    raw: Any,
    file: str,
    variables: Mapping[str, Variable],
    rule_names: Sequence[str] | None,
) -> tuple[UnitRule, ...]:
    out = []
    for i, value in enumerate(require_sequence(raw, file, "unit_rules")):
        where = f"unit_rules[{i}]"
        item = require_mapping(value, file, where)
        _check_keys(item, {"rule", "identity", "bound", "requires"}, file, where)
        rule = str(item.get("rule", ""))
        if rule_names is not None and rule not in rule_names:
            raise SchemaFileError(
                file, f"{where}.rule", f"{rule!r} is not in schemas/rules/"
            )
        forms = [k for k in ("identity", "bound", "requires") if k in item]
        if len(forms) != 1:
            raise SchemaFileError(file, where, "needs one of identity, bound, requires")
        form = forms[0]
        spec = require_mapping(item[form], file, f"{where}.{form}")
        _check_keys(spec, {"lhs", "rhs"}, file, f"{where}.{form}")
        lhs = _known(spec.get("lhs"), variables, file, f"{where}.{form}.lhs")
        rhs = spec.get("rhs")
        if form == "identity":
            terms = tuple(
                (_known(k, variables, file, f"{where}.{form}.rhs"), int(c))
                for k, c in require_mapping(rhs, file, f"{where}.{form}.rhs").items()
            )
        else:
            terms = ((_known(rhs, variables, file, f"{where}.{form}.rhs"), 1),)
        out.append(UnitRule(rule=rule, form=form, lhs=lhs, terms=terms))
    return tuple(out)


def _series(
    raw: Any,
    file: str,
    variables: Mapping[str, Variable],
    codelists: Mapping[str, frozenset[str]],
) -> tuple[Series, ...]:
    out: list[Series] = []
    keys: set[tuple[Any, ...]] = set()
    allowed = {"measure", "sum", "unit_measure", *SERIES_CODES}
    for i, value in enumerate(require_sequence(raw, file, "series")):
        where = f"series[{i}]"
        item = require_mapping(value, file, where)
        _check_keys(item, allowed, file, where)
        measure = str(item.get("measure", ""))
        if measure not in codelists["measure"]:
            raise SchemaFileError(
                file, f"{where}.measure", f"unknown measure {measure!r}"
            )
        terms = tuple(
            _known(t, variables, file, f"{where}.sum")
            for t in require_sequence(item.get("sum") or [], file, f"{where}.sum")
        )
        if (measure == COUNT_MEASURE) != (not terms):
            raise SchemaFileError(
                file, where, "N_UNITS counts units (no sum); every other series sums"
            )
        unit = str(item.get("unit_measure", ""))
        if unit not in codelists["unit_measure"]:
            raise SchemaFileError(
                file, f"{where}.unit_measure", f"unknown unit {unit!r}"
            )
        codes = {}
        for dim in SERIES_CODES:
            code = str(item.get(dim, "_Z"))
            if code not in codelists[dim]:
                raise SchemaFileError(file, f"{where}.{dim}", f"unknown code {code!r}")
            codes[dim] = code
        decimals = {variables[t].decimals for t in terms}
        if len(decimals) > 1:
            raise SchemaFileError(
                file, f"{where}.sum", "the summed variables differ in decimals"
            )
        key = (measure, *codes.values())
        if key in keys:
            raise SchemaFileError(file, where, f"repeats the series {key}")
        keys.add(key)
        out.append(
            Series(
                id=f"s{i:02d}",
                measure=measure,
                terms=terms,
                unit_measure=unit,
                codes=codes,
                decimals=decimals.pop() if decimals else 0,
                may_be_negative=any(variables[t].may_be_negative for t in terms),
            )
        )
    if sum(s.is_count for s in out) != 1:
        raise SchemaFileError(file, "series", "exactly one N_UNITS series is required")
    return tuple(out)


def _breakdowns(
    raw: Any,
    file: str,
    series: Sequence[Series],
    dimensions: Mapping[str, DimensionSource],
) -> tuple[Breakdown, ...]:
    out = []
    measures = {s.measure for s in series}
    ids: set[str] = set()
    for i, value in enumerate(require_sequence(raw, file, "breakdowns")):
        where = f"breakdowns[{i}]"
        item = require_mapping(value, file, where)
        _check_keys(item, {"id", "by", "within", "measures"}, file, where)
        ident = str(item.get("id", ""))
        if not _IDENTIFIER.fullmatch(ident) or ident in ids:
            raise SchemaFileError(
                file, f"{where}.id", "a unique identifier is required"
            )
        ids.add(ident)
        by = tuple(
            str(d) for d in require_sequence(item.get("by") or [], file, f"{where}.by")
        )
        within = {
            str(d): tuple(
                str(c) for c in require_sequence(codes, file, f"{where}.within.{d}")
            )
            for d, codes in require_mapping(
                item.get("within") or {}, file, f"{where}.within"
            ).items()
        }
        for dim in (*by, *within):
            if dim not in BREAKDOWN_DIMENSIONS:
                raise SchemaFileError(file, where, f"cannot group by {dim!r}")
            if dim not in dimensions:
                raise SchemaFileError(file, where, f"{dim!r} is not a mapped dimension")
        coop = {"coop_type", "coop_level"} & set(by)
        if coop and within.get("sse_entity") != ("COOP",):
            raise SchemaFileError(
                file,
                where,
                "coop_type and coop_level apply to cooperatives only: "
                "add within: {sse_entity: [COOP]}",
            )
        wanted = frozenset(
            str(m)
            for m in require_sequence(
                item.get("measures") or [], file, f"{where}.measures"
            )
        )
        unknown = sorted(wanted - measures)
        if unknown:
            raise SchemaFileError(file, f"{where}.measures", f"no series for {unknown}")
        out.append(
            Breakdown(id=ident, by=by, within=within, measures=wanted | {COUNT_MEASURE})
        )
    return tuple(out)


# ------------------------------------------------------------------ helpers


def _codelists(schemas_dir: Path) -> dict[str, frozenset[str]]:
    folder = schemas_dir / "harmonised" / "codelists"
    names = ("measure", "unit_measure", *SERIES_CODES)
    return {n: frozenset(load_codelist(folder / f"{n}.csv").labels) for n in names}


def _known(value: Any, variables: Mapping[str, Variable], file: str, where: str) -> str:
    name = str(value)
    if name not in variables:
        raise SchemaFileError(file, where, f"{name!r} is not a declared variable")
    return name


def _column(value: Any, file: str, where: str) -> str:
    name = str(value)
    if not _IDENTIFIER.fullmatch(name):
        raise SchemaFileError(
            file, where, f"{name!r} is not a column name ([A-Za-z_][A-Za-z0-9_]*)"
        )
    return name


def _check_keys(
    raw: Mapping[str, Any], allowed: set[str], file: str, where: str
) -> None:
    for key in raw:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise SchemaFileError(file, path, f"unknown key {key!r}")
