"""What ``sse-stats check-register`` tells an office about its register.

The unit-level validation of the register path (:func:`.process.validation_only`:
columns, unit rules, codes), before anything is aggregated: the findings (file,
line, column, value, rule), every rule's counts, and which countries and years
an error would block. Exit code as ``sse-stats check``: 0 no error finding
(warnings allowed), 1 error findings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sse_stats.register.validate import RegisterValidation
from sse_stats.validate.catalogue import RuleCatalogue


@dataclass(frozen=True, slots=True)
class RegisterCheck:
    """The validation of one register file, ready to print."""

    file: str
    mapping: str
    validation: RegisterValidation
    catalogue: RuleCatalogue

    @property
    def errors(self) -> int:
        """Error findings listed (every failing unit is in ``outcomes``)."""
        return sum(f.severity == "error" for f in self.validation.findings)

    @property
    def blocked(self) -> list[str]:
        """Countries and years an error blocks (``PRT_2022``)."""
        return [
            f"{area}_{year}"
            for area, year in sorted(self.validation.blocked_partitions(self.catalogue))
        ]

    @property
    def exit_code(self) -> int:
        """0: nothing blocks; 1: a rule of severity error failed."""
        return 1 if self.errors or self.validation.blocked(self.catalogue) else 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON document: findings, per-rule counts, per country and year."""
        findings = sorted(
            self.validation.findings, key=lambda f: (f.rule, f.row or 0, f.column or "")
        )
        return {
            "file": self.file,
            "mapping": self.mapping,
            "units": self.validation.units,
            "blocked": self.blocked,
            "findings": [f.as_dict() for f in findings],
            "outcomes": {
                rule: dict(
                    zip(("passes", "fails", "not_applicable"), counts, strict=True)
                )
                for rule, counts in sorted(self.validation.outcomes.items())
            },
            "partitions": {
                f"{area}_{year}": {
                    "units": part.units,
                    "blocked": part.blocked(self.catalogue),
                    "fails": {
                        rule: fails
                        for rule, (_, fails, _) in sorted(part.outcomes.items())
                        if fails
                    },
                }
                for (area, year), part in sorted(self.validation.by_partition.items())
            },
            "errors": self.errors,
            "warnings": sum(f.severity == "warning" for f in findings),
        }

    def to_json(self) -> str:
        """:meth:`as_dict` as one JSON document."""
        return json.dumps(self.as_dict(), ensure_ascii=False)

    def text(self) -> str:
        """One line per finding, then the counts of each failing rule."""
        doc = self.as_dict()
        lines = [str(f["message"]) for f in doc["findings"]]
        failing = {r: c for r, c in doc["outcomes"].items() if c["fails"]}
        for rule, counts in failing.items():
            severity = self.catalogue[rule].severity if rule in self.catalogue else "?"
            lines.append(f"{rule} ({severity}): {counts['fails']:,} units fail")
        lines.append(
            f"{self.file}: {doc['units']:,} units in {len(doc['partitions'])} "
            f"countries and years; {doc['errors']} errors, {doc['warnings']} "
            f"warnings listed; " + self._blocked_text()
        )
        return "\n".join(lines)

    def _blocked_text(self) -> str:
        if self.blocked:
            return f"blocked: {', '.join(self.blocked)}"
        # An error with no country and year (a missing column) stops the file.
        return "blocked: the whole file" if self.exit_code else "nothing blocked"
