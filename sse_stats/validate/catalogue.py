"""The rule catalogue: every rule of ``schemas/rules/*.yaml`` as a frozen record.

Only names, levels, severities and texts live here; what a rule checks lives
in the modules that evaluate it. A finding is always made through
:meth:`RuleCatalogue.finding`, so its level and severity come from the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sse_stats.errors import SEVERITIES, Finding, SchemaFileError, Severity
from sse_stats.schema.load import safe_yaml

_RULE_KEYS = {
    "name",
    "label",
    "description",
    "level",
    "severity",
    "unusable",
    "reference",
    "expectation",
    "kwargs",
    "tolerance",
    "applies_to",
    "countries",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One rule: stable name, ESS level, severity and the reason it exists."""

    name: str
    label: str
    description: str
    level: int
    severity: Severity
    unusable: bool = False
    reference: str = ""
    expectation: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    tolerance: Mapping[str, Any] = field(default_factory=dict)
    countries: tuple[str, ...] = ()
    applies_to: str = "submissions"  # or "registers": unit-level register rules
    source: str = ""


# A hostile file can hold a 100 kB "value"; findings stay readable and small.
MAX_VALUE_CHARS = 200
MAX_DETAIL_CHARS = 600


def _clip(text: str | None, limit: int) -> str | None:
    """Cut ``text`` to ``limit`` characters, saying how much was left out.

    Examples:
        >>> _clip("x" * 10, 4)
        'xxxx… (6 more characters)'
    """
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class RuleCatalogue(Mapping[str, Rule]):
    """All rules by name, loaded from one folder of rule files."""

    def __init__(self, rules: Mapping[str, Rule]) -> None:
        self._rules = dict(rules)

    def __getitem__(self, name: str) -> Rule:
        try:
            return self._rules[name]
        except KeyError:
            raise SchemaFileError(
                "schemas/rules", name, "rule is not defined"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def finding(
        self,
        rule: str,
        *,
        file: str,
        row: int | None,
        column: str | None,
        value: str | None,
        detail: str,
    ) -> Finding:
        """Build a finding whose message points at the cell (style.md §6).

        Examples:
            >>> cat = RuleCatalogue({"r": Rule(name="r", label="", description="",
            ...                                level=0, severity="error")})
            >>> cat.finding("r", file="a.csv", row=2, column="X", value="v",
            ...             detail='value "v" is bad').message
            'a.csv, row 2, column "X": value "v" is bad (rule: r)'
        """
        spec = self[rule]
        shown = _clip(detail, MAX_DETAIL_CHARS)
        where = [file]
        if row is not None:
            where.append(f"row {row}")
        column = _clip(column, MAX_VALUE_CHARS)
        if column is not None:
            where.append(f'column "{column}"')
        return Finding(
            file=file,
            row=row,
            column=column,
            value=_clip(value, MAX_VALUE_CHARS),
            rule=rule,
            level=spec.level,
            severity=spec.severity,
            message=f"{', '.join(where)}: {shown} (rule: {rule})",
            unusable=spec.unusable,
        )


def _rule_from(raw: Any, source: str, index: int) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise SchemaFileError(source, where, "a rule must be a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise SchemaFileError(source, where, f"unknown keys {sorted(unknown)}")
    for key in ("name", "label", "level", "severity"):
        if key not in raw:
            raise SchemaFileError(source, f"{where}.{key}", "is required")
    if raw["severity"] not in SEVERITIES:
        raise SchemaFileError(
            source, f"{where}.severity", f"must be one of {SEVERITIES}"
        )
    if not isinstance(raw["level"], int) or not 0 <= raw["level"] <= 5:
        raise SchemaFileError(source, f"{where}.level", "must be an integer 0-5")
    return Rule(
        name=str(raw["name"]),
        label=str(raw["label"]),
        description=str(raw.get("description", "")),
        level=int(raw["level"]),
        severity=raw["severity"],
        unusable=bool(raw.get("unusable", False)),
        reference=str(raw.get("reference", "")),
        expectation=raw.get("expectation"),
        kwargs=dict(raw.get("kwargs") or {}),
        tolerance=dict(raw.get("tolerance") or {}),
        countries=tuple(raw.get("countries") or ()),
        applies_to=str(raw.get("applies_to") or "submissions"),
        source=source,
    )


def load_rules(rules_dir: Path) -> RuleCatalogue:
    """Load every ``*.yaml`` in ``rules_dir`` (safe YAML); names must be unique.

    Raises:
        SchemaFileError: a file is malformed or a rule name repeats.
    """
    rules: dict[str, Rule] = {}
    for path in sorted(rules_dir.glob("*.yaml")):
        try:
            doc = safe_yaml(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise SchemaFileError(path.name, "(file)", f"invalid YAML: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
            raise SchemaFileError(path.name, "rules", "a list of rules is required")
        for index, raw in enumerate(doc["rules"]):
            rule = _rule_from(raw, path.name, index)
            if rule.name in rules:
                raise SchemaFileError(
                    path.name,
                    f"rules[{index}].name",
                    f"{rule.name!r} is already defined in {rules[rule.name].source}",
                )
            rules[rule.name] = rule
    return RuleCatalogue(rules)


@lru_cache(maxsize=8)
def cached_rules(rules_dir: Path) -> RuleCatalogue:
    """Load once per process (rule files do not change during a run)."""
    return load_rules(rules_dir)
