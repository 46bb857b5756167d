"""Frozen value objects for the harmonised schema (schema.md §2-§6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SPECIAL_CODES = ("_T", "_Z", "_U")


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeList:
    """One code list: ids with labels in English, French and Spanish.

    ``extra`` keeps any further columns of the file (for example ``parent``,
    ``ref_area`` and ``exhaustive`` of national subgroups) by id.

    Examples:
        >>> cl = CodeList(concept="sex", labels={"F": ("Female", "Femmes", "Mujeres")})
        >>> "F" in cl, cl.label("F", "fr")
        (True, 'Femmes')
    """

    concept: str
    labels: Mapping[str, tuple[str, str, str]]
    extra: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __contains__(self, code: object) -> bool:
        return code in self.labels

    def label(self, code: str, lang: str = "en") -> str:
        """Label of ``code`` in ``lang`` (en, fr, es)."""
        return self.labels[code][("en", "fr", "es").index(lang)]

    def attribute(self, code: str, name: str) -> str:
        """A further column of the code-list file (empty when absent)."""
        return self.extra.get(code, {}).get(name, "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Component:
    """A column of the canonical template (schema.md §3.1)."""

    id: str
    role: str
    required: bool = False
    default: str | None = None
    codelist: str | None = None

    @property
    def curated_name(self) -> str:
        """The curated column name: the lower-case id (schema.md §11.1)."""
        return self.id.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """Every named component has one of the listed codes."""

    codes: Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Applicability:
    """When a dimension applies and what `_Z`/`_T`/omitted is read as."""

    dimension: str
    conditions: tuple[tuple[Condition, str], ...]  # (condition, total code)


@dataclass(frozen=True, slots=True, kw_only=True)
class Measure:
    """A MEASURE code with its allowed units and arithmetic (schema.md §5.1)."""

    id: str
    units: frozenset[str]
    additivity: str
    may_be_negative: str

    @property
    def is_money(self) -> bool:
        """Valued in a currency (XDC or an ISO 4217 code)."""
        return "CURRENCY" in self.units


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """The whole harmonised schema as loaded from ``schemas/harmonised``."""

    structure_id: str
    components: tuple[Component, ...]
    codelists: Mapping[str, CodeList]
    applicability: Mapping[str, Applicability]
    measures: Mapping[str, Measure]
    natecon_not_applicable: frozenset[str]
    natecon_work_cat: frozenset[str]

    @property
    def template_ids(self) -> tuple[str, ...]:
        """Template column ids in canonical order."""
        return tuple(c.id for c in self.components)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The thirteen dimensions, in template order."""
        return tuple(c.id for c in self.components if c.role == "dimension")

    def component(self, component_id: str) -> Component:
        """The component named ``component_id``."""
        for comp in self.components:
            if comp.id == component_id:
                return comp
        raise KeyError(component_id)
