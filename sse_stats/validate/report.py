"""The validation report: findings, the per-rule summary and the contract's JSON."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sse_stats.errors import Finding, RuleOutcome
from sse_stats.validate.catalogue import RuleCatalogue


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidationReport:
    """Everything one check of one submission found.

    ``frame`` is the harmonised frame (``None`` when the file was unusable).
    ``status`` is ``accepted`` (no error), ``rejected`` (errors) or
    ``unusable`` (the file could not be read into rows and columns).
    """

    file: str
    sha256: str | None
    size: int | None
    findings: tuple[Finding, ...]
    outcomes: Mapping[str, RuleOutcome] = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    mapping_file: str | None = None
    country: str | None = None

    @property
    def counts(self) -> Counter[str]:
        """Findings by severity."""
        return Counter(f.severity for f in self.findings)

    @property
    def unusable(self) -> bool:
        """The file could not be read into rows and columns (exit 2)."""
        return any(f.unusable for f in self.findings)

    @property
    def status(self) -> str:
        """accepted, rejected or unusable (schema.md §8.1: any error rejects)."""
        if self.unusable:
            return "unusable"
        return "rejected" if self.counts["error"] else "accepted"

    @property
    def exit_code(self) -> int:
        """0 no error finding, 1 error findings, 2 unusable (schema.md §11.3)."""
        return {"accepted": 0, "rejected": 1, "unusable": 2}[self.status]

    def summary(self) -> list[dict[str, Any]]:
        """Per-rule counts (items, passes, fails, not_applicable), failing rules
        first."""
        rows = [
            {
                "rule": o.rule,
                "level": o.level,
                "severity": o.severity,
                "items": o.items,
                "passes": o.passes,
                "fails": o.fails,
                "not_applicable": o.not_applicable,
            }
            for o in self.outcomes.values()
        ]
        return sorted(rows, key=lambda r: (-r["fails"], r["level"], r["rule"]))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``sse-stats check --format json`` (schema.md §8.1)."""
        counts = self.counts
        return {
            "file": self.file,
            "findings": [f.as_dict() for f in self.findings],
            "summary": self.summary(),
            "errors": counts["error"],
            "warnings": counts["warning"],
            "infos": counts["info"],
            "status": self.status,
            "sha256": self.sha256,
            "mapping_file": self.mapping_file,
        }

    def to_json(self) -> str:
        """Pretty JSON, UTF-8 text (non-ASCII kept readable)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def findings_frame(self) -> pd.DataFrame:
        """Findings as a table with the curated column names (schema.md §11.2)."""
        columns = [
            "source_file",
            "source_sha256",
            "source_row",
            "source_column",
            "value_text",
            "rule",
            "level",
            "severity",
            "message",
        ]
        records = [
            {
                "source_file": f.file,
                "source_sha256": self.sha256,
                "source_row": f.row,
                "source_column": f.column,
                "value_text": f.value,
                "rule": f.rule,
                "level": f.level,
                "severity": f.severity,
                "message": f.message,
            }
            for f in self.findings
        ]
        frame = pd.DataFrame.from_records(records, columns=columns)
        return frame.astype(
            {"source_row": "Int64", "level": "int64"}
            | {c: "str" for c in columns if c not in ("source_row", "level")}
        )

    def head_text(self, limit: int = 20) -> str:
        """Human-readable summary and the first findings (``--format text``)."""
        counts = self.counts
        lines = [
            f"{self.file}: {self.status} — {counts['error']} errors, "
            f"{counts['warning']} warnings, {counts['info']} infos"
        ]
        if self.mapping_file:
            lines.append(f"layout: {self.mapping_file}")
        failing = [s for s in self.summary() if s["fails"]]
        if failing:
            lines.append("rules with findings:")
            lines.extend(
                f"  {s['rule']} ({s['severity']}, level {s['level']}): {s['fails']} of "
                f"{s['items']} items"
                for s in failing
            )
        shown = [f for f in self.findings if f.severity != "info"][:limit]
        if shown:
            lines.append("first findings:")
            lines.extend(f"  [{f.severity}] {f.message}" for f in shown)
        return "\n".join(lines)


def outcomes_from(
    findings: list[Finding],
    cat: RuleCatalogue,
    evaluated: Mapping[str, tuple[int, int, int]],
    *,
    items: int,
) -> dict[str, RuleOutcome]:
    """Per-rule outcomes: counted evaluations where known, else from the findings.

    ``evaluated`` maps a rule to (passes, fails, not_applicable) for rules that
    count their own items (identities, hierarchies, row rules). Other rules
    are counted as ``items`` checked, minus their findings.
    """
    fails = Counter(f.rule for f in findings)
    out: dict[str, RuleOutcome] = {}
    for name in sorted(set(fails) | set(evaluated)):
        rule = cat[name]
        if name in evaluated:
            passes, failed, na = evaluated[name]
            failed = max(failed, fails[name])
        else:
            failed, na = fails[name], 0
            passes = max(items - failed, 0)
        out[name] = RuleOutcome(
            rule=name,
            level=rule.level,
            severity=rule.severity,
            items=passes + failed + na,
            passes=passes,
            fails=failed,
            not_applicable=na,
        )
    return out
