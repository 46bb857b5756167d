"""Exceptions (the program cannot go on) and findings (the data breaks a rule).

A finding is data and is never raised; an ``SseStatsError`` stops the current
unit of work and carries a title, what to do, and a context dictionary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One failed rule on one cell (or line, or file) of a submission.

    ``row`` is the 1-based physical line of the submitted file (header lines
    and blank lines count); ``None`` only for whole-file findings.
    ``column`` is the column name as written in the submitted file.

    Examples:
        >>> f = Finding(file="a.csv", row=3, column="OBS_VALUE", value="x",
        ...             rule="obs_value_is_number", level=0, severity="error",
        ...             message="a.csv, row 3 ...")
        >>> f.as_dict()["row"]
        3
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    rule: str
    level: int
    severity: Severity
    message: str
    unusable: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the contract's eight JSON fields (schema.md §8.1)."""
        return {
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "value": self.value,
            "rule": self.rule,
            "level": self.level,
            "severity": self.severity,
            "message": self.message,
        }


class SseStatsError(Exception):
    """Base of every error the library raises on purpose."""

    title = "sse-stats error"

    def __init__(self, description: str, **context: Any) -> None:
        super().__init__(description)
        self.description = description
        self.context: Mapping[str, Any] = dict(context)

    def __str__(self) -> str:
        return f"{self.title}: {self.description}"


class SchemaFileError(SseStatsError):
    """A file under ``schemas/`` is missing, malformed or inconsistent."""

    title = "schema file error"

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}", file=file, key=key)
        self.file = file
        self.key = key


class UsageError(SseStatsError):
    """The caller asked for something that cannot be done (bad argument)."""

    title = "usage error"


class StoreError(SseStatsError):
    """The curated store could not be written or read."""

    title = "store error"


class StoreLockedError(StoreError):
    """Another process holds the DuckDB file; retry later or close it."""

    title = "store locked"


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """Per-rule counts of one validation run (three outcomes, schema.md §8.1)."""

    rule: str
    level: int
    severity: Severity
    items: int = 0
    passes: int = 0
    fails: int = 0
    not_applicable: int = 0
    crashed: bool = field(default=False)
