"""The Great Expectations half of the level-1 row rules (schema.md §8.3).

**What runs here.** Every level-1 rule of ``schemas/rules/*.yaml`` that names an
``expectation`` (or whose ``kwargs.cases`` do): rules that judge one
observation from the cells of its own row. In ``core.yaml`` these are the code
lists (``code_in_codelist``, REGION aside), ``country_matches``, units and
currencies (``unit_matches_measure``, ``currency_given``,
``unit_mult_allowed``), ``volunteers_not_in_employment``, the sign and range
rules (``value_not_negative``, ``p51g_not_negative``, ``share_in_range``),
``share_base_given``, the six flag rules of §6.3 and the ``*_given``
warnings. The issue asks for rules compiled to GX Core 1.x suites run on
pandas frames; these are the rules GX can say row by row.

**What does not** (``rowrules.py``, in pandas): rules GX cannot express row by
row without cascading or guessing: key uniqueness reported on the *second*
occurrence, whole counts judged exactly with ``Decimal`` in base units, REGION
codes whose ISO 3166-2 prefix must match the row's REF_AREA, national subgroups
registered for this REF_AREA *and* SSE_ENTITY, and a year compared with today.

**Compile.** Each rule compiles 1:1 (``expectation`` + ``kwargs``, conventions
at the top of ``core.yaml``) into expectations carrying
``meta={"rule": name, "case": key}``. Value sets are resolved at compile time
from the schema (``{codelist: sse_entity}``), pycountry (ISO 3166-1, ISO 4217)
or the country being checked; row conditions are pandas query strings written
in the YAML, never built from submitted values. Compiled suites are cached per
schema, catalogue and country.

**Run.** GX import and context creation take seconds, so one ephemeral context
per process is created lazily and reused (progress bars off, no Data Docs; GX
1.24.1 as installed here ships no analytics client). Each call validates the
suite on one batch: first with ``BOOLEAN_ONLY`` (pass or fail, for every
expectation), then the expectations that failed again with ``result_format``
COMPLETE, whose ``unexpected_index_column_names`` give ``source_row`` and a
helper ``row_id`` (the frame position): a line of a wide national layout holds
several observations, so its number alone does not say which cell failed. GX
spends about 10 ms per expectation on bookkeeping whatever the frame size, and
COMPLETE doubles it; a clean file never pays for the second pass.

**Row conditions.** GX 1.24.1's pandas ``row_condition`` works, but it re-runs
``DataFrame.query`` (a resolver for every column, then a copy of the frame) for
every metric of every conditional expectation: 22 of them took 0.55 s of a
0.77 s run on 500 rows. So each distinct condition of the YAML is evaluated
once here, with the same ``DataFrame.query``, and GX judges a masked copy of
the column (null outside the condition, or for ``ExpectColumnValuesToNotBeNull``
a filler): the same verdicts, and exact counts of the rows each rule judged. A
helper column ``value_state`` (present, empty, unreadable) lets conditions skip
a value ``obs_value_is_number`` already reported.

**Crashes.** GX does not raise when an expectation fails to compute: it returns
``success=False`` with ``exception_info`` (stack.md pitfall 6). Such a rule, or
one that cannot be compiled, becomes one error finding on that rule (row
``None``); the other rules still run (schema.md §8.1).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sse_stats.errors import Finding
from sse_stats.ingest.read import escape_text
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import Rule, RuleCatalogue

ROW_ID = "row_id"
VALUE_STATE = "value_state"
PRESENT, EMPTY, UNREADABLE = "present", "empty", "unreadable"
RESULT_FORMAT: Mapping[str, Any] = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["source_row", ROW_ID],
    "return_unexpected_index_query": False,
}
#: Rules whose failures make a cell's code unusable for the rules that read it.
CODE_RULES = ("code_in_codelist", "unit_mult_allowed")
#: Components whose findings cite the value cell (national layouts put flags there).
FLAG_COMPONENTS = frozenset({"OBS_STATUS", "OBS_STATUS_NAT", "CONF_STATUS"})
STANDARDS = {"iso3166_1": "ISO 3166-1 alpha-3", "iso4217": "ISO 4217"}

_COMPILE_KEYS = frozenset({"cases", "pandas", "message", "report", "expectation"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SUITE_CACHE: dict[
    tuple[int, int, str | None], tuple[Schema, RuleCatalogue, CompiledSuite]
] = {}


class CompileError(Exception):
    """A rule's expectation cannot be built from its YAML."""


