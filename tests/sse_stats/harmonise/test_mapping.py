"""Mapping files load strictly; national numbers parse strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from sse_stats.errors import SchemaFileError, UsageError
from sse_stats.harmonise.mapping import load_mapping, mapping_path
from sse_stats.harmonise.parse import canonical_value, parse_national_number

ROOT = Path(__file__).resolve().parents[3]
MAPPINGS = sorted((ROOT / "schemas" / "mappings").glob("[A-Z][A-Z][A-Z].yaml"))


@pytest.mark.parametrize("path", MAPPINGS, ids=lambda p: p.name)
def test_load_mapping__shipped_mapping__loads(path: Path) -> None:
    """Every shipped country mapping loads and names its own country."""
    assert load_mapping(path).country == path.stem


def test_load_mapping__unknown_key__names_file_and_key(tmp_path: Path) -> None:
    """A misspelt key is an error naming the file and the key path, not ignored."""
    (tmp_path / "XYZ.yaml").write_text(
        "country: XYZ\nlayout: wide\ncolumns:\n  Year: {to: TIME_PERIOD, too: X}\n",
        encoding="utf-8",
    )
    with pytest.raises(
        SchemaFileError, match=r"XYZ\.yaml: columns\.Year\[0\]: unknown keys \['too'\]"
    ):
        load_mapping(tmp_path / "XYZ.yaml")


def test_load_mapping__python_tag__refused(tmp_path: Path) -> None:
    """YAML is loaded safely: a python object tag is an error, never executed."""
    (tmp_path / "XYZ.yaml").write_text(
        "country: !!python/object/apply:os.system ['true']\n", encoding="utf-8"
    )
    with pytest.raises(SchemaFileError, match="invalid YAML"):
        load_mapping(tmp_path / "XYZ.yaml")


@pytest.mark.parametrize("country", ["../PRT", "prt", "PR", "P;T"])
def test_mapping_path__malformed_country__usage_error(country: str) -> None:
    """A --country that is not ISO3-shaped never reaches the file system."""
    with pytest.raises(UsageError, match="not an ISO 3166-1 alpha-3"):
        mapping_path(ROOT / "schemas", country)


def test_mapping_path__unknown_country__lists_known() -> None:
    """An ISO3 code without a mapping is a usage error that lists the known ones."""
    with pytest.raises(UsageError, match="known: ESP, FRA, KEN, PRT"):
        mapping_path(ROOT / "schemas", "ZZZ")


@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "expected"),
    [
        ("3.618,4", ",", (".",), "3618.4"),
        ("4.487.210", ",", (".",), "4487210"),
        ("2.248", ",", (".",), "2248"),
        ("88734.6", ",", (".",), None),
        ("-2,340", ".", (",",), "-2340"),
        ("1 062 940", ",", ("\u202f",), None),
        ("1\u202f062\u202f940", ",", ("\u202f",), "1062940"),
        ("n.d.", ".", (), None),
        ("1e5", ".", (), None),
    ],
)
def test_parse_national_number__locales(
    text: str, decimal: str, thousands: tuple[str, ...], expected: str | None
) -> None:
    """Numbers are read in the declared locale only; anything else is unreadable."""
    assert parse_national_number(text, decimal, tuple(thousands)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500.3", 500.3),
        ("-1", -1.0),
        ("1e400", None),
        ("9" * 400, None),
        (" 1", None),
        ("1,5", None),
    ],
)
def test_canonical_value__template_format(text: str, expected: float | None) -> None:
    """The template's number format has no exponent or separator; infinity never
    passes."""
    assert canonical_value(text) == expected
