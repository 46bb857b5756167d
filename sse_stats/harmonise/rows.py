"""Canonical rows: template component → text, with where each value came from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CanonicalRow:
    """One observation in template terms, before defaults and applicability.

    ``values`` holds only the components the submission (or mapping) gave;
    ``value_column`` is the submitted column holding OBS_VALUE;
    ``value_reported`` is set when the value was unreadable and already reported.
    """

    line: int
    value_column: str
    values: dict[str, str] = field(default_factory=dict)
    value_reported: bool = False


@dataclass(slots=True)
class CanonicalRows:
    """All rows of a submission and, per component, the column it came from."""

    rows: list[CanonicalRow]
    origins: dict[str, str]
    given: frozenset[str]  # components given by the file or mapping (not omitted)
    mapping_file: str | None = None