class _NotApplicable(Exception):
    """The rule cannot be evaluated in this run (e.g. no country was given)."""


# --------------------------------------------------------------------------------------
# Reference code lists
# --------------------------------------------------------------------------------------


@cache
def standard_codes(name: str) -> frozenset[str]:
    """Codes of an external standard, from pycountry.

    Examples:
        >>> "PRT" in standard_codes("iso3166_1"), "EUR" in standard_codes("iso4217")
        (True, True)
    """
    import pycountry

    if name == "iso3166_1":
        return frozenset(str(c.alpha_3) for c in pycountry.countries)
    if name == "iso4217":
        return frozenset(str(c.alpha_3) for c in pycountry.currencies)
    raise CompileError(f"unknown standard {name!r}")


def codelist_codes(schema: Schema, name: str) -> frozenset[str]:
    """Ids of ``codelists/<name>.csv`` or of a standard (``iso3166_1``, ``iso4217``)."""
    if name in STANDARDS:
        return standard_codes(name)
    if name not in schema.codelists:
        raise CompileError(f"code list {name!r} is not in schemas/harmonised/codelists")
    return frozenset(schema.codelists[name].labels)


def codelist_label(names: Sequence[str]) -> str:
    """How a union of code lists is named in messages."""
    return " or ".join(STANDARDS.get(n, n) for n in names)


def code_hint(value: str | None, codes: Iterable[str]) -> str:
    """Closest codes to a wrong one, or the list itself when it is short.

    Examples:
        >>> code_hint("coop", ["COOP", "MUTUAL"])
        'closest: COOP'
        >>> code_hint("COOP'; DROP TABLE x;--", ["COOP", "MUTUAL"])
        'closest: COOP'
    """
    pool = sorted(codes)
    upper = {c.upper(): c for c in pool}
    text = (value or "").strip().upper()
    if text in upper:
        return f"closest: {upper[text]}"
    near = difflib.get_close_matches(text, list(upper), n=3, cutoff=0.6)
    if not near:
        near = sorted(
            (c for c in upper if len(c) >= 2 and text.startswith(c)),
            key=len,
            reverse=True,
        )[:1]
    if near:
        return "closest: " + ", ".join(upper[c] for c in near)
    if len(pool) <= 12:
        return "expected one of " + ", ".join(pool)
    return f"none of its {len(pool)} codes is close"


# --------------------------------------------------------------------------------------
# Compile
# --------------------------------------------------------------------------------------

#: How a row_condition is applied; GX judges a masked copy of the column (run_suite).
#: ``null``/``not_null``: every row of the condition is judged, nulls included;
#: ``map``: non-null cells; ``pair``: two columns; ``native``: GX's own row_condition.
Kind = str
_ELEMENTWISE_NATIVE = frozenset(
    {
        "ExpectColumnValuesToBeUnique",
        "ExpectColumnValuesToBeIncreasing",
        "ExpectColumnValuesToBeDecreasing",
        "ExpectColumnValuesToNotBeOutliers",
    }
)


def _kind(expectation: str) -> Kind:
    if expectation == "ExpectColumnValuesToBeNull":
        return "null"
    if expectation == "ExpectColumnValuesToNotBeNull":
        return "not_null"
    if expectation.startswith("ExpectColumnPairValues"):
        return "pair"
    if (
        expectation.startswith("ExpectColumnValues")
        and expectation not in _ELEMENTWISE_NATIVE
    ):
        return "map"
    return "native"


@dataclass(frozen=True, slots=True)
class CompiledCase:
    """One GX expectation and what a finding from it says and cites.

    ``columns`` are the harmonised columns the expectation judges; GX reads
    ``gx_columns`` (the same, or masked copies when the case has a condition).
    """

    rule: str
    key: str
    expectation: Any
    kind: Kind
    columns: tuple[str, ...]
    gx_columns: tuple[str, ...]
    report: str
    message: str
    condition: str | None = None
    ignore_row_if: str = "both_values_are_missing"
    inputs: frozenset[str] = frozenset()
    codes: frozenset[str] = frozenset()
    codelist: str = ""


