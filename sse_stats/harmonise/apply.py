"""A national layout to canonical rows, through its declarative mapping (schema.md §12).

Nothing is dropped or guessed: an unmapped column, label or flag is an error
finding on the cell that holds it; values keep the multiplier they were
published in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sse_stats.errors import Finding
from sse_stats.harmonise.mapping import ColumnRule, CountryMapping
from sse_stats.harmonise.parse import parse_national_number
from sse_stats.harmonise.rows import CanonicalRow, CanonicalRows
from sse_stats.ingest.read import Submission, escape_text
from sse_stats.validate.catalogue import RuleCatalogue

_HAS_DIGIT = re.compile(r"[0-9]")


@dataclass(frozen=True, slots=True)
class _Cell:
    """A parsed value cell: canonical number text, national flag, SDMX flags."""

    value: str | None
    flag: str | None = None
    obs_status: str | None = None
    conf_status: str | None = None
    problem: str | None = None  # rule name when the cell cannot be read


class _Reader:
    """Reads one submission with one mapping; collects findings as it goes."""

    def __init__(
        self, sub: Submission, mapping: CountryMapping, cat: RuleCatalogue
    ) -> None:
        self.sub, self.mapping, self.cat = sub, mapping, cat
        self.findings: list[Finding] = []

    def report(
        self,
        rule: str,
        row: int | None,
        column: str | None,
        value: str | None,
        detail: str,
    ) -> None:
        self.findings.append(
            self.cat.finding(
                rule,
                file=self.sub.name,
                row=row,
                column=column,
                value=None if value is None else escape_text(value),
                detail=detail,
            )
        )

    # -- header ---------------------------------------------------------------
    def header_columns(self) -> dict[str, int] | None:
        """Index of each mapped column; ``None`` when no mapped column is found."""
        sub, mapping = self.sub, self.mapping
        index: dict[str, int] = {}
        for i, name in enumerate(sub.header):
            if name in index or (name in mapping.ignore and name in sub.header[:i]):
                self.report(
                    "column_is_unique",
                    sub.header_line,
                    name,
                    name,
                    f'column "{escape_text(name)}" appears more than once',
                )
            elif name in mapping.columns:
                index[name] = i
            elif name not in mapping.ignore:
                self.report(
                    "column_is_mapped",
                    sub.header_line,
                    name,
                    name,
                    f'column "{escape_text(name)}" is neither mapped nor ignored in '
                    f"{mapping.source}; add it under columns or ignore (with a reason)",
                )
        if not index:
            return None
        for name, rules in mapping.columns.items():
            if name not in index and not all(r.optional for r in rules):
                self.report(
                    "required_column_present",
                    sub.header_line,
                    name,
                    None,
                    f'column "{name}" that {mapping.source} reads is missing',
                )
        return index

    # -- cells ----------------------------------------------------------------
    def parse_cell(self, text: str) -> _Cell:
        mapping = self.mapping
        cell = text.strip()
        if not cell:
            return _Cell(None)
        if cell in mapping.flags:
            return self._flagged(None, cell)
        number = parse_national_number(cell, mapping.decimal, mapping.thousands)
        if number is not None:
            return _Cell(number)
        head, _, tail = cell.rpartition(" ")
        if mapping.flags and head:
            number = parse_national_number(
                head.strip(), mapping.decimal, mapping.thousands
            )
            if number is not None:
                if tail in mapping.flags:
                    return self._flagged(number, tail)
                return _Cell(number, flag=tail, problem="flag_is_mapped")
        if mapping.flags and not _HAS_DIGIT.search(cell):
            return _Cell(None, flag=cell, problem="flag_is_mapped")
        return _Cell(None, problem="obs_value_is_number")

    def _flagged(self, number: str | None, flag: str) -> _Cell:
        code = self.mapping.flags[flag]
        value = {"keep": number, "empty": None, "zero": number or "0"}[code.value]
        return _Cell(
            value, flag=flag, obs_status=code.obs_status, conf_status=code.conf_status
        )

    # -- rows -----------------------------------------------------------------
    @staticmethod
    def applies(rule: ColumnRule, fields: dict[str, str]) -> bool:
        return all(fields.get(col) in allowed for col, allowed in rule.when.items())

    def code_components(
        self, rule: ColumnRule, text: str, line: int
    ) -> dict[str, str] | None:
        if text in rule.codes:
            return dict(rule.codes[text])
        if rule.to and (rule.other == "verbatim" or not rule.codes):
            return {rule.to: text}
        self.report(
            "code_is_mapped",
            line,
            rule.column,
            text,
            f'label "{escape_text(text)}" is not in the code map of column '
            f'"{rule.column}" in {self.mapping.source}',
        )
        return None

    def value_rule(
        self, name: str, fields: dict[str, str], line: int
    ) -> ColumnRule | None:
        for rule in self.mapping.columns[name]:
            if self.applies(rule, fields):
                return rule
        if fields[name].strip():
            conditions = "; ".join(
                f"{col} = {escape_text(fields.get(col, ''))!r}"
                for col in sorted(
                    {c for r in self.mapping.columns[name] for c in r.when}
                )
            )
            self.report(
                "code_is_mapped",
                line,
                name,
                fields[name],
                f'{self.mapping.source} has no reading of column "{name}" for '
                f"rows where {conditions}",
            )
        return None

    def row_values(
        self, line: int, cell: _Cell, column: str
    ) -> tuple[dict[str, str], bool]:
        values: dict[str, str] = {}
        reported = False
        if cell.problem == "flag_is_mapped":
            self.report(
                "flag_is_mapped",
                line,
                column,
                cell.flag,
                f'flag "{escape_text(cell.flag or "")}" is not in the flag '
                f"vocabulary of "
                f"{self.mapping.source}; a flag is never guessed",
            )
        elif cell.problem == "obs_value_is_number":
            reported = True
        if cell.value is not None:
            values["OBS_VALUE"] = cell.value
        if cell.flag is not None and cell.problem is None:
            values["OBS_STATUS_NAT"] = cell.flag
            values["OBS_STATUS"] = cell.obs_status or ""
            values["CONF_STATUS"] = cell.conf_status or ""
        return values, reported


def _extracted(sub: Submission, mapping: CountryMapping) -> dict[str, str]:
    found: dict[str, str] = {}
    for ext in mapping.extract:
        lines = {"preamble": sub.preamble, "footer": sub.footer}.get(
            ext.lines, sub.preamble + sub.footer
        )
        for text in lines:
            match = ext.pattern.search(text)
            if match:
                found[ext.component] = match.group(1)
                break
    return found


def _origins(mapping: CountryMapping) -> dict[str, str]:
    """The national column each component comes from (for findings' ``column``)."""
    origins: dict[str, str] = {}
    for name, rules in mapping.columns.items():
        for column_rule in rules:
            targets = {column_rule.to} if column_rule.to else set()
            for components in column_rule.codes.values():
                targets.update(components)
            origins.update(dict.fromkeys(sorted(t for t in targets if t), name))
    return origins


def national_rows(
    sub: Submission, mapping: CountryMapping, cat: RuleCatalogue
) -> tuple[CanonicalRows | None, list[Finding]]:
    """Turn a national submission into canonical rows.

    Returns ``None`` rows when none of the mapping's columns is in the header
    (wrong separator or wrong file): the file is then unusable.
    """
    reader = _Reader(sub, mapping, cat)
    index = reader.header_columns()
    if index is None:
        finding = cat.finding(
            "csv_is_well_formed",
            file=sub.name,
            row=None,
            column=None,
            value=None,
            detail=f"none of the columns of {mapping.source} is in the header on line "
            f"{sub.header_line} read with separator {mapping.fmt.delimiter!r}; "
            "is the separator or the header line right?",
        )
        return None, [finding]
    base = {**mapping.constants, **_extracted(sub, mapping)}
    origins = _origins(mapping)
    rows: list[CanonicalRow] = []
    id_columns = [n for n in index if not any(r.is_value for r in mapping.columns[n])]
    value_columns = [n for n in index if any(r.is_value for r in mapping.columns[n])]
    for record in sub.records:
        fields = {name: record.fields[i] for name, i in index.items()}
        dims: dict[str, str] = dict(base)
        complete = True
        for name in id_columns:
            id_rule = next(
                (r for r in mapping.columns[name] if reader.applies(r, fields)), None
            )
            if id_rule is None:
                continue
            comps = reader.code_components(id_rule, fields[name], record.line)
            if comps is None:
                complete = False
            else:
                dims.update(comps)
                dims.update(id_rule.set)
        if not complete:
            continue  # the line's observations cannot be keyed; its cell was reported
        for name in value_columns:
            rule = reader.value_rule(name, fields, record.line)
            if rule is None:
                continue
            cell = reader.parse_cell(fields[name])
            values, reported = reader.row_values(record.line, cell, name)
            row_values = {**dims, **rule.set, **values}
            if rule.measure:
                row_values["MEASURE"] = rule.measure
            if reported:
                row_values["OBS_VALUE"] = fields[name]
            rows.append(
                CanonicalRow(
                    line=record.line,
                    value_column=name,
                    values=row_values,
                    value_reported=reported,
                )
            )
            if reported:
                reader.report(
                    "obs_value_is_number",
                    record.line,
                    name,
                    fields[name],
                    f'value "{escape_text(fields[name])}" is not a number with decimal '
                    f"mark {mapping.decimal!r} and thousands separator "
                    f"{' or '.join(repr(t) for t in mapping.thousands) or 'none'}",
                )
    given = frozenset(set(base) | set(origins) | {k for r in rows for k in r.values})
    return CanonicalRows(
        rows=rows, origins=origins, given=given, mapping_file=mapping.source
    ), reader.findings
