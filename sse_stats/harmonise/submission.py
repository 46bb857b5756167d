"""One submission file to its harmonised frame: read → canonical rows → frame.

The shared first half of ``sse-stats check`` and of everything that needs a
file's observations (tests, benchmarks); validation comes after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sse_stats.errors import Finding
from sse_stats.harmonise.apply import national_rows
from sse_stats.harmonise.canonical import template_rows
from sse_stats.harmonise.frame import Harmonised, build_frame
from sse_stats.harmonise.mapping import CountryMapping
from sse_stats.ingest.read import FileFormat, ReadResult, read_submission
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue


@dataclass(frozen=True, slots=True, kw_only=True)
class HarmonisedFile:
    """What reading and harmonising one file gave.

    ``harmonised`` is ``None`` when the file is unusable; ``findings`` then
    holds the level-0 findings that say why.
    """

    read: ReadResult
    harmonised: Harmonised | None
    findings: list[Finding]


def _file_has_observations(
    n_rows: int,
    findings: list[Finding],
    file: str,
    header_line: int,
    cat: RuleCatalogue,
) -> list[Finding]:
    if n_rows or any(f.rule == "row_matches_header" for f in findings):
        return []
    return [
        cat.finding(
            "file_has_observations",
            file=file,
            row=header_line,
            column=None,
            value=None,
            detail="the file has a header but no data rows",
        )
    ]


def harmonise_file(
    path: Path, mapping: CountryMapping | None, *, schema: Schema, cat: RuleCatalogue
) -> HarmonisedFile:
    """Read ``path`` with ``mapping`` (``None``: the template) and harmonise it."""
    read = read_submission(path, mapping.fmt if mapping else FileFormat(), cat)
    sub = read.submission
    if sub is None:
        return HarmonisedFile(read=read, harmonised=None, findings=list(read.findings))
    if mapping is None:
        rows, found = template_rows(sub, schema, cat)
    else:
        national, found = national_rows(sub, mapping, cat)
        if national is None:
            return HarmonisedFile(
                read=read, harmonised=None, findings=[*read.findings, *found]
            )
        rows = national
    findings = [*read.findings, *found]
    findings += _file_has_observations(
        len(rows.rows), findings, sub.name, sub.header_line, cat
    )
    harmonised = build_frame(
        rows,
        schema=schema,
        cat=cat,
        file=sub.name,
        sha256=sub.sha256,
        extra_findings=findings,
    )
    return HarmonisedFile(
        read=read, harmonised=harmonised, findings=list(harmonised.findings)
    )
