"""The canonical template (schema.md §3): header checks and rows, no mapping."""

from __future__ import annotations

import difflib

from sse_stats.errors import Finding
from sse_stats.harmonise.rows import CanonicalRow, CanonicalRows
from sse_stats.ingest.read import Submission, escape_text
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue


def template_rows(
    sub: Submission, schema: Schema, cat: RuleCatalogue
) -> tuple[CanonicalRows, list[Finding]]:
    """Read a canonical-template submission into canonical rows.

    An unknown column is an error (with the closest valid name suggested); it is
    not read. A required column that is missing is an error on the header line.
    """
    findings: list[Finding] = []
    known = set(schema.template_ids)
    usable: dict[int, str] = {}
    seen: set[str] = set()
    for index, name in enumerate(sub.header):
        shown = escape_text(name)
        if name in seen:
            findings.append(
                cat.finding(
                    "column_is_unique",
                    file=sub.name,
                    row=sub.header_line,
                    column=shown,
                    value=shown,
                    detail=f'column "{shown}" appears more than once',
                )
            )
            continue
        seen.add(name)
        if name not in known:
            close = difflib.get_close_matches(
                name.upper(), schema.template_ids, n=1, cutoff=0.5
            )
            hint = f'; did you mean "{close[0]}"?' if close else ""
            findings.append(
                cat.finding(
                    "column_is_known",
                    file=sub.name,
                    row=sub.header_line,
                    column=shown,
                    value=shown,
                    detail=f'"{shown}" is not a template column{hint}',
                )
            )
            continue
        usable[index] = name
    for comp in schema.components:
        if comp.required and comp.id not in seen:
            findings.append(
                cat.finding(
                    "required_column_present",
                    file=sub.name,
                    row=sub.header_line,
                    column=comp.id,
                    value=None,
                    detail=f"required column {comp.id} is missing",
                )
            )
    rows = [
        CanonicalRow(
            line=rec.line,
            value_column="OBS_VALUE",
            values={name: rec.fields[i] for i, name in usable.items()},
        )
        for rec in sub.records
    ]
    given = frozenset(usable.values())
    return CanonicalRows(
        rows=rows, origins={n: n for n in given}, given=given
    ), findings
