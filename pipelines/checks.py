"""Asset checks generated from the rule files in schemas/rules/, one per file.

Only the translation from a validation report to AssetCheckResult lives here;
rules live in schemas/, their evaluation in sse_stats.validate. A rule file
with error-severity rules gives a blocking check (stack.md §3.1).

No ``from __future__ import annotations``: Dagster reads annotations at
definition time.
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from sse_stats.publish.run_markdown import findings_markdown
from sse_stats.publish.staging import StagedSubmission
from sse_stats.settings import Paths
from sse_stats.validate.catalogue import RuleCatalogue, cached_rules

FINDINGS_KEY = dg.AssetKey(["validation", "findings"])


def rule_catalogue(schemas: Path | None = None) -> RuleCatalogue:
    """The rule catalogue the checks are generated from."""
    return cached_rules(((schemas or Paths.default().schemas) / "rules").resolve())


def check_name(rule_file: str) -> str:
    """Check name of a rule file: ``rules_core`` for ``core.yaml``."""
    return "rules_" + Path(rule_file).stem


def rule_files(catalogue: RuleCatalogue) -> dict[str, list[str]]:
    """Rule names by the file that defines them (rules of submissions only;
    unit-level register rules are checked by the register assets)."""
    files: dict[str, list[str]] = {}
    for rule in catalogue.values():
        if rule.applies_to != "submissions":
            continue
        files.setdefault(rule.source, []).append(rule.name)
    return dict(sorted(files.items()))


def rule_file_specs(catalogue: RuleCatalogue) -> list[dg.AssetCheckSpec]:
    """One check per rule file; blocking when the file has error-severity rules."""
    return [
        dg.AssetCheckSpec(
            check_name(source),
            asset=FINDINGS_KEY,
            blocking=any(catalogue[n].severity == "error" for n in names),
            description=f"Rules of schemas/rules/{source} ({len(names)} rules)",
        )
        for source, names in rule_files(catalogue).items()
    ]


def _summary_markdown(rows: Sequence[dict[str, object]]) -> str:
    lines = [
        "| rule | level | severity | items | passes | fails | n/a |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['rule']} | {r['level']} | {r['severity']} | {r['items']} | "
        f"{r['passes']} "
        f"| {r['fails']} | {r['not_applicable']} |"
        for r in rows
    ]
    return "\n".join(lines)


def rule_file_results(
    staged: StagedSubmission, catalogue: RuleCatalogue
) -> list[dg.AssetCheckResult]:
    """One result per rule file: per-rule counts and the first failing cells."""
    results = []
    for source, names in rule_files(catalogue).items():
        report = staged.report
        if report is None:  # no layout could be chosen: nothing was evaluated
            results.append(
                dg.AssetCheckResult(
                    check_name=check_name(source),
                    asset_key=FINDINGS_KEY,
                    passed=staged.accepted,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=staged.message or staged.status,
                )
            )
            continue
        wanted = set(names)
        findings = [f for f in report.findings if f.rule in wanted]
        errors = sum(f.severity == "error" for f in findings)
        summary = [row for row in report.summary() if row["rule"] in wanted]
        results.append(
            dg.AssetCheckResult(
                check_name=check_name(source),
                asset_key=FINDINGS_KEY,
                passed=bool(errors == 0),
                severity=dg.AssetCheckSeverity.ERROR
                if errors
                else dg.AssetCheckSeverity.WARN,
                description=f"{errors} errors, {len(findings) - errors} "
                f"warnings and infos",
                metadata={
                    "errors": int(errors),
                    "findings": int(len(findings)),
                    "rules": dg.MetadataValue.md(
                        _summary_markdown(summary)
                        if summary
                        else "no rule of this file evaluated"
                    ),
                    "first_failing_cells": dg.MetadataValue.md(
                        findings_markdown(
                            [f for f in findings if f.severity != "info"], limit=20
                        )
                    ),
                },
            )
        )
    return results
