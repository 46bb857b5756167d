"""Country mappings (``schemas/mappings/<ISO3>.yaml``) as frozen, closed objects.

A mapping says how one national layout becomes canonical template rows: the
file format, number locale, flag vocabulary, constants, text extracted from
title or note lines, and what each national column is. See
``schemas/mappings/_template.yaml`` for the annotated format.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sse_stats.errors import SchemaFileError, UsageError
from sse_stats.ingest.read import FileFormat
from sse_stats.schema.load import load_yaml

ISO3 = re.compile(r"^[A-Z]{3}$")
_TOP_KEYS = {
    "country",
    "description",
    "layout",
    "file",
    "numbers",
    "flags",
    "constants",
    "extract",
    "columns",
    "ignore",
}
_FILE_KEYS = {"encoding", "delimiter", "quotechar", "header_line", "footer_lines"}
_COLUMN_KEYS = {"to", "codes", "other", "measure", "value", "set", "when", "optional"}
_EXTRACT_KEYS = {"pattern", "lines"}


@dataclass(frozen=True, slots=True, kw_only=True)
class FlagCode:
    """What one national flag means in SDMX terms (schema.md §6.4)."""

    flag: str
    obs_status: str
    conf_status: str
    value: str  # keep | empty | zero
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnRule:
    """One way to read a national column; ``when`` limits it to some rows.

    Exactly one role: ``to`` (a component, verbatim or through ``codes``),
    ``codes`` alone (label → several components), ``measure`` (a wide value
    column) or ``value`` (the value column of a long layout).
    """

    column: str
    to: str | None = None
    codes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    other: str = "error"  # error | verbatim: labels missing from `codes`
    measure: str | None = None
    value: bool = False
    set: Mapping[str, str] = field(default_factory=dict)
    when: Mapping[str, frozenset[str]] = field(default_factory=dict)
    optional: bool = False

    @property
    def is_value(self) -> bool:
        """The column holds numbers (and flags), not codes."""
        return self.value or self.measure is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Extraction:
    """A component read from the lines around the table (title, notes)."""

    component: str
    pattern: re.Pattern[str]
    lines: str  # preamble | footer | around


@dataclass(frozen=True, slots=True, kw_only=True)
class CountryMapping:
    """A national layout, as declared in ``schemas/mappings/<ISO3>.yaml``."""

    country: str
    source: str
    layout: str
    fmt: FileFormat
    decimal: str
    thousands: tuple[str, ...]
    flags: Mapping[str, FlagCode]
    constants: Mapping[str, str]
    extract: tuple[Extraction, ...]
    columns: Mapping[str, tuple[ColumnRule, ...]]
    ignore: Mapping[str, str]


def _fail(source: str, key: str, problem: str) -> SchemaFileError:
    return SchemaFileError(source, key, problem)


def _closed(raw: Any, allowed: set[str], source: str, key: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(source, key, "a mapping is required")
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(
            source, key, f"unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})"
        )
    return raw


def _text_map(raw: Any, source: str, key: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(source, key, "a mapping is required")
    return {str(k): str(v) for k, v in raw.items()}


def _column_rule(name: str, raw: Any, source: str, key: str) -> ColumnRule:
    spec = _closed(raw, _COLUMN_KEYS, source, key)
    roles = [r for r in ("to", "measure", "value") if spec.get(r)]
    if len(roles) > 1 or (not roles and "codes" not in spec):
        raise _fail(source, key, "needs exactly one of to, codes, measure, value")
    codes: dict[str, dict[str, str]] = {}
    for label, target in (spec.get("codes") or {}).items():
        if isinstance(target, dict):
            codes[str(label)] = {str(k): str(v) for k, v in target.items()}
        elif spec.get("to"):
            codes[str(label)] = {str(spec["to"]): str(target)}
        else:
            raise _fail(
                source,
                f"{key}.codes.{label}",
                "a mapping of components is required without `to`",
            )
    other = str(spec.get("other", "error"))
    if other not in ("error", "verbatim"):
        raise _fail(source, f"{key}.other", "must be error or verbatim")
    when = {
        str(k): frozenset(map(str, v if isinstance(v, list) else [v]))
        for k, v in (spec.get("when") or {}).items()
    }
    return ColumnRule(
        column=name,
        to=spec.get("to"),
        codes=codes,
        other=other,
        measure=spec.get("measure"),
        value=bool(spec.get("value", False)),
        set=_text_map(spec.get("set"), source, f"{key}.set"),
        when=when,
        optional=bool(spec.get("optional", False)),
    )


def load_flagmap(path: Path) -> dict[str, FlagCode]:
    """Read ``schemas/flagmaps/<VOCABULARY>.csv`` (national_flag, obs_status, …)."""
    if not path.is_file():
        raise _fail(path.name, "(file)", "flag vocabulary file is missing")
    with path.open(encoding="utf-8", newline="") as handle:
        out = {}
        for line, rec in enumerate(csv.DictReader(handle), start=2):
            flag = rec.get("national_flag") or ""
            if not flag or rec.get("value") not in ("keep", "empty", "zero"):
                raise _fail(
                    path.name,
                    f"line {line}",
                    "national_flag and value (keep, empty, zero) are required",
                )
            out[flag] = FlagCode(
                flag=flag,
                obs_status=rec["obs_status"],
                conf_status=rec["conf_status"],
                value=rec["value"],
                note=rec.get("note") or "",
            )
    return out


def load_mapping(path: Path) -> CountryMapping:
    """Load and check one mapping file (safe YAML, closed keys).

    Raises:
        SchemaFileError: naming the file and the key path that is wrong.
    """
    source = path.name
    doc = _closed(load_yaml(path), _TOP_KEYS, source, "(top)")
    country = str(doc.get("country", ""))
    if not ISO3.match(country):
        raise _fail(source, "country", "an ISO 3166-1 alpha-3 code is required")
    layout = str(doc.get("layout", ""))
    if layout not in ("wide", "long"):
        raise _fail(source, "layout", "must be wide or long")
    file_spec = _closed(doc.get("file") or {}, _FILE_KEYS, source, "file")
    fmt = FileFormat(
        encoding=str(file_spec.get("encoding", "utf-8")),
        delimiter=str(file_spec.get("delimiter", ",")),
        quotechar=str(file_spec.get("quotechar", '"')),
        header_line=int(file_spec.get("header_line", 1)),
        footer_lines=int(file_spec.get("footer_lines", 0)),
    )
    numbers = _closed(
        doc.get("numbers") or {}, {"decimal", "thousands"}, source, "numbers"
    )
    thousands = numbers.get("thousands") or []
    flags_spec = _closed(doc.get("flags") or {}, {"vocabulary"}, source, "flags")
    flags: dict[str, FlagCode] = {}
    if flags_spec.get("vocabulary"):
        vocab = str(flags_spec["vocabulary"])
        if not re.fullmatch(r"[A-Z0-9_]+", vocab):
            raise _fail(source, "flags.vocabulary", "must be an upper-case file stem")
        flags = load_flagmap(path.parent.parent / "flagmaps" / f"{vocab}.csv")
    extract = []
    for comp, raw in (doc.get("extract") or {}).items():
        spec = _closed(raw, _EXTRACT_KEYS, source, f"extract.{comp}")
        try:
            pattern = re.compile(str(spec["pattern"]))
        except (KeyError, re.error) as exc:
            raise _fail(
                source,
                f"extract.{comp}.pattern",
                f"a regular expression with one group is required ({exc})",
            ) from exc
        extract.append(
            Extraction(
                component=str(comp),
                pattern=pattern,
                lines=str(spec.get("lines", "around")),
            )
        )
    columns: dict[str, tuple[ColumnRule, ...]] = {}
    for name, raw in (doc.get("columns") or {}).items():
        variants = raw if isinstance(raw, list) else [raw]
        columns[str(name)] = tuple(
            _column_rule(str(name), v, source, f"columns.{name}[{i}]")
            for i, v in enumerate(variants)
        )
    if not columns:
        raise _fail(source, "columns", "at least one column is required")
    if layout == "long" and not any(
        r.value for rules in columns.values() for r in rules
    ):
        raise _fail(
            source, "columns", "a long layout needs one column with `value: true`"
        )
    return CountryMapping(
        country=country,
        source=f"schemas/mappings/{source}",
        layout=layout,
        fmt=fmt,
        decimal=str(numbers.get("decimal", ".")),
        thousands=tuple(
            str(t) for t in (thousands if isinstance(thousands, list) else [thousands])
        ),
        flags=flags,
        constants=_text_map(doc.get("constants"), source, "constants"),
        extract=tuple(extract),
        columns=columns,
        ignore=_text_map(doc.get("ignore"), source, "ignore"),
    )


def mapping_path(schemas_dir: Path, country: str) -> Path:
    """Path of a country's mapping; the code is untrusted input.

    Raises:
        UsageError: ``country`` is not an ISO3-shaped code or has no mapping.
    """
    if not ISO3.match(country):
        raise UsageError(
            f"--country {country!r} is not an ISO 3166-1 alpha-3 code (e.g. PRT)"
        )
    path = schemas_dir / "mappings" / f"{country}.yaml"
    if not path.is_file():
        known = sorted(
            p.stem for p in (schemas_dir / "mappings").glob("[A-Z][A-Z][A-Z].yaml")
        )
        raise UsageError(
            f"no mapping for {country}: schemas/mappings/{country}.yaml "
            f"does not exist (known: {', '.join(known) or 'none'})"
        )
    return path
