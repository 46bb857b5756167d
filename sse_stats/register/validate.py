"""Unit-level validation of a register, in DuckDB SQL (no Python loop over units).

Rules are in ``schemas/rules/register.yaml``; their severity decides whether a
failing unit blocks the register (error) or is reported and aggregated as it is.

* :func:`check_units` scans the register once: for every rule on the values of
  a unit (presence of the identifier, numbers, signs, the mapping's identities
  and bounds) it counts the failing units and keeps the first ``limit`` of them
  by line (``arg_min(…, __row, limit)``, a bounded aggregate); a second scan
  lists repeated identifiers only when there are any.
* :func:`check_codes` judges codes on the distinct code combinations of the
  fine aggregation (every unit of a combination shares its codes), so a code
  rule costs nothing per unit; the failing units are listed by a targeted scan
  only when a code fails.

A finding names the register file, the line (CSV: physical line, header = 1;
Parquet: 1-based record number), the register column, the value and the unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from sse_stats.errors import Finding
from sse_stats.ingest.read import escape_text
from sse_stats.register.mapping import RegisterMapping, UnitRule, Variable
from sse_stats.register.source import Units, quoted, register_format
from sse_stats.schema.load import load_codelist
from sse_stats.validate.catalogue import RuleCatalogue

UNKNOWN = "_U"
NOT_APPLICABLE = "_Z"
Outcome = tuple[int, int, int]
"""(passes, fails, not_applicable), counted in units (per column where several)."""
Partition = tuple[str, str]
"""A country and year: the harmonised REF_AREA and TIME_PERIOD codes of a unit."""

_YEAR = re.compile(r"[0-9]{4}")
_CODE_DIMENSIONS = ("sse_entity", "coop_type", "coop_level", "activity", "inst_sector")


@dataclass(slots=True)
class RegisterValidation:
    """Findings (capped per rule), outcomes (every unit counted) and what to fix.

    ``recode`` maps a dimension to the codes read as ``_U`` when a non-blocking
    code rule failed; ``negative`` names the variables with a negative value
    (their contributions are then taken in absolute value), ``empty`` those
    with an empty or unreadable value (they add 0).
    """

    findings: list[Finding] = field(default_factory=list)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    recode: dict[str, dict[str, str]] = field(default_factory=dict)
    negative: set[str] = field(default_factory=set)
    empty: set[str] = field(default_factory=set)
    units: int = 0
    by_partition: dict[Partition, RegisterValidation] = field(default_factory=dict)
    """The same per country and year (harmonised REF_AREA, TIME_PERIOD codes):
    each is judged, blocked and published on its own."""

    def add(
        self, rule: str, outcome: Outcome, partition: Partition | None = None
    ) -> None:
        """Add counts to a rule's outcome (and to its partition's, if given)."""
        old = self.outcomes.get(rule, (0, 0, 0))
        self.outcomes[rule] = (
            old[0] + outcome[0],
            old[1] + outcome[1],
            old[2] + outcome[2],
        )
        if partition is not None:
            self.part(partition).add(rule, outcome)

    def part(self, partition: Partition) -> RegisterValidation:
        """The validation of one country and year (created empty if new)."""
        return self.by_partition.setdefault(partition, RegisterValidation())

    def add_finding(self, partition: Partition, finding: Finding) -> None:
        """A finding of a unit of ``partition``."""
        self.findings.append(finding)
        self.part(partition).findings.append(finding)

    def blocked_partitions(self, catalogue: RuleCatalogue) -> set[Partition]:
        """Countries and years where a rule of severity error failed."""
        return {p for p, v in self.by_partition.items() if v.blocked(catalogue)}

    def failing(
        self, catalogue: RuleCatalogue, severity: str = "error"
    ) -> dict[str, int]:
        """Units failing each rule of ``severity`` (all of them, not only listed)."""
        return {
            rule: fails
            for rule, (_, fails, _) in sorted(self.outcomes.items())
            if fails and catalogue[rule].severity == severity
        }

    def blocked(self, catalogue: RuleCatalogue) -> bool:
        """Whether a rule of severity error failed for any unit."""
        return bool(self.failing(catalogue)) or any(
            f.severity == "error" for f in self.findings
        )


@dataclass(frozen=True, slots=True)
class _Check:
    rule: str
    column: str
    fails: str
    not_applicable: str
    texts: tuple[str, ...]
    describe: Any  # (texts) -> str


# ------------------------------------------------------------------ unit values


def check_units(
    con: duckdb.DuckDBPyConnection,
    units: Units,
    catalogue: RuleCatalogue,
    *,
    limit: int = 50,
) -> RegisterValidation:
    """Rules on the values of each unit, per country and year.

    One scan counts, per country and year, for every check, the failing and
    not-applicable units (``count_if`` only: cheap) and the distinct
    identifiers. An identifier is unique within its country and year (a unit
    is in every year of a panel). Integer identifiers in a bounded range
    (:func:`_id_range`) are first counted over the whole file with a bitmap (a
    scan of one column): when none repeats, none repeats in any country and
    year; otherwise, and for other identifiers, a hash table counts them per
    country and year. Only when a check fails does another scan list its first
    ``limit`` units by line, per country and year.
    """
    result = RegisterValidation()
    mapping, path = units.mapping, units.path
    checks = _checks(mapping)
    cte, params = units.sql()
    bare, bare_params = units.sql(row_numbers=False)
    selects = ["d_ref_area", "d_time_period", "count(*)", "count(__uid)"]
    for check in checks:
        selects += [_count_if(check.fails), _count_if(check.not_applicable)]
    id_range = _id_range(con, units)
    if id_range is None:
        selects.append("count(DISTINCT __uid)")
    rows = con.execute(
        f"{bare} SELECT {', '.join(selects)} FROM units GROUP BY ALL",  # noqa: S608
        bare_params,
    ).fetchall()
    if id_range is not None:
        rows = _with_distinct_ids(con, bare, bare_params, id_range, rows)
    failing: dict[int, _Check] = {}
    repeats = False
    for row in rows:
        partition = (str(row[0]), str(row[1]))
        count, with_id = int(row[2]), int(row[3])
        result.units += count
        result.part(partition).units += count
        for i, check in enumerate(checks):
            fails, na = int(row[4 + 2 * i]), int(row[5 + 2 * i])
            result.add(check.rule, (count - fails - na, fails, na), partition)
            if fails:
                failing[i] = check
                if check.rule == "register_value_not_negative":
                    result.negative.add(check.column)
                if check.rule == "register_value_is_number":
                    result.empty.add(check.column)
        repeated = with_id - int(row[-1] or 0)
        repeats = repeats or repeated > 0
        result.add(
            "register_unit_id_unique",
            (with_id - repeated, repeated, count - with_id),
            partition,
        )
    if failing:
        _list_failing(
            con, path, catalogue, sorted(failing.items()), cte, params, limit, result
        )
    if repeats:
        _repeated_ids(con, mapping, path, catalogue, cte, params, limit, result)
    return result


_BARE_COLUMN = re.compile(r'"[^"]+"|__uid')


def _count_if(condition: str) -> str:
    """``count_if(condition)``; ``x IS NULL`` of a column as ``count(*) - count(x)``.

    The same count, but DuckDB answers ``count(x)`` of a Parquet column with no
    empty value from the file's statistics (about a tenth of the scan at 10M
    units).
    """
    column = condition.removesuffix(" IS NULL")
    if column != condition and _BARE_COLUMN.fullmatch(column):
        return f"(count(*) - count({column}))"
    return f"count_if({condition})"


_INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
)
_BITMAP_BITS = 1 << 28
"""Widest identifier range counted with a bitmap (32 MiB); wider ones are hashed."""


def _id_range(con: duckdb.DuckDBPyConnection, units: Units) -> tuple[int, int] | None:
    """(lowest, highest) identifier when a bitmap can count distinct ones.

    Only for integer identifiers (a text "007" and "7" are different units)
    whose range fits :data:`_BITMAP_BITS`; Parquet answers from its statistics.
    The whole file's range is taken, so a partition's identifiers fit too.
    """
    kind = str(units.types.get(units.mapping.unit_id, "VARCHAR")).upper()
    if kind not in _INTEGER_TYPES or register_format(units.path) != "parquet":
        return None
    row = con.execute(
        f"SELECT min({quoted(units.mapping.unit_id)}), "  # noqa: S608
        f"max({quoted(units.mapping.unit_id)}) FROM read_parquet($file)",
        {"file": str(units.path)},
    ).fetchone()
    if row is None or row[0] is None or int(row[1]) - int(row[0]) >= _BITMAP_BITS:
        return None
    return int(row[0]), int(row[1])


def _with_distinct_ids(
    con: duckdb.DuckDBPyConnection,
    bare: str,
    params: dict[str, object],
    id_range: tuple[int, int],
    rows: list[tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
    """``rows`` with the distinct identifiers of each country and year appended.

    One bitmap over the file: if no identifier repeats anywhere, each country
    and year has as many distinct identifiers as identifiers. Otherwise they
    are counted per country and year (a hash table, only then).
    """
    total = con.execute(
        f"{bare} SELECT count(__uid), "  # noqa: S608
        "bit_count(bitstring_agg(__uid, $id_low, $id_high)) FROM units",
        {**params, "id_low": id_range[0], "id_high": id_range[1]},
    ).fetchone()
    if total is not None and int(total[0]) == int(total[1] or 0):
        return [(*row, row[3]) for row in rows]
    per_partition = con.execute(
        f"{bare} SELECT d_ref_area, d_time_period, count(DISTINCT __uid) "  # noqa: S608
        "FROM units GROUP BY ALL",
        params,
    ).fetchall()
    distinct = {(str(a), str(y)): int(n) for a, y, n in per_partition}
    return [(*row, distinct[(str(row[0]), str(row[1]))]) for row in rows]


def _list_failing(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    catalogue: RuleCatalogue,
    failing: list[tuple[int, _Check]],
    cte: str,
    params: dict[str, object],
    limit: int,
    result: RegisterValidation,
) -> None:
    """The first ``limit`` failing units of each failing check, capped per rule
    and per country and year."""
    selects = ["d_ref_area", "d_time_period"]
    for i, check in failing:
        texts = ", ".join(f"CAST({t} AS VARCHAR)" for t in check.texts) or "NULL"
        selects.append(
            f"arg_min(struct_pack(r := __row, u := CAST(__uid AS VARCHAR), "
            f"v := [{texts}]), __row, {int(limit)}) "
            f"FILTER (WHERE {check.fails}) AS l{i}"
        )
    rows = con.execute(
        f"{cte} SELECT {', '.join(selects)} FROM units GROUP BY ALL",  # noqa: S608
        params,
    ).fetchall()
    for row in rows:
        partition = (str(row[0]), str(row[1]))
        per_rule: dict[str, list[tuple[int, Finding]]] = {}
        for (_, check), listed in zip(failing, row[2:], strict=True):
            for item in listed or []:
                values = [None if t is None else str(t) for t in item["v"]]
                detail = f'unit "{_text(item["u"])}": {check.describe(values)}'
                finding = catalogue.finding(
                    check.rule,
                    file=path.name,
                    row=int(item["r"]),
                    column=check.column,
                    value=None if not values or values[0] is None else _text(values[0]),
                    detail=detail,
                )
                per_rule.setdefault(check.rule, []).append((int(item["r"]), finding))
        for rule in sorted(per_rule):
            ordered = sorted(per_rule[rule], key=lambda p: (p[0], p[1].column or ""))
            for _, finding in ordered[:limit]:
                result.add_finding(partition, finding)


def _checks(mapping: RegisterMapping) -> list[_Check]:
    uid = mapping.unit_id
    checks = [
        _Check(
            rule="register_unit_id_present",
            column=uid,
            fails="__uid IS NULL",
            not_applicable="false",
            texts=(),
            describe=lambda texts: "the unit has no identifier",
        )
    ]
    for variable in mapping.variables.values():
        v, t = quoted("v_" + variable.name), quoted("t_" + variable.name)
        checks.append(
            _Check(
                rule="register_value_is_number",
                column=variable.name,
                fails=f"{v} IS NULL",
                not_applicable="false",
                texts=(t,),
                describe=_not_a_number(variable),
            )
        )
        if not variable.may_be_negative:
            checks.append(
                _Check(
                    rule="register_value_not_negative",
                    column=variable.name,
                    fails=f"{v} < 0",
                    not_applicable=f"{v} IS NULL",
                    texts=(t,),
                    describe=lambda texts, k=variable.kind: (
                        f'value "{_text(texts[0])}" is negative ({k} cannot be)'
                    ),
                )
            )
    for rule in mapping.unit_rules:
        checks.append(_rule_check(rule, mapping.variables))
    return checks


def _not_a_number(variable: Variable) -> Any:
    def describe(texts: list[str | None]) -> str:
        if texts[0] is None or not texts[0].strip():
            return "the value is empty"
        return (
            f'value "{_text(texts[0])}" is not a number with at most '
            f"{variable.decimals} decimals"
        )

    return describe


def _rule_check(rule: UnitRule, variables: Mapping[str, Variable]) -> _Check:
    """SQL for a mapping rule, all terms at the finest decimals of its columns."""
    finest = max(variables[c].decimals for c in rule.columns)

    def term(name: str) -> str:
        factor = 10 ** (finest - variables[name].decimals)
        column = quoted("v_" + name)
        return column if factor == 1 else f"({column} * {factor})"

    lhs = term(rule.lhs)
    na = " OR ".join(f"{quoted('v_' + c)} IS NULL" for c in rule.columns)
    texts = tuple(quoted("t_" + c) for c in rule.columns)
    if rule.form == "identity":
        rhs = " + ".join(f"({k}) * {term(name)}" for name, k in rule.terms)
        fails = f"{lhs} <> ({rhs})"
        formula = _formula(rule.terms)

        def describe(values: list[str | None]) -> str:
            shown = ", ".join(
                f"{name} {_text(v)}"
                for (name, _), v in zip(rule.terms, values[1:], strict=True)
            )
            return f'{rule.lhs} "{_text(values[0])}" is not {formula} ({shown})'

    elif rule.form == "bound":
        right = rule.terms[0][0]
        fails = f"{lhs} > {term(right)}"

        def describe(values: list[str | None]) -> str:
            return (
                f'{rule.lhs} "{_text(values[0])}" is above {right} {_text(values[1])}'
            )

    else:
        right = rule.terms[0][0]
        fails = f"{lhs} > 0 AND {term(right)} <= 0"

        def describe(values: list[str | None]) -> str:
            return f'{rule.lhs} "{_text(values[0])}" but {right} is {_text(values[1])}'

    return _Check(
        rule=rule.rule,
        column=rule.lhs,
        fails=f"({fails})",
        not_applicable=f"({na})",
        texts=texts,
        describe=describe,
    )


def _formula(terms: Sequence[tuple[str, int]]) -> str:
    parts = []
    for i, (name, k) in enumerate(terms):
        sign = ("+ " if k > 0 else "− ") if i else ("" if k > 0 else "− ")
        parts.append(f"{sign}{name if abs(k) == 1 else f'{abs(k)} × {name}'}")
    return " ".join(parts)


def _repeated_ids(
    con: duckdb.DuckDBPyConnection,
    mapping: RegisterMapping,
    path: Path,
    catalogue: RuleCatalogue,
    cte: str,
    params: dict[str, object],
    limit: int,
    result: RegisterValidation,
) -> None:
    """One finding per later occurrence of an identifier within its country and
    year, naming the first line (the first ``limit`` of each)."""
    sql = (
        f"{cte} SELECT d_ref_area, d_time_period, CAST(__uid AS VARCHAR) AS uid, "  # noqa: S608
        "first_row, r FROM ("
        " SELECT d_ref_area, d_time_period, __uid, min(__row) AS first_row,"
        f" list(__row ORDER BY __row)[2:{int(limit) + 1}] AS later"
        " FROM units WHERE __uid IS NOT NULL GROUP BY ALL HAVING count(*) > 1"
        ") CROSS JOIN unnest(later) AS t(r) QUALIFY row_number() OVER "
        f"(PARTITION BY d_ref_area, d_time_period ORDER BY r) <= {int(limit)} "
        "ORDER BY r"
    )
    for area, year, uid, first, row in con.execute(sql, params).fetchall():
        result.add_finding(
            (str(area), str(year)),
            catalogue.finding(
                "register_unit_id_unique",
                file=path.name,
                row=int(row),
                column=mapping.unit_id,
                value=_text(uid),
                detail=f'unit "{_text(uid)}" repeats the unit of row {int(first)}',
            ),
        )


# ------------------------------------------------------------------ codes


@dataclass(frozen=True, slots=True)
class CodeSets:
    """Codes a unit may carry, per dimension (``_T`` never: a unit is in a cell)."""

    codes: Mapping[str, frozenset[str]]
    currencies: Mapping[str, str]


def code_sets(schemas_dir: Path, mapping: RegisterMapping) -> CodeSets:
    """The allowed codes of each dimension a register carries."""
    folder = schemas_dir / "harmonised" / "codelists"
    codes: dict[str, frozenset[str]] = {}
    for dim in _CODE_DIMENSIONS:
        listed = set(load_codelist(folder / f"{dim}.csv").labels) - {"_T"}
        if dim == "sse_entity":
            listed -= {"NATECON", UNKNOWN, NOT_APPLICABLE}
        elif dim not in ("coop_type", "coop_level"):
            listed -= {NOT_APPLICABLE}
        codes[dim] = frozenset(listed)
    return CodeSets(codes=codes, currencies=mapping.currencies)


def check_codes(
    con: duckdb.DuckDBPyConnection,
    fine: str,
    units: Units,
    catalogue: RuleCatalogue,
    codes: CodeSets,
    result: RegisterValidation,
    *,
    limit: int = 50,
) -> None:
    """Judge the codes of the fine cells (table ``fine``); list failing units.

    Counted per country and year, like every rule; the units of a country and
    year whose REF_AREA or TIME_PERIOD is itself wrong form their own (blocked)
    country and year.
    """
    mapping = units.mapping
    dims = ["ref_area", "time_period", *mapping.grouped_dimensions]
    for dim in dims:
        combos = _distinct(con, fine, dim)
        bad = [c for c in combos if not _valid(dim, c, codes)]
        _count("register_code_in_codelist", combos, bad, result)
        if not bad:
            continue
        if dim not in ("ref_area", "time_period"):
            recode = result.recode.setdefault(dim, {})
            for combo in bad:
                recode[str(combo[2])] = UNKNOWN
        _list_units(
            con,
            units,
            catalogue,
            "register_code_in_codelist",
            dim,
            [(str(c[0]), str(c[1]), str(c[2])) for c in bad],
            limit=limit,
            describe=lambda code, d=dim: _bad_code(d, code, codes),
            result=result,
        )
    if "sse_entity" in dims:
        for dim in ("coop_type", "coop_level"):
            if dim not in dims:
                continue
            combos = _distinct(con, fine, "sse_entity", dim)
            bad = [
                c
                for c in combos
                if (c[2] == "COOP") == (c[3] == NOT_APPLICABLE)
                and c[3] not in result.recode.get(dim, {})
            ]
            _count("register_coop_codes_apply", combos, bad, result)
            if not bad:
                continue
            _list_units(
                con,
                units,
                catalogue,
                "register_coop_codes_apply",
                dim,
                [(str(c[0]), str(c[1]), str(c[2]), str(c[3])) for c in bad],
                limit=limit,
                describe=lambda code, d=dim: (
                    f'{d} "{_text(code)}" '
                    + (
                        "for a cooperative"
                        if code == NOT_APPLICABLE
                        else "for a unit that is not a cooperative (expected _Z)"
                    )
                ),
                result=result,
                with_entity=True,
            )


def _count(
    rule: str,
    combos: list[tuple[Any, ...]],
    bad: list[tuple[Any, ...]],
    result: RegisterValidation,
) -> None:
    """Add each country and year's units (passing, failing) to ``rule``.

    ``combos`` are distinct rows (a GROUP BY), so a bad one is found by value.
    """
    totals: dict[Partition, list[int]] = {}
    failing = set(bad)
    for combo in combos:
        counts = totals.setdefault((str(combo[0]), str(combo[1])), [0, 0])
        counts[0] += int(combo[-1])
        if combo in failing:
            counts[1] += int(combo[-1])
    for partition, (total, fails) in totals.items():
        result.add(rule, (total - fails, fails, 0), partition)


def _distinct(
    con: duckdb.DuckDBPyConnection, fine: str, *dims: str
) -> list[tuple[Any, ...]]:
    """(REF_AREA, TIME_PERIOD, *codes of ``dims``, units) of the fine cells."""
    cols = ", ".join(quoted("d_" + d) for d in dims)
    rows = con.execute(
        f'SELECT "d_ref_area", "d_time_period", {cols}, sum(n) FROM {fine} '  # noqa: S608
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    return [tuple(r[:-1]) + (int(r[-1]),) for r in rows]


def _valid(dim: str, combo: tuple[Any, ...], codes: CodeSets) -> bool:
    """``combo`` = (REF_AREA, TIME_PERIOD, code of ``dim``, units)."""
    code = str(combo[2])
    if dim == "ref_area":
        return (
            code in codes.currencies if codes.currencies else _alpha2(code) is not None
        )
    if dim == "time_period":
        return bool(_YEAR.fullmatch(code))
    if dim == "region":
        return code == UNKNOWN or _is_region_of(code, str(combo[0]))
    return code in codes.codes[dim]


def _bad_code(dim: str, code: str, codes: CodeSets) -> str:
    if not code:
        return f"{dim.upper()} is empty"
    if dim == "ref_area":
        return f'REF_AREA "{_text(code)}" has no currency in the country table'
    if dim == "time_period":
        return f'TIME_PERIOD "{_text(code)}" is not a year (YYYY)'
    if dim == "region":
        return f'REGION "{_text(code)}" is not an ISO 3166-2 subdivision of REF_AREA'
    return f'{dim.upper()} "{_text(code)}" is not in codelists/{dim}.csv'


def _list_units(
    con: duckdb.DuckDBPyConnection,
    units: Units,
    catalogue: RuleCatalogue,
    rule: str,
    dim: str,
    keys: Iterable[tuple[str, ...]],
    *,
    limit: int,
    describe: Any,
    result: RegisterValidation,
    with_entity: bool = False,
) -> None:
    """The first ``limit`` units (by line) of each country and year whose codes
    are one of ``keys`` ((REF_AREA, TIME_PERIOD, [SSE_ENTITY,] code of ``dim``))."""
    mapping, path = units.mapping, units.path
    cte, params = units.sql()
    dims = ["ref_area", "time_period", *(["sse_entity"] if with_entity else []), dim]
    bad = pd.DataFrame(list(keys), columns=[f"b{i}" for i in range(len(dims))])
    name = "__bad_codes"
    con.register(name, bad)
    try:
        on = " AND ".join(
            f"{quoted('d_' + d)} = {name}.b{i}" for i, d in enumerate(dims)
        )
        sql = (
            f"{cte} SELECT d_ref_area, d_time_period, __row, "  # noqa: S608
            f"CAST(__uid AS VARCHAR), {quoted('d_' + dim)} "
            f"FROM units SEMI JOIN {name} ON {on} QUALIFY row_number() OVER "
            f"(PARTITION BY d_ref_area, d_time_period ORDER BY __row) <= {int(limit)} "
            "ORDER BY __row"
        )
        rows = con.execute(sql, params).fetchall()
    finally:
        con.unregister(name)
    source = mapping.dimensions[dim]
    column = source.column or dim.upper()
    for area, year, row, uid, code in rows:
        result.add_finding(
            (str(area), str(year)),
            catalogue.finding(
                rule,
                file=path.name,
                row=int(row),
                column=column,
                value=_text(str(code)),
                detail=f'unit "{_text(str(uid))}": {describe(str(code))}',
            ),
        )


@lru_cache(maxsize=512)
def _alpha2(ref_area: str) -> str | None:
    import pycountry

    country = pycountry.countries.get(alpha_3=ref_area)
    return None if country is None else str(country.alpha_2)


@lru_cache(maxsize=8192)
def _is_region_of(region: str, ref_area: str) -> bool:
    import pycountry

    alpha2 = _alpha2(ref_area)
    return (
        alpha2 is not None
        and region.startswith(f"{alpha2}-")
        and pycountry.subdivisions.get(code=region) is not None  # type: ignore[no-untyped-call]
    )


def _text(value: object) -> str:
    return "" if value is None else escape_text(str(value))
