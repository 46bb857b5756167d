"""The one code path shared by ``sse-stats check`` and the pipeline.

read → harmonise (template or national mapping) → validate levels 0-1. Writes
nothing; returns a :class:`ValidationReport`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pandas as pd

from sse_stats.errors import Finding, RuleOutcome, UsageError
from sse_stats.harmonise.mapping import ISO3, CountryMapping, load_mapping, mapping_path
from sse_stats.harmonise.submission import harmonise_file
from sse_stats.ingest.read import peek_first_field
from sse_stats.schema.load import cached_schema
from sse_stats.validate.catalogue import cached_rules
from sse_stats.validate.history import check_history
from sse_stats.validate.relations import check_relations
from sse_stats.validate.report import ValidationReport, outcomes_from
from sse_stats.validate.rowrules import check_rows

TEMPLATE_FIRST_COLUMN = "STRUCTURE"
_LEADING_ISO3 = re.compile(r"^([A-Z]{3})(?=[_\-. ]|$)")


def country_from_name(name: str) -> str | None:
    """The ISO3 code a raw file name starts with (``PRT_2019-2020.csv`` → PRT).

    Examples:
        >>> country_from_name("PRT_2019-2020.csv"), country_from_name("data.csv")
        ('PRT', None)
    """
    match = _LEADING_ISO3.match(name)
    return match.group(1) if match else None


def is_template(path: Path) -> bool:
    """A file whose first header field is STRUCTURE is the canonical template."""
    return peek_first_field(path) == TEMPLATE_FIRST_COLUMN


def _mapping_for(
    path: Path, schemas_dir: Path, country: str | None
) -> CountryMapping | None:
    # An empty file has no header to tell the layout by: read it as the
    # template, so it is reported as csv_is_well_formed (unusable), not a usage error.
    if is_template(path) or (country is None and peek_first_field(path) is None):
        if country is not None and not ISO3.match(country):
            raise UsageError(
                f"--country {country!r} is not an ISO 3166-1 alpha-3 code (e.g. PRT)"
            )
        return None
    if country is None:
        raise UsageError(
            f"{path.name} is not in the canonical template (its first column is not "
            "STRUCTURE); give --country ISO3 to read it with "
            "schemas/mappings/<ISO3>.yaml"
        )
    return load_mapping(mapping_path(schemas_dir, country))


def check_submission(
    path: Path, *, schemas_dir: Path, country: str | None = None
) -> ValidationReport:
    """Read, harmonise and validate (levels 0-1) one submission; write nothing.

    Args:
        path: the submitted file (never modified).
        schemas_dir: the ``schemas/`` folder.
        country: ISO3 of the layout for national files (``--country``); for the
            canonical template, the country every REF_AREA must equal.

    Raises:
        UsageError: no layout can be chosen (national file without country,
            unknown country).
    """
    schema = cached_schema(schemas_dir.resolve())
    cat = cached_rules((schemas_dir / "rules").resolve())
    mapping = _mapping_for(path, schemas_dir, country)
    result = harmonise_file(path, mapping, schema=schema, cat=cat)
    read = result.read
    expected_country = mapping.country if mapping else country
    mapping_file = mapping.source if mapping else None

    def report(
        findings: list[Finding],
        outcomes: dict[str, RuleOutcome] | None = None,
        frame: pd.DataFrame | None = None,
    ) -> ValidationReport:
        ordered = sorted(findings, key=lambda f: (f.row is not None, f.row or 0))
        return ValidationReport(
            file=path.name,
            sha256=read.sha256,
            size=read.size,
            findings=tuple(ordered),
            mapping_file=mapping_file,
            country=expected_country,
            outcomes=outcomes or {},
            frame=frame,
        )

    harmonised = result.harmonised
    if harmonised is None:
        return report(result.findings)
    findings = list(result.findings)
    row_result = check_rows(
        harmonised.frame,
        schema=schema,
        catalogue=cat,
        file=path.name,
        origins=harmonised.origins,
        country=expected_country,
    )
    rel_result = check_relations(
        harmonised.frame,
        catalogue=cat,
        schemas_dir=schemas_dir,
        file=path.name,
        origins=harmonised.origins,
    )
    findings += [*row_result.findings, *rel_result.findings]
    evaluated = {**row_result.outcomes, **rel_result.outcomes}
    outcomes = outcomes_from(findings, cat, evaluated, items=len(harmonised.frame))
    return report(findings, outcomes=outcomes, frame=harmonised.frame)


def add_history(
    report: ValidationReport, history: pd.DataFrame | None, *, schemas_dir: Path
) -> ValidationReport:
    """Add the level-2 findings (growth, revisions) that need the country's history.

    Pipeline only (schema.md §8.1): these are warnings and infos, so the
    accept/reject decision of ``sse-stats check`` is unchanged.
    """
    if report.frame is None or not len(report.frame):
        return report
    schema = cached_schema(schemas_dir.resolve())
    cat = cached_rules((schemas_dir / "rules").resolve())
    money = [m.id for m in schema.measures.values() if m.is_money]
    result = check_history(
        report.frame, history, catalogue=cat, file=report.file, money_measures=money
    )
    findings = sorted(
        [*report.findings, *result.findings],
        key=lambda f: (f.row is not None, f.row or 0),
    )
    outcomes = dict(report.outcomes)
    outcomes.update(
        outcomes_from(
            list(result.findings), cat, result.outcomes, items=len(report.frame)
        )
    )
    return replace(report, findings=tuple(findings), outcomes=outcomes)
