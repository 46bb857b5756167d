"""Build satellite tables (schema.md §9) from harmonised observations and a shell.

The input is a concatenation of harmonised frames (``docs/architecture.md``),
possibly several countries and editions. :func:`build_table` applies the rules
of schema.md §9.1 in order:

1. for each REF_AREA and TIME_PERIOD, the latest EDITION containing the period
   (an empty EDITION reads as the date the submission was received);
2. the cells the shell keeps (shown dimensions, fixed dimensions, measures);
3. submitted cells win, as published, with their flags and multiplier;
4. an empty submitted cell stays empty: a suppressed cell is never re-derived;
5. absent cells only, by a formula of the shell, with flags following the inputs
   (:mod:`sse_stats.accounts.sdc`);
6. the presentation multiplier, as one named step keeping the originals
   (:mod:`sse_stats.accounts.units`).

The result is long: the observation columns plus ``is_derived``, ``derivation``,
``base_measure``, ``note``, ``obs_value_published`` and ``unit_mult_published``.
Secondary suppression across tables (§10) is :func:`sdc.protect_tables`; writing
is :mod:`sse_stats.publish`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from operator import itemgetter
from typing import Any

import pandas as pd

from sse_stats.accounts.cells import (
    SECONDARY,
    SUPPRESSED_STATUS,
    Cell,
    Key,
    cannot_exist,
    derivation_inputs,
    has_value,
    is_suppressed,
    key_of,
    level_of,
    linear_terms,
    previous_year,
    records_of,
    with_codes,
)
from sse_stats.accounts.sdc import add_note, derived_status
from sse_stats.accounts.shells import (
    KEY_COLUMNS,
    PERIMETER,
    CellSelector,
    Derivation,
    GrowthDerivation,
    LinearDerivation,
    RatioDerivation,
    ShellContext,
    TableShell,
)
from sse_stats.accounts.units import apply_presentation_multiplier, base_value
from sse_stats.schema.key import DIMENSIONS

_FREE_DIMENSIONS = frozenset({"ref_area", "time_period", "freq"})

OBSERVATION_COLUMNS: tuple[str, ...] = (
    *DIMENSIONS,
    "measure",
    "obs_value",
    "obs_value_text",
    "unit_measure",
    "unit_mult",
    "currency",
    "obs_status",
    "obs_status_nat",
    "conf_status",
    "coverage",
    "unit_state",
    "valuation_method",
    "comment_obs",
    "source_id",
    "edition",
    "share_base",
    "source_file",
    "source_sha256",
    "source_row",
    "source_column",
    "mapping_file",
)
"""The harmonised-frame columns (docs/architecture.md), in order."""

SATELLITE_COLUMNS: tuple[str, ...] = (
    *OBSERVATION_COLUMNS,
    "is_derived",
    "derivation",
    "base_measure",
    "note",
    "obs_value_published",
    "unit_mult_published",
)
"""Columns of every satellite table."""

COLUMN_DESCRIPTIONS: Mapping[str, str] = {
    "is_derived": "true when the pipeline computed the cell by a formula of the "
    "table shell; false for a cell submitted by the NSO",
    "derivation": "'<formula id>: <formula>' of a derived cell (schemas/tables/)",
    "base_measure": "the measure a ratio, share or growth cell is computed from",
    "note": "notes on the cell: coverage, valuation method, perimeter, why it is "
    "empty; '; '-separated",
    "obs_value_published": "obs_value at the table's presentation multiplier",
    "unit_mult_published": "the presentation multiplier (power of ten) of "
    "obs_value_published",
    "edition": "the edition used for this country and year (schema.md §9.1 rule 1)",
}
"""Descriptions of the columns satellite tables add (for DuckDB COMMENT ON)."""

Finding = dict[str, Any]
_PERIMETER_NOTE = (
    "SSE perimeter: {group} (no SSE total submitted, the only "
    "entity group of this country and year)"
)
_NOTE_COVERAGE = "Coverage: {label}"
_NOTE_VALUATION = "Valuation: {label}"
_NOTE_MIXED = "Inputs differ in coverage: {codes}"
_NOTE_CONFIDENTIAL_INPUT = "Suppressed: computed from a confidential cell"
_SHARE_RULE_LEVEL = 2
_SHARE_RULE_SEVERITY = "warning"


def build_table(
    observations: pd.DataFrame,
    shell: TableShell,
    *,
    received_at: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Build one satellite table (long) from harmonised observations.

    Args:
        observations: harmonised frames concatenated (any countries, editions).
        shell: the table shell (:func:`~sse_stats.accounts.shells.load_shells`).
        received_at: ``source_file → received_at`` (``meta.submissions``), read
            when a row has no EDITION.

    Returns:
        The table, one row per cell, sorted by key; empty (with every column)
        when nothing applies.

    Examples:
        >>> from pathlib import Path
        >>> from sse_stats.accounts.shells import load_shells
        >>> shell = load_shells(Path("schemas"))["t01_key_aggregates_by_entity"]
        >>> build_table(pd.DataFrame(), shell).empty
        True
    """
    return build_table_with_findings(observations, shell, received_at=received_at)[0]