@dataclass(frozen=True, slots=True)
class CompiledSuite:
    """Every GX rule of a catalogue, compiled for one schema and country."""

    cases: tuple[CompiledCase, ...]
    rules: tuple[str, ...]
    broken: Mapping[str, str] = field(default_factory=dict)
    skipped: frozenset[str] = frozenset()
    gx_suite: Any = None


def is_gx_rule(rule: Rule) -> bool:
    """A level-1 rule evaluated by Great Expectations (it names an expectation).

    Rules limited to some ``countries`` are not evaluated here yet.
    """
    if rule.level != 1 or rule.countries:
        return False
    cases = rule.kwargs.get("cases")
    by_case = isinstance(cases, list) and any(
        isinstance(c, Mapping) and "expectation" in c for c in cases
    )
    return rule.expectation is not None or by_case


def _expectation_classes() -> Any:
    import great_expectations.expectations as gxe

    return gxe


def _value_set(
    spec: Any, schema: Schema, column: str, country: str | None
) -> tuple[list[Any], frozenset[str], str]:
    """Resolve a ``value_set`` reference; return it, its codes and its label."""
    if isinstance(spec, list):
        return spec, frozenset(str(v) for v in spec), ", ".join(str(v) for v in spec)
    reference = (
        {k: v for k, v in spec.items() if k != "also"}
        if isinstance(spec, Mapping)
        else {}
    )
    if len(reference) != 1:
        raise CompileError(f"value_set {spec!r} is neither a list nor one reference")
    also = [str(v) for v in spec.get("also") or []]
    kind, arg = next(iter(reference.items()))
    if kind == "codelist":
        names = [arg] if isinstance(arg, str) else [str(a) for a in arg]
        if names == ["concepts"]:
            comp = schema.component(column.upper())
            if not comp.codelist:
                raise CompileError(f"concepts.yaml names no code list for {comp.id}")
            names = [comp.codelist]
        codes = frozenset().union(*(codelist_codes(schema, n) for n in names))
        label = codelist_label([*names, *also])
    elif kind == "measures" and arg == "money":
        codes, label = (
            frozenset(m.id for m in schema.measures.values() if m.is_money),
            "money measures",
        )
    elif kind == "argument" and arg == "country":
        if country is None:
            raise _NotApplicable
        codes, label = frozenset({country}), country
    else:
        raise CompileError(f"unknown value_set reference {spec!r}")
    codes |= frozenset(also)
    return sorted(codes), codes, label


def _pairs(spec: Any) -> list[tuple[Any, ...]]:
    if isinstance(spec, list):
        return [tuple(p) for p in spec]
    raise CompileError(f"value_pairs_set {spec!r} must be a list of pairs")


def _case_kwargs(rule: Rule) -> list[tuple[str, dict[str, Any]]]:
    """(expectation, merged kwargs) of each case, one per column of a fan-out."""
    base = {k: v for k, v in rule.kwargs.items() if k not in ("cases", "pandas")}
    cases = rule.kwargs.get("cases") or [{}]
    if not isinstance(cases, list):
        raise CompileError("kwargs.cases must be a list")
    out = []
    for case in cases:
        if not isinstance(case, Mapping):
            raise CompileError("every case must be a mapping")
        merged = {**base, **case}
        name = merged.pop("expectation", rule.expectation)
        if not name:
            raise CompileError("no expectation named")
        columns = merged.get("column")
        for column in columns if isinstance(columns, list) else [columns]:
            out.append((str(name), {**merged, "column": column} if column else merged))
    return out


