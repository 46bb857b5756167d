"""Every word of the exports, in English, French and Spanish, read from ``schemas/``.

Labels of codes come from ``schemas/harmonised/codelists/*.csv``; country and
ISO 3166-2 region names from pycountry and its French and Spanish catalogues;
everything else a reader sees (titles, headings, the flag legend, source lines,
note templates) from ``schemas/exports/icls_background_tables.yaml``. No text
shown to a reader is written in code.
"""

from __future__ import annotations

import csv
import gettext
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pycountry

from sse_stats.errors import SchemaFileError
from sse_stats.schema.load import load_codelist, load_yaml, require_mapping
from sse_stats.schema.model import CodeList

LANGUAGES: tuple[str, ...] = ("en", "fr", "es")
"""The ILO's official languages, in the order of the code-list label columns."""

EXPORTS_FILE = "icls_background_tables.yaml"
ILOSTAT_FILE = "ilostat_indicators.csv"
COUNTRY_NAMES_FILE = "country_names.csv"
"""Country names where ISO 3166's inverted form ("Corée, République de") would
read badly in a title: the UN short names (UNTERM), in each language."""
_MEASURE_DIMS = frozenset({"measure", "base_measure", "share_base"})
_VERBATIM_DIMS = frozenset({"time_period", "edition", "freq"})
_TOP_KEYS = {
    "languages",
    "phrases",
    "symbols",
    "dimension_names",
    "special_codes",
    "satellite_measures",
    "tables",
    "notes",
    "satellite_notes",
    "layout",
    "ilostat",
}