def build_table_with_findings(
    observations: pd.DataFrame,
    shell: TableShell,
    *,
    received_at: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, list[Finding]]:
    """:func:`build_table`, plus level-2 findings on submitted shares.

    A submitted ``SHARE_NAT`` that differs from the share computed from the
    levels by more than their rounding gives a finding of the shell's
    ``check_submitted`` rule (``published_share_matches_levels``), as a dict with
    the contract's eight fields (schema.md §8.1).
    """
    return _build(select_editions(observations, received_at), shell)


def _build(
    pool: dict[Key, Cell], shell: TableShell, order: SortKeys | None = None
) -> tuple[pd.DataFrame, list[Finding]]:
    order = SortKeys() if order is None else order
    builder = _Builder(shell, pool, _perimeters(pool.values(), shell), order)
    cells = builder.run()
    return _frame(cells, shell, order), builder.findings


def build_tables(
    observations: pd.DataFrame,
    shells: Mapping[str, TableShell],
    *,
    received_at: Mapping[str, str] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[Finding]]:
    """Build every shell; return the tables by name and all share findings."""
    pool = select_editions(observations, received_at)  # once for every table
    order = SortKeys()  # a cell is in several tables: its sort key is made once
    tables: dict[str, pd.DataFrame] = {}
    findings: list[Finding] = []
    for name, shell in shells.items():
        tables[name], found = _build(pool, shell, order)
        findings.extend(found)
    return tables, _unique(findings)


# ---------------------------------------------------------------- rule 1


def select_editions(
    observations: pd.DataFrame, received_at: Mapping[str, str] | None = None
) -> dict[Key, Cell]:
    """The cells of the latest edition of each REF_AREA and TIME_PERIOD, by key.

    ``edition`` is set to the edition used (an empty EDITION reads as the date of
    ``received_at[source_file]``); ``base_measure`` is the ``SHARE_BASE`` of
    a submitted share. A key repeated within an edition keeps its last row.
    """
    received = received_at or {}
    records = _records(observations)
    latest: dict[tuple[Any, Any], str] = {}
    for cell in records:
        edition = (
            cell.get("edition")
            or str(received.get(str(cell.get("source_file")), ""))[:10]
            or None
        )
        cell["edition"] = edition
        cell["base_measure"] = (
            cell.get("share_base") if cell.get("measure") == "SHARE_NAT" else None
        )
        period = (cell.get("ref_area"), cell.get("time_period"))
        latest[period] = max(latest.get(period, ""), edition or "")
    pool: dict[Key, Cell] = {}
    for cell in records:
        if (cell["edition"] or "") == latest[
            (cell.get("ref_area"), cell.get("time_period"))
        ]:
            pool[key_of(cell)] = cell
    return pool


def _records(observations: pd.DataFrame) -> list[Cell]:
    frame = observations.reindex(columns=list(OBSERVATION_COLUMNS))
    cells = records_of(frame)  # empty attributes are None, column by column
    for cell in cells:
        cell["obs_value"] = _clean("obs_value", cell["obs_value"])  # None → NaN
        for column in ("unit_mult", "source_row"):
            if cell[column] is not None:
                cell[column] = int(cell[column])
    return cells