def _compile_case(
    rule: Rule,
    index: int,
    name: str,
    kwargs: dict[str, Any],
    schema: Schema,
    country: str | None,
    known_columns: frozenset[str],
) -> CompiledCase:
    gx_kwargs = {k: v for k, v in kwargs.items() if k not in _COMPILE_KEYS}
    column_keys = [k for k in ("column", "column_A", "column_B") if k in gx_kwargs]
    columns = tuple(str(gx_kwargs[k]) for k in column_keys)
    codes: frozenset[str] = frozenset()
    label = ""
    if "value_set" in gx_kwargs:
        gx_kwargs["value_set"], codes, label = _value_set(
            gx_kwargs["value_set"], schema, columns[0] if columns else "", country
        )
    if "value_pairs_set" in gx_kwargs:
        gx_kwargs["value_pairs_set"] = _pairs(gx_kwargs["value_pairs_set"])
    key = f"{rule.name}#{index}"
    kind = _kind(name)
    condition = gx_kwargs.get("row_condition")
    gx_columns = columns
    if condition is not None and kind == "native":
        gx_kwargs.setdefault("condition_parser", "pandas")
    elif condition is not None:
        # GX 1.24.1 re-runs DataFrame.query for every metric of a conditional
        # expectation; the condition is evaluated once in run_suite instead.
        gx_kwargs.pop("row_condition")
        gx_kwargs.pop("condition_parser", None)
        if kind == "pair" and gx_kwargs.get("ignore_row_if") == "neither":
            raise CompileError(
                "a pair expectation with a row_condition cannot use "
                "ignore_row_if: neither"
            )
        gx_columns = tuple(f"{c}@{key}" for c in columns)
        gx_kwargs.update(zip(column_keys, gx_columns, strict=True))
    cls = getattr(_expectation_classes(), name, None)
    if not isinstance(cls, type):
        raise CompileError(f"{name} is not a Great Expectations expectation")
    try:
        expectation = cls(**gx_kwargs, meta={"rule": rule.name, "case": key})
    except Exception as exc:  # pydantic rejects unknown or ill-typed kwargs
        raise CompileError(f"{name}: {exc}") from exc
    used = set(columns) | set(_IDENTIFIER.findall(str(condition or "")))
    return CompiledCase(
        rule=rule.name,
        key=key,
        expectation=expectation,
        kind=kind,
        columns=columns,
        gx_columns=gx_columns,
        report=str(kwargs.get("report") or (columns[0].upper() if columns else "")),
        message=str(kwargs.get("message") or f"{rule.label} ({name} failed)"),
        condition=None if condition is None else str(condition),
        ignore_row_if=str(kwargs.get("ignore_row_if") or "both_values_are_missing"),
        inputs=frozenset(used & known_columns),
        codes=codes,
        codelist=label,
    )


def compile_suite(
    catalogue: RuleCatalogue, schema: Schema, *, country: str | None
) -> CompiledSuite:
    """Compile every GX rule of ``catalogue`` into one suite (cached).

    A rule that cannot be compiled is listed in ``broken`` (it becomes a crash
    finding); a rule that needs an argument not given (``country_matches``
    without a country) is listed in ``skipped`` (not applicable).
    """
    cache_key = (id(catalogue), id(schema), country)
    hit = _SUITE_CACHE.get(cache_key)
    if hit is not None and hit[0] is schema and hit[1] is catalogue:
        return hit[2]
    from great_expectations import ExpectationSuite

    known = frozenset(c.curated_name for c in schema.components) | {
        "obs_value_text",
        "source_row",
        "source_column",
        VALUE_STATE,
    }
    cases: list[CompiledCase] = []
    broken: dict[str, str] = {}
    skipped: set[str] = set()
    rules = tuple(r.name for r in catalogue.values() if is_gx_rule(r))
    for name in rules:
        rule = catalogue[name]
        try:
            cases += [
                _compile_case(rule, i, expectation, kwargs, schema, country, known)
                for i, (expectation, kwargs) in enumerate(_case_kwargs(rule))
            ]
        except _NotApplicable:
            skipped.add(name)
        except (CompileError, KeyError) as exc:
            broken[name] = f"its expectation could not be compiled: {exc}"
    suite = CompiledSuite(
        cases=tuple(cases),
        rules=rules,
        broken=broken,
        skipped=frozenset(skipped),
        gx_suite=ExpectationSuite(
            name="sse_stats_row_rules", expectations=[c.expectation for c in cases]
        ),
    )
    if len(_SUITE_CACHE) >= 16:
        _SUITE_CACHE.clear()
    _SUITE_CACHE[cache_key] = (schema, catalogue, suite)
    return suite