Localised = Mapping[str, str]
"""A text in each language: ``{"en": …, "fr": …, "es": …}``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TableText:
    """Number, title and description of one table in each language."""

    number: int
    title: Localised
    description: Localised


@dataclass(frozen=True, slots=True, kw_only=True)
class IlostatClassif:
    """How one ILOSTAT classification column is made from a dimension."""

    dimension: str
    prefix: str
    codes: Mapping[str, str]

    def code(self, value: str) -> str:
        """The ILOSTAT code of ``value``.

        Examples:
            >>> IlostatClassif(dimension="activity", prefix="ECO_ISIC4_",
            ...                codes={"_T": "TOTAL"}).code("_T")
            'ECO_ISIC4_TOTAL'
        """
        return self.prefix + self.codes.get(value, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class IlostatSpec:
    """The ILOSTAT bulk layout of the labour tables (schema.md §11.2)."""

    tables: tuple[str, ...]
    sex: Mapping[str, str]
    classif: Mapping[str, Mapping[str, IlostatClassif]]
    indicators: Mapping[tuple[str, str], str]
    notes: Mapping[str, Localised]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportTexts:
    """Texts and presentation settings of the ICLS background tables."""

    phrases: Mapping[str, Localised]
    symbols: Mapping[str, tuple[str, Localised]]
    dimension_names: Mapping[str, Localised]
    special_codes: Mapping[str, Localised]
    satellite_measures: Mapping[str, Localised]
    tables: Mapping[str, TableText]
    notes: Mapping[str, Localised]
    satellite_notes: Mapping[str, str]
    dropped_notes: tuple[str, ...]
    hide_codes: Mapping[str, frozenset[str]]
    total_first: frozenset[str]
    decimals: Mapping[str, int]
    ilostat: IlostatSpec
    codelists: Mapping[str, CodeList]
    country_names: Mapping[str, Localised]
    orders: Mapping[str, Mapping[str, tuple[str, ...]]]

    def phrase(self, key: str, lang: str, **fields: object) -> str:
        """A phrase of the YAML in ``lang``, with its ``{fields}`` filled in.

        Examples:
            >>> texts = load_texts(Path("schemas"))
            >>> texts.phrase("unit_row", "fr")
            'Unité'
        """
        return fill(self.phrases[key][lang], fields)

    def note(self, key: str, lang: str, **fields: object) -> str:
        """A note template of the YAML in ``lang``, filled in."""
        return fill(self.notes[key][lang], fields)

    def symbol(self, key: str) -> str:
        """The value-cell symbol ``suppressed`` or ``missing``."""
        return self.symbols[key][0]

    def label(self, dimension: str, code: object, lang: str) -> str:
        """The label of ``code`` of a dimension (or measure) in ``lang``.

        Unknown codes are shown as they are: a label is never invented.
        """
        if code is None:
            return ""
        text = str(code)
        if dimension in _VERBATIM_DIMS:
            return text
        if dimension in _MEASURE_DIMS:
            if text in self.satellite_measures:
                return self.satellite_measures[text][lang]
            return self._from_codelist("measure", text, lang)
        if dimension == "ref_area":
            if text in self.country_names:
                return self.country_names[text][lang]
            return country_name(text, lang)
        if dimension == "region":
            if text in self.special_codes:
                return self._from_codelist("region_special", text, lang)
            return region_name(text, lang)
        return self._from_codelist(dimension, text, lang)

    def _from_codelist(self, concept: str, code: str, lang: str) -> str:
        codelist = self.codelists.get(concept)
        if codelist is not None and code in codelist:
            return codelist.label(code, lang)
        if code in self.special_codes:
            return self.special_codes[code][lang]
        return code

    def hidden(self, dimension: str, code: object) -> bool:
        """Whether ``code`` is printed as a blank label in ``dimension``."""
        if code is None:
            return True
        hidden = self.hide_codes.get("all", frozenset())
        return str(code) in hidden or str(code) in self.hide_codes.get(
            dimension, frozenset()
        )


def fill(template: str, fields: Mapping[str, object]) -> str:
    """Fill ``{name}`` fields with text; values are inserted, never evaluated.

    Examples:
        >>> fill("Coverage: {label}", {"label": "{0.__class__}"})
        'Coverage: {0.__class__}'
    """
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(str(fields[name]))
    return "".join(out)


def pattern_of(template: str) -> re.Pattern[str]:
    """A regular expression matching the text a template produces.

    Examples:
        >>> pattern_of("Coverage: {label}").fullmatch("Coverage: All").group("label")
        'All'
    """
    parts = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P<{name}>.+?)")
    return re.compile("".join(parts))


# ----------------------------------------------------------------- names


@lru_cache(maxsize=8)
def _catalogue(domain: str, lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(
        domain, pycountry.LOCALES_DIR, languages=[lang], fallback=True
    )


def country_name(code: str, lang: str) -> str:
    """The ISO 3166-1 name of a country in ``lang`` (pycountry's catalogues).

    Examples:
        >>> country_name("ESP", "fr"), country_name("XXX", "en")
        ('Espagne', 'XXX')
    """
    country = pycountry.countries.get(alpha_3=code)
    if country is None:
        return code
    name = getattr(country, "common_name", None) if lang == "en" else None
    return name or _catalogue("iso3166-1", lang).gettext(country.name)


def region_name(code: str, lang: str) -> str:
    """The ISO 3166-2 name of a subdivision (the code itself when unknown)."""
    try:
        subdivision = pycountry.subdivisions.get(code=code)  # type: ignore[no-untyped-call]
    except (KeyError, LookupError):  # pragma: no cover - pycountry versions differ
        subdivision = None
    if subdivision is None:
        return code
    return _catalogue("iso3166-2", lang).gettext(subdivision.name)


# ----------------------------------------------------------------- loading


def load_texts(schemas_dir: Path) -> ExportTexts:
    """Read ``schemas/exports/`` and the code lists into :class:`ExportTexts`.

    Raises:
        SchemaFileError: a key is unknown or missing, or a text lacks a language;
            the message names the file and the key path.
    """
    folder = schemas_dir / "exports"
    raw = _mapping(load_yaml(folder / EXPORTS_FILE), "")
    _check_keys(raw, _TOP_KEYS, "")
    if tuple(raw.get("languages") or ()) != LANGUAGES:
        raise SchemaFileError(EXPORTS_FILE, "languages", f"must be {list(LANGUAGES)}")
    symbols = {}
    for key, spec in _mapping(raw.get("symbols"), "symbols").items():
        where = f"symbols.{key}"
        spec = _mapping(spec, where)
        _check_keys(spec, {"symbol", *LANGUAGES}, where)
        symbols[str(key)] = (str(spec.get("symbol", "")), _localised(spec, where))
    _require(symbols, {"suppressed", "missing"}, "symbols")
    satellite_notes = _mapping(raw.get("satellite_notes"), "satellite_notes")
    _check_keys(
        satellite_notes, {"perimeter", "mixed_coverage", "drop"}, "satellite_notes"
    )
    layout = _mapping(raw.get("layout"), "layout")
    _check_keys(layout, {"hide_codes", "total_first", "decimals"}, "layout")
    codelists = {
        p.stem: load_codelist(p)
        for p in sorted((schemas_dir / "harmonised" / "codelists").glob("*.csv"))
    }
    tables = _tables(raw.get("tables"))
    texts = ExportTexts(
        phrases=_texts(raw.get("phrases"), "phrases"),
        symbols=symbols,
        dimension_names=_texts(raw.get("dimension_names"), "dimension_names"),
        special_codes=_texts(raw.get("special_codes"), "special_codes"),
        satellite_measures=_texts(raw.get("satellite_measures"), "satellite_measures"),
        tables=tables,
        notes=_texts(raw.get("notes"), "notes"),
        satellite_notes={k: str(v) for k, v in satellite_notes.items() if k != "drop"},
        dropped_notes=tuple(str(v) for v in satellite_notes.get("drop") or ()),
        hide_codes={
            str(k): frozenset(map(str, v or ()))
            for k, v in _mapping(layout.get("hide_codes"), "layout.hide_codes").items()
        },
        total_first=frozenset(map(str, layout.get("total_first") or ())),
        decimals={
            str(k): int(v)
            for k, v in _mapping(layout.get("decimals"), "layout.decimals").items()
        },
        ilostat=_ilostat(raw.get("ilostat"), folder / ILOSTAT_FILE),
        codelists=codelists,
        country_names=_country_names(folder / COUNTRY_NAMES_FILE),
        orders={name: _shell_order(schemas_dir, name) for name in tables},
    )
    _require(
        texts.notes,
        {"coverage", "valuation_method", "perimeter", "mixed_coverage", "comment"},
        "notes",
    )
    return texts


def _tables(raw: Any) -> dict[str, TableText]:
    out = {}
    for name, spec in _mapping(raw, "tables").items():
        where = f"tables.{name}"
        spec = _mapping(spec, where)
        _check_keys(spec, {"number", "title", "description"}, where)
        number = spec.get("number")
        if not isinstance(number, int):
            raise SchemaFileError(
                EXPORTS_FILE, f"{where}.number", "an integer is required"
            )
        out[str(name)] = TableText(
            number=number,
            title=_localised(spec.get("title"), f"{where}.title"),
            description=_localised(spec.get("description"), f"{where}.description"),
        )
    return out


def _country_names(path: Path) -> dict[str, Localised]:
    """``{ISO3: {en, fr, es}}`` from :data:`COUNTRY_NAMES_FILE` (absent: none)."""
    if not path.is_file():
        return {}
    out: dict[str, Localised] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            names = {lang: (record.get(lang) or "").strip() for lang in LANGUAGES}
            code = (record.get("ref_area") or "").strip()
            if not code or not all(names.values()):
                raise SchemaFileError(COUNTRY_NAMES_FILE, f"line {line}", "empty field")
            out[code] = names
    return out


def _ilostat(raw: Any, indicators_file: Path) -> IlostatSpec:
    spec = _mapping(raw, "ilostat")
    keys = {"tables", "sex", "classif", "note_unit", "note_subgroup"}
    keys |= {"note_confidential", "note_source"}
    _check_keys(spec, keys, "ilostat")
    classif: dict[str, dict[str, IlostatClassif]] = {}
    for table, columns in _mapping(spec.get("classif"), "ilostat.classif").items():
        where = f"ilostat.classif.{table}"
        classif[str(table)] = {}
        for column, rule in _mapping(columns, where).items():
            rule = _mapping(rule, f"{where}.{column}")
            _check_keys(rule, {"dimension", "prefix", "codes"}, f"{where}.{column}")
            classif[str(table)][str(column)] = IlostatClassif(
                dimension=str(rule.get("dimension")),
                prefix=str(rule.get("prefix", "")),
                codes={str(k): str(v) for k, v in (rule.get("codes") or {}).items()},
            )
    indicators: dict[tuple[str, str], str] = {}
    with indicators_file.open(encoding="utf-8", newline="") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            key = (record.get("table") or "", record.get("measure") or "")
            if not all(key) or not record.get("indicator"):
                raise SchemaFileError(ILOSTAT_FILE, f"line {line}", "empty field")
            indicators[key] = str(record["indicator"])
    return IlostatSpec(
        tables=tuple(map(str, spec.get("tables") or ())),
        sex={
            str(k): str(v) for k, v in _mapping(spec.get("sex"), "ilostat.sex").items()
        },
        classif=classif,
        indicators=indicators,
        notes={
            key: _localised(spec.get(key), f"ilostat.{key}")
            for key in (
                "note_unit",
                "note_subgroup",
                "note_confidential",
                "note_source",
            )
        },
    )


def _shell_order(schemas_dir: Path, name: str) -> dict[str, tuple[str, ...]]:
    """Codes in the order the shell file lists them (shells keep only sets)."""
    path = schemas_dir / "tables" / f"{name}.yaml"
    if not path.exists():
        raise SchemaFileError(EXPORTS_FILE, f"tables.{name}", "no such table shell")
    doc = load_yaml(path) or {}
    order: dict[str, list[str]] = {}
    for dim, codes in (doc.get("dimensions") or {}).items():
        if isinstance(codes, list):
            order.setdefault(str(dim), []).extend(str(c) for c in codes)
    for selector in doc.get("measures") or []:
        for column, codes in (selector or {}).items():
            listed = [codes] if isinstance(codes, str) else codes
            if isinstance(listed, list):
                bucket = order.setdefault(str(column), [])
                bucket.extend(str(c) for c in listed if str(c) not in bucket)
    for derivation in doc.get("derivations") or []:
        measure = (derivation or {}).get("measure")
        if isinstance(measure, str):
            order.setdefault("measure", []).append(measure)
    return {dim: tuple(codes) for dim, codes in order.items()}


def _texts(raw: Any, where: str) -> dict[str, Localised]:
    return {
        str(k): _localised(v, f"{where}.{k}") for k, v in _mapping(raw, where).items()
    }


def _localised(raw: Any, where: str) -> dict[str, str]:
    spec = _mapping(raw, where)
    out = {}
    for lang in LANGUAGES:
        text = spec.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise SchemaFileError(EXPORTS_FILE, f"{where}.{lang}", "text is required")
        out[lang] = text
    return out


def _mapping(raw: Any, where: str) -> Mapping[str, Any]:
    return require_mapping(raw, EXPORTS_FILE, where)


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            path = f"{where}.{key}" if where else str(key)
            raise SchemaFileError(EXPORTS_FILE, path, f"unknown key {key!r}")


def _require(found: Mapping[str, Any], needed: set[str], where: str) -> None:
    missing: Sequence[str] = sorted(needed - set(found))
    if missing:
        raise SchemaFileError(EXPORTS_FILE, where, f"missing keys {list(missing)}")
