"""Level-1 row rules on the harmonised frame (schema.md §8.3): the entry point.

:func:`check_rows` evaluates every rule that judges observations one by one
(or, for key uniqueness, against each other): code lists, units, currencies,
multipliers, signs and ranges, the flag logic of §6.3 and the "given"
warnings. Rules between several observations (identities, hierarchies,
plausibility, disclosure) live in ``relations.py``.

**Which engine.** Rules GX can express row by row are compiled from
``schemas/rules/*.yaml`` and run by Great Expectations (``gx.py``; the issue
asks for GX Core 1.x suites on pandas frames). The rules below are evaluated
here in pandas because GX cannot say them without cascading or guessing:

* ``code_in_codelist`` for REGION: ``_T``/``_U``, an ISO 3166-2 code whose
  prefix is the row's REF_AREA, or a NUTS code of an EU/EEA country: the valid
  set depends on another cell of the row (GX's in-set takes one fixed set).
* ``sse_entity_nat_registered``: the subgroup must be registered for the row's
  REF_AREA *and* SSE_ENTITY (three cells against a code list's attributes).
* ``key_is_unique``: reported on the *second* occurrence, naming the first;
  GX's compound-unique flags every occurrence.
* ``count_is_whole``: judged exactly with ``Decimal`` from ``obs_value_text``
  in base units (``2.8`` with UNIT_MULT 6 is whole), which floats cannot do.
* ``time_period_plausible``: a year compared with today, only for four-digit
  years (``time_period_is_year`` reports the others); GX's pandas
  ``row_condition`` would need ``.str`` calls that depend on pandas' query
  engine.

``small_cell_not_flagged`` (schema.md §10) is defined in ``relations.yaml`` and
evaluated by ``relations.py``, which already groups cells across rows.

**No cascades.** An unreadable value (``obs_value`` NaN, ``obs_value_text``
kept: ``obs_value_is_number`` reported it) is not applicable for every rule
that reads the value. A cell whose code failed ``code_in_codelist`` or
``unit_mult_allowed`` makes the rules that read that cell not applicable for
the row. Findings on one cell (a code shared by the observations of a wide
national line) are reported once.

Values are untrusted: they are compared and quoted (control characters
escaped), never evaluated, and never spliced into a query or SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from sse_stats.errors import Finding
from sse_stats.ingest.read import escape_text
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue
from sse_stats.validate.gx import (
    CellReporter,
    RuleTally,
    assess,
    compile_suite,
    run_suite,
    standard_codes,
)

_NUTS_SHAPE = re.compile(r"[A-Z]{2}[0-9A-Z]{1,3}")
_YEAR = re.compile(r"[0-9]{4}")


@dataclass(frozen=True, slots=True)
class RowRulesResult:
    """Findings of the row rules and, per rule, (passes, fails, not_applicable).

    Counts are per observation (one row of the harmonised frame).
    """

    findings: list[Finding] = field(default_factory=list)
    outcomes: dict[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass(slots=True)
class _Context:
    """What a pandas rule needs: the frame, how to report, which cells are bad."""

    frame: pd.DataFrame
    schema: Schema
    catalogue: RuleCatalogue
    reporter: CellReporter
    invalid: dict[str, set[int]]

    def params(self, rule: str) -> Mapping[str, Any]:
        return self.catalogue[rule].kwargs

    def usable(self, pos: int, *columns: str) -> bool:
        """No input cell of the row failed a code rule."""
        return not any(pos in self.invalid.get(c, ()) for c in columns)

    def texts(self, column: str) -> list[str | None]:
        return [self.reporter.text(i, column) for i in range(len(self.frame))]


_Outcome = tuple[list[Finding], tuple[int, int, int]]


# --------------------------------------------------------------------------------------
# REGION (the pandas part of code_in_codelist)
# --------------------------------------------------------------------------------------


def _alpha2(ref_area: str) -> str | None:
    import pycountry

    country = pycountry.countries.get(alpha_3=ref_area)
    return None if country is None else str(country.alpha_2)


def _is_subdivision(code: str) -> bool:
    import pycountry

    return pycountry.subdivisions.get(code=code) is not None  # type: ignore[no-untyped-call]


def _region_verdict(
    region: str, ref_area: str, nuts: Mapping[str, str]
) -> tuple[bool, str]:
    """Whether a REGION code belongs to REF_AREA, and what would be expected."""
    alpha2 = _alpha2(ref_area)
    expected = [f"an ISO 3166-2 code {alpha2}-…"]
    if region.startswith(f"{alpha2}-") and _is_subdivision(region):
        return True, ""
    prefix = nuts.get(ref_area)
    if prefix:
        expected.append(f"a NUTS code {prefix}…")
        if _NUTS_SHAPE.fullmatch(region) and region.startswith(prefix):
            return True, ""
    return False, ", ".join(expected)


def check_regions(ctx: _Context) -> tuple[list[Finding], set[int]]:
    """REGION codes against ISO 3166-2 / NUTS for the row's REF_AREA.

    Returns the findings and the failing observations (rows with an unknown
    REF_AREA are left to the REF_AREA finding).
    """
    params = ctx.params("code_in_codelist").get("pandas") or {}
    special_list = str(params.get("region_special", "region_special"))
    special = set(ctx.schema.codelists[special_list].labels)
    nuts = {str(k): str(v) for k, v in (params.get("nuts_prefix") or {}).items()}
    countries = standard_codes("iso3166_1")
    regions, areas = ctx.texts("region"), ctx.texts("ref_area")
    verdicts: dict[tuple[str, str], tuple[bool, str]] = {}
    findings, failing = [], set()
    for pos, (region, area) in enumerate(zip(regions, areas, strict=True)):
        if region in special:
            continue
        if area not in countries or not ctx.usable(pos, "ref_area"):
            continue
        text = region or ""
        verdict = verdicts.get((text, area))
        if verdict is None:
            verdict = verdicts[(text, area)] = _region_verdict(text, area, nuts)
        if verdict[0]:
            continue
        failing.add(pos)
        findings.append(
            ctx.reporter.finding(
                "code_in_codelist",
                pos,
                "REGION",
                f'value "{escape_text(text)}" is not a region of {area} (expected '
                f"{verdict[1]}, or {' / '.join(sorted(special))})",
            )
        )
    return findings, failing


# --------------------------------------------------------------------------------------
# Pandas rules
# --------------------------------------------------------------------------------------


def check_sse_entity_nat(ctx: _Context) -> _Outcome:
    """SSE_ENTITY_NAT is _T/_Z or registered for this REF_AREA and SSE_ENTITY."""
    rule = "sse_entity_nat_registered"
    params = ctx.params(rule)
    codelist = ctx.schema.codelists[str(params.get("codelist", "sse_entity_nat"))]
    always = {str(c) for c in params.get("always_valid", ["_T", "_Z"])}
    nats, areas, groups = (
        ctx.texts("sse_entity_nat"),
        ctx.texts("ref_area"),
        ctx.texts("sse_entity"),
    )
    by_owner: dict[tuple[str, str], list[str]] = {}
    for code in codelist.labels:
        if code not in always:
            owner = (
                codelist.attribute(code, "ref_area"),
                codelist.attribute(code, "parent"),
            )
            by_owner.setdefault(owner, []).append(code)
    findings: list[Finding] = []
    passes = na = 0
    for pos, (nat, area, group) in enumerate(zip(nats, areas, groups, strict=True)):
        if nat in always:
            passes += 1
            continue
        registered = by_owner.get((area or "", group or ""), [])
        where = f"{escape_text(area or '')} under {escape_text(group or '')}"
        if nat not in codelist:
            hint = ", ".join(registered) if registered else "none is registered"
            detail = (
                f'value "{escape_text(nat or "")}" is not a national subgroup '
                f"registered in {codelist.concept}.csv for {where} "
                f"({hint}; _T for the whole group)"
            )
        elif not ctx.usable(pos, "ref_area", "sse_entity"):
            na += 1
            continue
        elif nat is None or nat in registered:
            passes += 1
            continue
        else:
            detail = (
                f'"{nat}" is registered for {codelist.attribute(nat, "ref_area")} '
                f"under "
                f"{codelist.attribute(nat, 'parent')}, not for {where}"
            )
        findings.append(ctx.reporter.finding(rule, pos, "SSE_ENTITY_NAT", detail))
    return findings, (passes, len(findings), na)


def _key_frame(ctx: _Context) -> pd.DataFrame:
    params = ctx.params("key_is_unique")
    frame = ctx.frame
    columns = [d.lower() for d in ctx.schema.dimensions] + ["measure"]
    key = pd.DataFrame({c: frame[c] for c in columns})
    for measure, attribute in (params.get("also") or {}).items():
        key[f"{attribute}@{measure}"] = frame[str(attribute)].where(
            frame["measure"] == measure
        )
    key["per"] = frame[str(params.get("per", "edition"))]
    return key


def _key_text(ctx: _Context, pos: int) -> str:
    shown = []
    for comp in (
        *ctx.schema.dimensions,
        "MEASURE",
        "UNIT_STATE",
        "SHARE_BASE",
        "EDITION",
    ):
        text = ctx.reporter.text(pos, comp.lower())
        if text is not None and text != "_Z":
            shown.append(f"{comp} {escape_text(text)}")
    return ", ".join(shown)


def check_key_unique(ctx: _Context) -> _Outcome:
    """One observation per key and edition; reported on the second occurrence."""
    rule = "key_is_unique"
    key = _key_frame(ctx)
    groups = (
        key.groupby(list(key.columns), dropna=False, sort=False).ngroup().to_numpy()
    )
    first: dict[int, int] = {}
    findings = []
    for pos, group in enumerate(groups.tolist()):
        seen = first.setdefault(group, pos)
        if seen == pos:
            continue
        rep = ctx.reporter
        where = (
            f"row {rep.row(seen)}"
            if rep.row(seen) != rep.row(pos)
            else f'column "{rep.column(seen, "OBS_VALUE")}" of this row'
        )
        findings.append(
            rep.finding(
                rule,
                pos,
                None,
                f"the observation key repeats {where} ({_key_text(ctx, pos)}); "
                "one value per key and EDITION",
            )
        )
    return findings, (len(groups) - len(findings), len(findings), 0)


def check_count_whole(ctx: _Context) -> _Outcome:
    """Counts are whole in base units (``Decimal`` from the published text)."""
    rule = "count_is_whole"
    measures = {str(m) for m in ctx.params(rule).get("measures", [])}
    rep = ctx.reporter
    findings = []
    passes = 0
    for pos, measure in enumerate(rep.values("measure")):
        text, mult = rep.text(pos, "obs_value_text"), rep.text(pos, "unit_mult")
        if (
            measure not in measures
            or text is None
            or mult is None
            or _missing_number(rep.values("obs_value")[pos])
            or not ctx.usable(pos, "measure", "unit_mult")
        ):
            continue
        try:
            base = Decimal(text).scaleb(int(mult))
        except (InvalidOperation, ValueError):
            continue
        if base == base.to_integral_value():
            passes += 1
            continue
        findings.append(
            rep.finding(
                rule,
                pos,
                "OBS_VALUE",
                f'value "{escape_text(text)}" with UNIT_MULT {mult} is '
                f"{base.normalize():f} in "
                f"base units; {measure} is a count and must be a whole number",
            )
        )
    return findings, (passes, len(findings), len(ctx.frame) - passes - len(findings))


def _missing_number(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or (isinstance(value, float) and np.isnan(value))
    )


def check_time_period(ctx: _Context) -> _Outcome:
    """A four-digit TIME_PERIOD is not after the current year."""
    rule = "time_period_plausible"
    now = datetime.now(tz=UTC).year
    findings = []
    passes = 0
    for pos, text in enumerate(ctx.texts("time_period")):
        if text is None or not _YEAR.fullmatch(text):
            continue
        if int(text) <= now:
            passes += 1
            continue
        findings.append(
            ctx.reporter.finding(
                rule,
                pos,
                "TIME_PERIOD",
                f'TIME_PERIOD "{text}" is after the current year ({now}); '
                "is it a keying error?",
            )
        )
    return findings, (passes, len(findings), len(ctx.frame) - passes - len(findings))


PANDAS_RULES: Mapping[str, Callable[[_Context], _Outcome]] = {
    "sse_entity_nat_registered": check_sse_entity_nat,
    "key_is_unique": check_key_unique,
    "count_is_whole": check_count_whole,
    "time_period_plausible": check_time_period,
}


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def _deduplicated(findings: list[Finding]) -> list[Finding]:
    """One finding per rule and cell (observations of a wide line share codes)."""
    seen: set[tuple[str, int | None, str | None]] = set()
    out = []
    for f in findings:
        key = (f.rule, f.row, f.column)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return sorted(
        out, key=lambda f: (f.row is not None, f.row or 0, f.rule, f.column or "")
    )


def check_rows(
    frame: pd.DataFrame,
    *,
    schema: Schema,
    catalogue: RuleCatalogue,
    file: str,
    origins: Mapping[str, str],
    country: str | None,
) -> RowRulesResult:
    """Evaluate the level-1 row rules on a harmonised frame.

    Args:
        frame: the harmonised frame of one submission (docs/architecture.md).
        schema: the harmonised schema (code lists, measures, components).
        catalogue: the rule catalogue; every finding is built through it.
        file: the submitted file's name, for the findings.
        origins: template component → the submitted column it came from.
        country: the country the file is checked as (``--country`` or the
            mapping's), or ``None``.

    Returns:
        Findings sorted by line, and (passes, fails, not_applicable) per rule.

    Examples:
        >>> from pathlib import Path
        >>> from sse_stats.schema.load import cached_schema
        >>> from sse_stats.validate.catalogue import cached_rules
        >>> schema = cached_schema(Path("schemas").resolve())
        >>> cat = cached_rules(Path("schemas/rules").resolve())
        >>> empty = pd.DataFrame(columns=["ref_area", "source_row"])
        >>> check_rows(empty, schema=schema, catalogue=cat, file="a.csv", origins={},
        ...            country=None).findings
        []
    """
    suite = compile_suite(catalogue, schema, country=country)
    rules = ("code_in_codelist", *suite.rules, *PANDAS_RULES)
    n = len(frame)
    if n == 0:
        return RowRulesResult(findings=[], outcomes=dict.fromkeys(rules, (0, 0, 0)))
    frame = frame.reset_index(drop=True)
    reporter = CellReporter(frame, catalogue=catalogue, file=file, origins=origins)
    ctx = _Context(
        frame=frame, schema=schema, catalogue=catalogue, reporter=reporter, invalid={}
    )
    findings: list[Finding] = []
    region_failing: set[int] = set()
    region_crashed = False
    try:
        region_findings, region_failing = check_regions(ctx)
        findings += region_findings
    except Exception as exc:  # a crashing rule is a finding; the others still run
        region_crashed = True
        findings.append(
            reporter.crash("code_in_codelist", f"REGION: {type(exc).__name__}: {exc}")
        )
    assessment = assess(
        run_suite(frame, suite),
        suite,
        reporter=reporter,
        schema=schema,
        invalid={"region": region_failing},
    )
    findings += assessment.findings
    ctx.invalid = assessment.invalid
    codes = assessment.tallies.setdefault("code_in_codelist", RuleTally(applicable=n))
    codes.failing |= region_failing
    codes.applicable = max(codes.applicable, n)
    codes.crashed = codes.crashed or region_crashed
    outcomes = {rule: tally.outcome(n) for rule, tally in assessment.tallies.items()}
    for rule, evaluate in PANDAS_RULES.items():
        try:
            found, counts = evaluate(ctx)
        except Exception as exc:  # a crashing rule is a finding; the others still run
            findings.append(reporter.crash(rule, f"{type(exc).__name__}: {exc}"))
            counts = (0, 1, max(n - 1, 0))
            found = []
        findings += found
        outcomes[rule] = counts
    for rule in rules:
        outcomes.setdefault(rule, (0, 0, n))
    return RowRulesResult(findings=_deduplicated(findings), outcomes=outcomes)