# --------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What GX said about one expectation.

    ``domain``: the observations the case judged (``None`` for a native
    condition, then ``applicable`` is GX's count); ``failing``: frame
    positions; ``crash``: why it could not be evaluated.
    """

    case: CompiledCase
    failing: tuple[int, ...] = ()
    domain: BoolArray | None = None
    applicable: int = 0
    crash: str | None = None


@cache
def _runtime() -> Any:
    """The process's ephemeral context's pandas batch definition (created once)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(
        globally=False, metric_calculations=False
    )
    return (
        context.data_sources.add_pandas("submission")
        .add_dataframe_asset("observations")
        .add_batch_definition_whole_dataframe("all")
    )


def warm_up() -> None:
    """Import GX and create the process's context now rather than on first use."""
    _runtime()


def value_states(frame: pd.DataFrame) -> pd.Series:
    """``present``, ``empty`` or ``unreadable`` (text kept, no number) per row."""
    present = frame["obs_value"].notna().to_numpy()
    empty = frame["obs_value_text"].isna().to_numpy()
    states = np.where(present, PRESENT, np.where(empty, EMPTY, UNREADABLE))
    return pd.Series(states, index=frame.index, dtype="str")


def _crash_message(result: Any) -> str | None:
    info = result.exception_info or {}
    if not isinstance(info, Mapping):
        return None
    candidates = [info, *(v for v in info.values() if isinstance(v, Mapping))]
    for item in candidates:
        if item.get("raised_exception"):
            return str(item.get("exception_message") or "unknown error")
    return None


def _condition_mask(data: pd.DataFrame, condition: str) -> BoolArray:
    """Rows a YAML row_condition selects, evaluated as GX would (DataFrame.query)."""
    mask = np.zeros(len(data), dtype=bool)
    mask[data.query(condition, parser="pandas").index.to_numpy()] = True
    return mask


def _masked(values: pd.Series, mask: BoolArray, kind: Kind) -> pd.Series:
    """The column as GX should judge it: outside the condition, a cell GX skips."""
    if kind == "not_null":  # a filler GX accepts (a non-null value)
        filler: Any = 0 if pd.api.types.is_numeric_dtype(values) else "-"
        return values.where(mask, filler)
    return values.where(mask)


def _domain(case: CompiledCase, data: pd.DataFrame, condition: BoolArray) -> BoolArray:
    """The observations a case judges (for the not_applicable counts)."""
    if case.kind in ("null", "not_null"):
        return condition
    given: list[BoolArray] = [data[c].notna().to_numpy(bool) for c in case.columns]
    if case.kind == "pair" and case.ignore_row_if == "neither":
        return condition
    if case.kind == "pair" and case.ignore_row_if == "either_value_is_missing":
        return np.logical_and(condition, np.logical_and.reduce(given))
    return np.logical_and(condition, np.logical_or.reduce(given))


def _prepare(
    frame: pd.DataFrame, suite: CompiledSuite
) -> tuple[pd.DataFrame, dict[str, BoolArray], dict[str, str]]:
    """The frame GX validates, each case's domain, and cases that cannot run."""
    n = len(frame)
    data = frame.reset_index(drop=True)
    data = data.assign(**{VALUE_STATE: value_states(data)})
    masks: dict[str, BoolArray | str] = {}
    columns: dict[str, Any] = {"source_row": data["source_row"], ROW_ID: np.arange(n)}
    domains: dict[str, BoolArray] = {}
    crashed: dict[str, str] = {}
    native = False
    for case in suite.cases:
        condition: BoolArray | str = np.ones(n, dtype=bool)
        if case.condition is not None:
            if case.condition not in masks:
                try:
                    masks[case.condition] = _condition_mask(data, case.condition)
                except Exception as exc:  # a broken condition in the YAML
                    masks[case.condition] = (
                        f"row_condition failed: {type(exc).__name__}: {exc}"
                    )
            condition = masks[case.condition]
        missing = [c for c in case.columns if c not in data.columns]
        if isinstance(condition, str) or missing:
            crashed[case.key] = (
                condition
                if isinstance(condition, str)
                else f"no column {', '.join(missing)}"
            )
            continue
        native = native or case.kind == "native"
        for column, gx_column in zip(case.columns, case.gx_columns, strict=True):
            if gx_column not in columns:
                columns[gx_column] = (
                    data[column]
                    if gx_column == column
                    else _masked(data[column], condition, case.kind)
                )
        if case.kind != "native":
            domains[case.key] = _domain(case, data, condition)
    base = data if native else data[[]]
    # GX copies the whole frame for every metric (null filtering); numpy object
    # columns copy several times faster than pandas 3's pyarrow strings.
    gx_frame = base.assign(**columns)
    text = [c for c in gx_frame.columns if pd.api.types.is_string_dtype(gx_frame[c])]
    return gx_frame.astype(dict.fromkeys(text, object)), domains, crashed


def _case_of(item: Any, by_key: Mapping[str, CompiledCase]) -> CompiledCase | None:
    return by_key.get(str((item.expectation_config.meta or {}).get("case")))


def _validate(frame: pd.DataFrame, suite: CompiledSuite) -> tuple[list[Any], list[Any]]:
    """Two passes over one batch: every case cheaply, then the failing ones in full.

    Pass 1 (BOOLEAN_ONLY) answers pass/fail for the whole suite at about half
    the cost of COMPLETE, which GX spends mostly on per-expectation bookkeeping.
    Pass 2 (COMPLETE, with ``unexpected_index_column_names``) lists the failing
    rows of the cases that failed, and of native conditions (whose counts only
    GX knows). A clean submission never pays for pass 2.
    """
    from great_expectations import ExpectationSuite

    batch = _runtime().get_batch(batch_parameters={"dataframe": frame})
    first = batch.validate(
        suite.gx_suite, result_format={"result_format": "BOOLEAN_ONLY"}
    )
    by_key = {c.key: c for c in suite.cases}
    again = []
    for item in first.results:
        case = _case_of(item, by_key)
        if (
            case is not None
            and _crash_message(item) is None
            and (not item.success or case.kind == "native")
        ):
            again.append(copy.copy(case.expectation))
    if not again:
        return list(first.results), []
    second = batch.validate(
        ExpectationSuite(name="sse_stats_row_rules_failing", expectations=again),
        result_format=dict(RESULT_FORMAT),
    )
    return list(first.results), list(second.results)


def run_suite(frame: pd.DataFrame, suite: CompiledSuite) -> list[CaseResult]:
    """Validate ``frame`` against the whole suite; one result per case.

    Row conditions are evaluated here, once each, and GX judges masked copies
    of the columns (a cell outside the condition is null, or for
    ``ExpectColumnValuesToNotBeNull`` a filler), so GX's answer is the same as
    with its own ``row_condition`` at a fraction of the cost. Never raises: a
    crash of the whole run is reported on every case.
    """
    if not suite.cases:
        return []
    by_key = {c.key: c for c in suite.cases}
    try:
        data, domains, crashed = _prepare(frame, suite)
        first, second = _validate(data, suite)
    except Exception as exc:  # anything GX raises must not stop the other rules
        why = f"{type(exc).__name__}: {exc}"
        return [CaseResult(case=c, crash=why) for c in suite.cases]
    results: dict[str, CaseResult] = {
        k: CaseResult(case=by_key[k], crash=why) for k, why in crashed.items()
    }
    for item in [*second, *first]:  # full results first; pass 1 fills in the rest
        case = _case_of(item, by_key)
        if case is None or case.key in results:
            continue
        crash = _crash_message(item)
        res = item.result or {}
        failing = tuple(
            sorted({int(d[ROW_ID]) for d in res.get("unexpected_index_list") or []})
        )
        if crash is None and not item.success and not failing:
            crash = "Great Expectations reported a failure without failing rows"
        if crash is not None:
            results[case.key] = CaseResult(case=case, crash=crash)
            continue
        counted = int(res.get("element_count") or 0) - int(
            res.get("missing_count") or 0
        )
        results[case.key] = CaseResult(
            case=case,
            failing=failing,
            domain=domains.get(case.key),
            applicable=max(counted, 0),
        )
    return [
        results.get(c.key)
        or CaseResult(case=c, crash="Great Expectations returned no result")
        for c in suite.cases
    ]


# --------------------------------------------------------------------------------------
# Results to findings (shared with rowrules.py)
# --------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    )


class CellReporter:
    """Builds findings that point at the submitted cell of an observation.

    ``column``: the value cell (``source_column``) for OBS_VALUE; for the flags,
    their own submitted column when the file has one (``origins``), else the
    value cell they are attached to; for other components ``origins`` (the
    template id when the file did not carry the component).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        catalogue: RuleCatalogue,
        file: str,
        origins: Mapping[str, str],
    ) -> None:
        self.frame, self.catalogue, self.file, self.origins = (
            frame,
            catalogue,
            file,
            origins,
        )
        self._columns: dict[str, list[Any]] = {}

    def values(self, column: str) -> list[Any]:
        """A frame column as a Python list (cached)."""
        if column not in self._columns:
            self._columns[column] = self.frame[column].tolist()
        return self._columns[column]

    def text(self, pos: int, column: str) -> str | None:
        """The text of a harmonised cell (``None`` when empty)."""
        value = self.values(column)[pos]
        return None if _missing(value) else str(value)

    def cited_text(self, pos: int, component: str) -> str | None:
        """The submitted text of a component (OBS_VALUE as published)."""
        column = "obs_value_text" if component == "OBS_VALUE" else component.lower()
        return self.text(pos, column)

    def column(self, pos: int, component: str) -> str:
        """The submitted column a finding about ``component`` names."""
        if component == "OBS_VALUE":
            return self.text(pos, "source_column") or component
        if component in FLAG_COMPONENTS:
            return (
                self.origins.get(component)
                or self.text(pos, "source_column")
                or component
            )
        return self.origins.get(component, component)

    def row(self, pos: int) -> int:
        """The 1-based line of the submitted file."""
        return int(self.values("source_row")[pos])

    def is_column_of_file(self, component: str) -> bool:
        """Whether the file carries the component in a column of its own."""
        return (
            component in self.origins
            or component == "OBS_VALUE"
            or (component in FLAG_COMPONENTS)
        )

    def finding(
        self, rule: str, pos: int, component: str | None, detail: str
    ) -> Finding:
        """A finding on one observation; ``component`` None for the whole line."""
        value = None if component is None else self.cited_text(pos, component)
        return self.catalogue.finding(
            rule,
            file=self.file,
            row=self.row(pos),
            column=None if component is None else self.column(pos, component),
            value=None if value is None else escape_text(value),
            detail=detail,
        )

    def crash(self, rule: str, why: str) -> Finding:
        """One error finding for a rule that could not be evaluated (schema.md §8.1)."""
        found = self.catalogue.finding(
            rule,
            file=self.file,
            row=None,
            column=None,
            value=None,
            detail=f"the rule crashed and was not evaluated ({escape_text(why)}); "
            "the other rules still ran",
        )
        return dataclasses.replace(found, severity="error")


class _MessageFields(dict[str, str]):
    """Placeholders of a rule message; any harmonised column of the row on demand."""

    def __init__(
        self, reporter: CellReporter, pos: int, case: CompiledCase, schema: Schema
    ) -> None:
        super().__init__()
        self.reporter, self.pos, self.case, self.schema = reporter, pos, case, schema
        value = reporter.cited_text(pos, case.report)
        self["value"] = escape_text(value or "")
        self["codelist"] = case.codelist
        self["expected"] = case.codelist

    def __missing__(self, key: str) -> str:
        if key == "hint":
            return code_hint(
                self.reporter.cited_text(self.pos, self.case.report), self.case.codes
            )
        if key == "allowed_units":
            return allowed_units(self.schema, self.reporter.text(self.pos, "measure"))
        if key in self.reporter.frame.columns:
            return escape_text(self.reporter.text(self.pos, key) or "")
        return "{" + key + "}"


def allowed_units(schema: Schema, measure: str | None) -> str:
    """The units measure.csv allows for a measure, for messages.

    Examples:
        >>> from sse_stats.schema.model import Measure
        >>> p1 = Measure(id="P1", units=frozenset({"CURRENCY"}),
        ...              additivity="additive", may_be_negative="N")
        >>> s = Schema(structure_id="", components=(), codelists={}, applicability={},
        ...            measures={"P1": p1}, natecon_not_applicable=frozenset(),
        ...            natecon_work_cat=frozenset())
        >>> allowed_units(s, "P1")
        'XDC or an ISO 4217 currency code'
    """
    spec = schema.measures.get(measure or "")
    if spec is None:
        return "see measure.csv"
    units = sorted(u for u in spec.units if u != "CURRENCY")
    if spec.is_money:
        units.append("XDC or an ISO 4217 currency code")
    return ", ".join(units)


def render(case: CompiledCase, reporter: CellReporter, pos: int, schema: Schema) -> str:
    """The message of a failing case for one observation."""
    fields = _MessageFields(reporter, pos, case, schema)
    try:
        return case.message.format_map(fields)
    except (ValueError, IndexError, AttributeError):  # a malformed template in the YAML
        return f'{case.message} (value "{fields["value"]}")'


@dataclass(slots=True)
class RuleTally:
    """Counts of one rule over the observations of one frame."""

    applicable: int = 0
    failing: set[int] = field(default_factory=set)
    crashed: bool = False

    def outcome(self, n: int) -> tuple[int, int, int]:
        """(passes, fails, not_applicable); a crash counts as one failure."""
        fails = len(self.failing)
        if self.crashed:
            return 0, fails + 1, max(n - fails - 1, 0)
        applicable = min(max(self.applicable, fails), n)
        return applicable - fails, fails, n - applicable


@dataclass(slots=True)
class Assessment:
    """Findings and tallies of the GX rules, and the cells whose codes are wrong."""

    findings: list[Finding] = field(default_factory=list)
    tallies: dict[str, RuleTally] = field(default_factory=dict)
    invalid: dict[str, set[int]] = field(default_factory=dict)

    def usable(self, columns: Iterable[str], n: int) -> BoolArray:
        """Observations none of whose ``columns`` failed a code rule."""
        ok = np.ones(n, dtype=bool)
        for column in columns:
            bad = self.invalid.get(column)
            if bad:
                ok[list(bad)] = False
        return ok


def assess(
    results: Sequence[CaseResult],
    suite: CompiledSuite,
    *,
    reporter: CellReporter,
    schema: Schema,
    invalid: Mapping[str, set[int]],
) -> Assessment:
    """Turn GX results into findings and per-rule tallies.

    An observation whose input cell already failed a code rule (``CODE_RULES``,
    or ``invalid`` found in pandas) is not applicable for the rules that read
    that cell, so one wrong code gives one finding. A component the file does
    not carry as a column (omitted, or set by a mapping) gets one finding per
    wrong value, not one per observation.
    """
    n = len(reporter.frame)
    out = Assessment(invalid={k: set(v) for k, v in invalid.items()})
    by_rule: dict[str, list[CaseResult]] = {}
    for r in results:
        by_rule.setdefault(r.case.rule, []).append(r)
    order = [r for r in CODE_RULES if r in by_rule] + [
        r for r in by_rule if r not in CODE_RULES
    ]
    for rule in order:
        tally = out.tallies.setdefault(rule, RuleTally())
        judged = np.zeros(n, dtype=bool)
        crashes = []
        for result in by_rule[rule]:
            if result.crash is not None:
                crashes.append(result.crash)
                continue
            usable = out.usable(result.case.inputs, n)
            if result.domain is not None:
                judged |= result.domain & usable
            else:
                tally.applicable += result.applicable
            failing = [p for p in result.failing if usable[p]]
            tally.failing.update(failing)
            out.findings += _case_findings(result.case, failing, reporter, schema)
            if rule in CODE_RULES:
                out.invalid.setdefault(result.case.report.lower(), set()).update(
                    failing
                )
        tally.applicable += int(judged.sum())
        if crashes:
            tally.crashed = True
            out.findings.append(reporter.crash(rule, crashes[0]))
    for rule, why in suite.broken.items():
        out.tallies[rule] = RuleTally(crashed=True)
        out.findings.append(reporter.crash(rule, why))
    for rule in suite.skipped:
        out.tallies[rule] = RuleTally()
    return out


def _case_findings(
    case: CompiledCase, failing: Sequence[int], reporter: CellReporter, schema: Schema
) -> list[Finding]:
    if reporter.is_column_of_file(case.report):
        return [
            reporter.finding(
                case.rule, pos, case.report, render(case, reporter, pos, schema)
            )
            for pos in failing
        ]
    groups: dict[str | None, list[int]] = {}
    for pos in failing:
        groups.setdefault(reporter.cited_text(pos, case.report), []).append(pos)
    return [
        reporter.finding(
            case.rule,
            positions[0],
            case.report,
            f"{render(case, reporter, positions[0], schema)}; "
            f"{len(positions)} observation(s) "
            f"in all ({case.report} is not a column of the file)",
        )
        for positions in groups.values()
    ]