def _clean(column: object, value: Any) -> Any:
    if column == "obs_value":
        return math.nan if value is None or pd.isna(value) else float(value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if column in ("unit_mult", "source_row"):
        return int(value)
    return value


# ------------------------------------------------------ which cells a table keeps


def _perimeters(
    cells: Iterable[Cell], shell: TableShell
) -> dict[tuple[Any, Any], tuple[str, str, str | None]]:
    """``(ref_area, time_period) → (sse_entity, sse_entity_nat, note)`` (T10)."""
    rule = shell.perimeter
    if rule is None:
        return {}
    seen: dict[tuple[Any, Any], set[tuple[str, str]]] = {}
    for cell in cells:
        entity = str(cell.get("sse_entity"))
        if entity in ("NATECON", "_Z"):
            continue
        seen.setdefault((cell.get("ref_area"), cell.get("time_period")), set()).add(
            (entity, str(cell.get("sse_entity_nat")))
        )
    out: dict[tuple[Any, Any], tuple[str, str, str | None]] = {}
    for period, pairs in seen.items():
        if any(entity == rule.total for entity, _ in pairs):
            out[period] = (rule.total, "_Z", None)
            continue
        groups = {entity for entity, _ in pairs}
        if rule.fallback != "single_group" or len(groups) != 1:
            continue
        group = next(iter(groups))
        subgroups = sorted(nat for _, nat in pairs if nat != "_T")
        if any(nat == "_T" for _, nat in pairs):
            out[period] = (group, "_T", _PERIMETER_NOTE.format(group=group))
        elif len(subgroups) == 1:
            label = f"{group}/{subgroups[0]}"
            out[period] = (group, subgroups[0], _PERIMETER_NOTE.format(group=label))
    return out


class _Builder:
    """One table: selection, derivations, flags, notes."""

    def __init__(
        self,
        shell: TableShell,
        pool: dict[Key, Cell],
        perimeter: Mapping[tuple[Any, Any], tuple[str, str, str | None]],
        order: SortKeys,
    ) -> None:
        self.shell = shell
        self.context = shell.context
        self.pool = pool
        self.perimeter = perimeter
        self.order = order
        self.findings: list[Finding] = []
        self.ratio_measures = {
            d.measure: d
            for d in shell.derivations
            if isinstance(d, RatioDerivation | GrowthDerivation)
        }
        # Membership depends on a cell's key and its country-year's perimeter,
        # and only on the columns the shell names: not on REF_AREA, TIME_PERIOD
        # or FREQ, nor on a dimension shown with any code (a region), unless a
        # selector or a fixed code names it. The verdicts are shared by every
        # cell of the same signature (a hot path).
        named = {d for d, codes in shell.dimensions.items() if codes is not None}
        named |= set(shell.fixed)
        named |= {c for selector in shell.cells for c in selector.coords}
        unread = _FREE_DIMENSIONS | {
            d for d, codes in shell.dimensions.items() if codes is None
        }
        read = [c for c in KEY_COLUMNS if c not in unread or c in named]
        self._signature = itemgetter(*(_KEY_INDEX[c] for c in read))
        self._uses_perimeter = any(
            codes is not None and PERIMETER in codes
            for codes in shell.dimensions.values()
        )
        self._membership: dict[tuple[Any, ...], bool] = {}
        self._classes = _code_classes(shell, read, self._uses_perimeter)
        self._verdicts: dict[tuple[Any, ...], bool] = {}
        self._term_codes = {
            d.id: frozenset(code for code, _ in d.terms)
            for d in shell.derivations
            if isinstance(d, LinearDerivation)
        }

    def run(self) -> dict[Key, Cell]:
        table: dict[Key, Cell] = {}
        # A cell of a measure no selector or ratio names is never kept.
        measures = set(self.ratio_measures)
        for selector in self.shell.cells:
            measures |= selector.measures
        for key, cell in self.pool.items():
            if key[_MEASURE_AT] in measures and self._member(key, cell):
                table[key] = self._submitted(cell)
        working = dict(self.pool)
        by_measure: dict[Any, dict[Key, Cell]] = {}
        for key, cell in working.items():
            by_measure.setdefault(cell.get("measure"), {})[key] = cell
        for derivation in self.shell.derivations:
            for key, output in self._candidates(derivation, working, by_measure):
                if key in working or not self._member(key, output):
                    continue
                derived = self._derive(derivation, output, working)
                if derived is not None:
                    working[key] = table[key] = derived
                    by_measure.setdefault(derived.get("measure"), {})[key] = derived
            if isinstance(derivation, RatioDerivation) and derivation.check_submitted:
                self._check_shares(derivation, table, working)
        return table

    # -- membership (rules 2 and 3)

    def _member(self, key: Key, cell: Cell) -> bool:
        """Whether the table keeps ``cell`` (``key`` is its :func:`key_of`)."""
        perimeter = (
            self.perimeter.get((cell.get("ref_area"), cell.get("time_period")))
            if self._uses_perimeter
            else None
        )
        signature = (self._signature(key), perimeter)
        known = self._membership.get(signature)
        if known is None:
            # A code no shell rule names (a region outside T9) reads as any
            # other such code: one verdict for all of them.
            classes = (
                tuple(
                    key[i] if codes is None or key[i] in codes else _OTHER_CODE
                    for i, codes in self._classes
                ),
                perimeter,
            )
            known = self._verdicts.get(classes)
            if known is None:
                known = self._verdicts[classes] = self._member_uncached(cell)
            self._membership[signature] = known
        return known

    def _member_uncached(self, cell: Cell) -> bool:
        derivation = self.ratio_measures.get(str(cell.get("measure")))
        if derivation is not None:
            level = level_of(cell)
            return level.get(
                "measure"
            ) in derivation.numerator.measures and self._member_level(level)
        return self._member_level(cell)

    def _member_level(self, cell: Cell) -> bool:
        for dim, codes in self.shell.dimensions.items():
            if codes is None or cell.get(dim) == "_Z":
                continue
            if PERIMETER in codes and self._is_perimeter(cell):
                continue
            if cell.get(dim) not in codes:
                return False
        return any(self._selected_by(selector, cell) for selector in self.shell.cells)

    def _selected_by(self, selector: CellSelector, cell: Cell) -> bool:
        if not selector.matches(cell):
            return False
        for dim in DIMENSIONS:
            if dim in self.shell.dimensions or dim in selector.coords:
                continue
            if dim in ("ref_area", "time_period", "freq"):
                continue
            fixed = self.shell.fixed.get(dim, "_T")
            allowed = {fixed, "_Z"} if fixed == "_T" else {fixed}
            if cell.get(dim) not in allowed:
                return False
        return True

    def _is_perimeter(self, cell: Cell) -> bool:
        found = self.perimeter.get((cell.get("ref_area"), cell.get("time_period")))
        return (
            found is not None
            and (cell.get("sse_entity"), cell.get("sse_entity_nat")) == found[:2]
        )

    def _submitted(self, cell: Cell) -> Cell:
        out = dict(cell)
        out["is_derived"] = False
        out["derivation"] = None
        out["note"] = self._notes(out, [])
        return out

    # -- derivations (rules 4 and 5)

    def _candidates(
        self,
        derivation: Derivation,
        working: Mapping[Key, Cell],
        by_measure: Mapping[Any, Mapping[Key, Cell]],
    ) -> list[tuple[Key, Cell]]:
        """The outputs the derivation could give from the working cells, by key.

        Only cells of the measures a derivation reads can be its inputs, so
        only those are visited (``by_measure`` indexes ``working``).
        """
        outputs: dict[Key, Cell] = {}
        if isinstance(derivation, LinearDerivation):
            wanted = derivation.measures
        else:
            wanted = derivation.numerator.measures
        inputs: Iterable[tuple[Key, Cell]] = (
            working.items()
            if wanted is None
            else (
                item
                for measure in sorted(wanted)
                for item in by_measure.get(measure, {}).items()
            )
        )
        # Outputs are keyed from their input's key (no copy); many inputs give
        # the same output (every term of a sum), copied once per key.
        if isinstance(derivation, LinearDerivation):
            at = _KEY_INDEX[derivation.dimension]
            target = derivation.target
            codes: dict[str, Any] = {derivation.dimension: target}
            for key, cell in inputs:
                if key[at] not in self._terms(derivation, key):
                    continue
                output_key = (*key[:at], target, *key[at + 1 :])
                if output_key not in outputs:
                    outputs[output_key] = with_codes(cell, codes)
        else:
            share = isinstance(derivation, RatioDerivation) and derivation.share_base
            for key, cell in inputs:
                # A ratio of a ratio is not derived.
                if key[_BASE_AT] or not self._numerator(
                    derivation.numerator, key, cell
                ):
                    continue
                measure = key[_MEASURE_AT]
                # The key ends with measure, unit_state, share_base, base_measure.
                output_key = (
                    *key[:_MEASURE_AT],
                    derivation.measure,
                    key[_MEASURE_AT + 1],  # unit_state
                    measure if share else None,  # share_base
                    measure,  # base_measure
                )
                if output_key not in outputs:
                    outputs[output_key] = with_codes(
                        cell,
                        {
                            "measure": derivation.measure,
                            "base_measure": measure,
                            "share_base": measure if share else None,
                        },
                    )
        return [(k, outputs[k]) for k in sorted(outputs, key=self.order)]

    def _terms(self, derivation: LinearDerivation, key: Key) -> Collection[str]:
        """The codes of the terms of a sum, for the cell of ``key``."""
        if derivation.children_from == "exhaustive_subgroups":
            return self.context.exhaustive_subgroups(
                str(key[_REF_AREA_AT]), str(key[_ENTITY_AT])
            )
        return self._term_codes[derivation.id]

    def _numerator(self, selector: CellSelector, key: Key, cell: Cell) -> bool:
        if key[_MEASURE_AT] not in selector.measures:
            return False
        for column, match in selector.coords.items():
            if PERIMETER in match.codes and not match.negate:
                if not self._is_perimeter(cell):
                    return False
            elif not match(key[_KEY_INDEX[column]]):
                return False
        return True

    def _derive(
        self, derivation: Derivation, output: Cell, working: Mapping[Key, Cell]
    ) -> Cell | None:
        terms = derivation_inputs(derivation, output, self.context)
        inputs: list[tuple[Cell, int]] = []
        for template, coefficient in terms:
            cell = working.get(key_of(template))
            if cell is None:
                if self._zero_if_absent(derivation, template, output):
                    continue
                return None
            if not has_value(cell) and not is_suppressed(cell):
                if isinstance(derivation, LinearDerivation) and cannot_exist(cell):
                    continue  # M: data cannot exist, reads as 0 (schema.md §8.6)
                return None  # missing for another reason: the cell is left out
            inputs.append((cell, coefficient))
        if not inputs or not self._same_edition(inputs):
            return None
        if isinstance(derivation, LinearDerivation):
            return self._linear(derivation, output, inputs)
        return self._ratio(derivation, output, inputs)

    def _zero_if_absent(
        self, derivation: Derivation, template: Cell, output: Cell
    ) -> bool:
        if not isinstance(derivation, LinearDerivation):
            return False
        code = template.get(derivation.dimension)
        return any(
            rule.code == code and rule.applies(output)
            for rule in derivation.zero_if_absent
        )

    @staticmethod
    def _same_edition(inputs: list[tuple[Cell, int]]) -> bool:
        return len({cell.get("edition") for cell, _ in inputs}) == 1

    def _linear(
        self, derivation: LinearDerivation, output: Cell, inputs: list[tuple[Cell, int]]
    ) -> Cell | None:
        units = {(c.get("unit_measure"), c.get("currency")) for c, _ in inputs}
        if len(units) != 1:
            return None  # units differ: nothing sensible to add up
        mult = min(int(c.get("unit_mult") or 0) for c, _ in inputs)
        out = self._derived_cell(derivation, output, inputs)
        unit_measure, currency = next(iter(units))
        out.update(unit_measure=unit_measure, currency=currency, unit_mult=mult)
        if out["conf_status"] == SECONDARY:
            return out
        total = Decimal(0)
        for cell, coefficient in inputs:
            value = base_value(
                cell.get("obs_value_text"), cell.get("obs_value"), cell.get("unit_mult")
            )
            total += coefficient * (value or Decimal(0))
        out["obs_value"] = float(total.scaleb(-mult))
        return out

    def _ratio(
        self,
        derivation: RatioDerivation | GrowthDerivation,
        output: Cell,
        inputs: list[tuple[Cell, int]],
    ) -> Cell | None:
        if len(inputs) != 2:
            return None
        numerator, denominator = inputs[0][0], inputs[1][0]
        out = self._derived_cell(derivation, output, inputs)
        unit = self.context.satellite_measures[derivation.measure].unit
        if unit == "PC":
            out.update(unit_measure="PC", currency=None, unit_mult=0)
        else:
            out.update(
                unit_measure=numerator.get("unit_measure"),
                currency=numerator.get("currency"),
                unit_mult=0,
            )
        if out["conf_status"] == SECONDARY:
            return out
        value = _ratio_value(derivation, numerator, denominator)
        if value is None:
            return None
        out["obs_value"] = value
        return out

    def _derived_cell(
        self, derivation: Derivation, output: Cell, inputs: list[tuple[Cell, int]]
    ) -> Cell:
        cells = [c for c, _ in inputs]
        out: Cell = {column: output.get(column) for column in KEY_COLUMNS}
        for column in OBSERVATION_COLUMNS:
            out.setdefault(column, None)
        out.update(
            obs_value=math.nan,
            obs_value_text=None,
            is_derived=True,
            derivation=f"{derivation.id}: {_formula(derivation, output, self.context)}",
            edition=cells[0].get("edition"),
            source_id=_common(c.get("source_id") for c in cells),
            coverage=_common(c.get("coverage") for c in cells)
            or cells[0].get("coverage"),
            valuation_method=_common(c.get("valuation_method") for c in cells),
        )
        notes = []
        coverages = sorted({str(c.get("coverage")) for c in cells if c.get("coverage")})
        if len(coverages) > 1:
            notes.append(_NOTE_MIXED.format(codes=", ".join(coverages)))
        if any(is_suppressed(c) for c in cells):
            out.update(obs_status=SUPPRESSED_STATUS, conf_status=SECONDARY)
            notes.append(_NOTE_CONFIDENTIAL_INPUT)
        else:
            out.update(
                obs_status=derived_status(
                    (c.get("obs_status") for c in cells), self.context.flag_precedence
                ),
                conf_status="F",
            )
        out["note"] = self._notes(out, notes)
        return out

    def _notes(self, cell: Cell, extra: list[str]) -> str | None:
        note: str | None = None
        labels = self.context
        coverage = cell.get("coverage")
        if (
            "coverage" in self.shell.footnotes
            and coverage
            and coverage not in labels.coverage_without_note
        ):
            label = labels.coverage_labels.get(str(coverage), str(coverage))
            note = add_note(note, _NOTE_COVERAGE.format(label=label))
        method = cell.get("valuation_method")
        if "valuation_method" in self.shell.footnotes and method:
            label = labels.valuation_labels.get(str(method), str(method))
            note = add_note(note, _NOTE_VALUATION.format(label=label))
        found = self.perimeter.get((cell.get("ref_area"), cell.get("time_period")))
        if found is not None and found[2] and self._is_perimeter(cell):
            note = add_note(note, found[2])
        for text in extra:
            note = add_note(note, text)
        return note

    # -- level 2: published_share_matches_levels

    def _check_shares(
        self,
        derivation: RatioDerivation,
        table: Mapping[Key, Cell],
        working: Mapping[Key, Cell],
    ) -> None:
        rule = derivation.check_submitted or ""
        for cell in table.values():
            if (
                cell.get("is_derived")
                or cell.get("measure") != derivation.measure
                or not has_value(cell)
            ):
                continue
            if cell.get("base_measure") not in derivation.numerator.measures:
                continue
            terms = derivation_inputs(derivation, cell, self.context)
            found = [working.get(key_of(t)) for t, _ in terms]
            if any(c is None or not has_value(c) for c in found):
                continue
            numerator, denominator = found[0], found[1]
            assert numerator is not None and denominator is not None
            computed = _ratio_value(derivation, numerator, denominator)
            if computed is None:
                continue
            submitted = float(cell["obs_value"])
            tolerance = _share_tolerance(cell, numerator, denominator, computed)
            if abs(computed - submitted) > tolerance:
                self.findings.append(
                    _share_finding(
                        rule, cell, numerator, denominator, computed, tolerance
                    )
                )


# ------------------------------------------------------------- arithmetic


def _ratio_value(
    derivation: RatioDerivation | GrowthDerivation, numerator: Cell, denominator: Cell
) -> float | None:
    top = base_value(
        numerator.get("obs_value_text"),
        numerator.get("obs_value"),
        numerator.get("unit_mult"),
    )
    bottom = base_value(
        denominator.get("obs_value_text"),
        denominator.get("obs_value"),
        denominator.get("unit_mult"),
    )
    if top is None or bottom is None or bottom == 0:
        return None
    if isinstance(derivation, GrowthDerivation):
        return float((top / bottom - 1) * derivation.scale)
    return float(top / bottom * derivation.scale)


def _decimals(cell: Cell) -> int:
    text = cell.get("obs_value_text")
    if not isinstance(text, str) or not text:
        text = repr(float(cell.get("obs_value") or 0))
    return len(text.split(".", 1)[1]) if "." in text else 0


def _half_unit(cell: Cell) -> Decimal:
    """Half the last published digit, in base units (schema.md §8.4)."""
    return Decimal(5).scaleb(int(cell.get("unit_mult") or 0) - _decimals(cell) - 1)


def _share_tolerance(
    share: Cell, numerator: Cell, denominator: Cell, computed: float
) -> float:
    """Rounding of the submitted share plus the rounding of both levels."""
    top = base_value(
        numerator.get("obs_value_text"),
        numerator.get("obs_value"),
        numerator.get("unit_mult"),
    ) or Decimal(1)
    bottom = base_value(
        denominator.get("obs_value_text"),
        denominator.get("obs_value"),
        denominator.get("unit_mult"),
    ) or Decimal(1)
    relative = _half_unit(numerator) / abs(top) + _half_unit(denominator) / abs(bottom)
    return float(_half_unit(share)) + abs(computed) * float(relative)


def _share_finding(
    rule: str,
    cell: Cell,
    numerator: Cell,
    denominator: Cell,
    computed: float,
    tolerance: float,
) -> Finding:
    file = str(cell.get("source_file") or "")
    row = cell.get("source_row")
    column = cell.get("source_column") or "OBS_VALUE"
    value = cell.get("obs_value_text") or repr(cell.get("obs_value"))
    difference = abs(computed - float(cell["obs_value"]))
    message = (
        f'{file}, row {row}, column "{column}": value "{value}" but '
        f"{numerator.get('measure')} of {_who(numerator)} over {_who(denominator)} "
        f"gives {computed:.4g} % ({numerator.get('ref_area')} "
        f"{numerator.get('time_period')}, difference {difference:.3g}, tolerance "
        f"{tolerance:.3g}) (rule: {rule})"
    )
    return {
        "file": file,
        "row": row,
        "column": column,
        "value": value,
        "rule": rule,
        "level": _SHARE_RULE_LEVEL,
        "severity": _SHARE_RULE_SEVERITY,
        "message": message,
    }


def _who(cell: Cell) -> str:
    nat = cell.get("sse_entity_nat")
    entity = str(cell.get("sse_entity"))
    return f"{entity}/{nat}" if nat not in (None, "_T", "_Z") else entity


def _formula(derivation: Derivation, output: Cell, context: ShellContext) -> str:
    """The formula of one derived cell, with its own codes (readable in exports)."""
    if isinstance(derivation, LinearDerivation):
        parts = []
        for i, (code, k) in enumerate(linear_terms(derivation, output, context)):
            sign = ("+ " if k > 0 else "− ") if i else ("" if k > 0 else "− ")
            parts.append(f"{sign}{code if abs(k) == 1 else f'{abs(k)} × {code}'}")
        where = "" if derivation.dimension == "measure" else f"{derivation.dimension} "
        return f"{where}{derivation.target} = {' '.join(parts)}"
    base = str(output.get("base_measure"))
    if isinstance(derivation, GrowthDerivation):
        year = str(output.get("time_period"))
        return (
            f"({base}[{year}] / {base}[{previous_year(year)}] − 1) × {derivation.scale}"
        )
    bottom = derivation.denominator.get("measure", base)
    codes = ", ".join(
        f"{k}={v}"
        for k, v in derivation.denominator.items()
        if k != "measure" and output.get(k) != v
    )
    scale = f" × {derivation.scale}" if derivation.scale != 1 else ""
    return f"{base} / {bottom}{f'[{codes}]' if codes else ''}{scale}"


def _common(values: Iterable[object]) -> Any:
    found = {v for v in values if v is not None}
    return next(iter(found)) if len(found) == 1 else None


# ------------------------------------------------------------- frames


def _frame(
    cells: Mapping[Key, Cell], shell: TableShell, order: SortKeys
) -> pd.DataFrame:
    rows = [cells[key] for key in sorted(cells, key=order)]
    # Built as object columns: inferring text columns (pandas str) only to turn
    # them back into objects cost several times as much.
    frame = pd.DataFrame(rows, columns=list(SATELLITE_COLUMNS[:-2]), dtype=object)
    frame["obs_value"] = frame["obs_value"].astype("float64")
    frame["unit_mult"] = frame["unit_mult"].astype("Int64")
    frame["source_row"] = frame["source_row"].astype("Int64")
    frame["is_derived"] = frame["is_derived"].astype(bool)
    frame = apply_presentation_multiplier(frame, shell.presentation_mult)
    return frame[list(SATELLITE_COLUMNS)].reset_index(drop=True)


_OTHER_CODE = object()
"""Stands for every code of a column that the shell's rules do not name."""
_RAW_COLUMNS = frozenset({"measure", "unit_state", "share_base", "base_measure"})


def _code_classes(
    shell: TableShell, columns: Iterable[str], uses_perimeter: bool
) -> tuple[tuple[int, frozenset[Any] | None], ...]:
    """(key position, codes the shell names) of each column membership reads.

    Membership only tests a dimension's code against code sets: the shown
    codes, the fixed code (``_T`` by default), ``_Z``, a selector's codes. Any
    code in none of them gives the same answers. Measures, free dimensions and
    the entity columns compared with the perimeter are read as they are
    (``None``: no class).
    """
    raw = set(_RAW_COLUMNS) | _FREE_DIMENSIONS
    if uses_perimeter:
        raw |= {"sse_entity", "sse_entity_nat"}
    out: list[tuple[int, frozenset[Any] | None]] = []
    for column in columns:
        if column in raw:
            out.append((_KEY_INDEX[column], None))
            continue
        codes = {"_T", "_Z", shell.fixed.get(column, "_T")}
        codes |= set(shell.dimensions.get(column) or ())
        for selector in shell.cells:
            match = selector.coords.get(column)
            if match is not None:
                codes |= match.codes
        out.append((_KEY_INDEX[column], frozenset(codes)))
    return tuple(out)


class SortKeys:
    """Cell keys in table order (``None`` first, then text), each made once.

    Calling it gives the sort key of a cell key; the tables of one build share
    an instance, since most cells are in several tables.
    """

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[Key, tuple[str, ...]] = {}

    def __call__(self, key: Key) -> tuple[str, ...]:
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = _sort_key(key)
        return found


def _sort_key(key: Key) -> tuple[str, ...]:
    return tuple("" if part is None else str(part) for part in key)


_KEY_INDEX = {column: i for i, column in enumerate(KEY_COLUMNS)}
_MEASURE_AT = _KEY_INDEX["measure"]
_REF_AREA_AT = _KEY_INDEX["ref_area"]
_ENTITY_AT = _KEY_INDEX["sse_entity"]
_BASE_AT = _KEY_INDEX["base_measure"]


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for finding in findings:
        mark = (finding["file"], finding["row"], finding["rule"])
        if mark not in seen:
            seen.add(mark)
            out.append(finding)
    return out
