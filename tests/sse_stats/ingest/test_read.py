"""Reading submissions as text: line numbers, encodings, format errors, no writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sse_stats.ingest.read import FileFormat, read_submission
from sse_stats.validate.catalogue import RuleCatalogue

NSO = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "nso"


def _write(tmp_path: Path, data: bytes, name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_read_submission__crlf_blank_line__lines_counted(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """A blank line is skipped with an info, and later lines keep their physical
    number."""
    path = _write(tmp_path, b"A,B\r\n1,2\r\n\r\n3,4\r\n")
    result = read_submission(path, FileFormat(), catalogue)
    assert result.submission is not None
    assert [(r.line, r.fields) for r in result.submission.records] == [
        (2, ("1", "2")),
        (4, ("3", "4")),
    ]
    assert [(f.rule, f.row, f.severity) for f in result.findings] == [
        ("blank_line_ignored", 3, "info")
    ]


def test_read_submission__quoted_line_break__record_starts_line(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """A record whose quoted field spans lines is numbered by the line where it
    starts."""
    path = _write(tmp_path, b'A,B\n"x\ny",2\n3,4\n')
    sub = read_submission(path, FileFormat(), catalogue).submission
    assert sub is not None
    assert [r.line for r in sub.records] == [2, 4]


def test_read_submission__bom__stripped_from_first_header(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """A UTF-8 byte-order mark is tolerated and not part of the first column name."""
    path = _write(tmp_path, "\ufeffAnnée;X\n2021;1\n".encode(), "f.csv")
    sub = read_submission(path, FileFormat(delimiter=";"), catalogue).submission
    assert sub is not None and sub.header == ("Année", "X")


def test_read_submission__utf16_for_cp1252__unusable_file_is_utf8(
    catalogue: RuleCatalogue,
) -> None:
    """A UTF-16 file declared cp1252 is unusable (row null), never read as
    NUL-laden text."""
    path = NSO / "bad" / "PRT__undeclared_encoding_utf16.csv"
    result = read_submission(
        path, FileFormat(encoding="cp1252", delimiter=";", header_line=4), catalogue
    )
    assert result.submission is None
    assert [(f.rule, f.row, f.unusable) for f in result.findings] == [
        ("file_is_utf8", None, True)
    ]
    assert "UTF-16" in result.findings[0].message


def test_read_submission__invalid_utf8__names_offset_and_line(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """Bytes that are not UTF-8 give file_is_utf8 with the byte, offset and line."""
    path = _write(tmp_path, b"A,B\n1,\x80\n")
    result = read_submission(path, FileFormat(), catalogue)
    assert result.submission is None
    assert "0x80 at offset 6 (line 2)" in result.findings[0].message


def test_read_submission__empty_file__csv_is_well_formed(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """A 0-byte file has no header row: unusable."""
    result = read_submission(_write(tmp_path, b""), FileFormat(), catalogue)
    assert [(f.rule, f.row) for f in result.findings] == [("csv_is_well_formed", None)]


def test_read_submission__unclosed_quote__csv_is_well_formed(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """An unbalanced quote makes the file unusable instead of swallowing lines."""
    result = read_submission(
        _write(tmp_path, b'A,B\n"1,2\n3,4\n'), FileFormat(), catalogue
    )
    assert result.submission is None
    assert result.findings[0].rule == "csv_is_well_formed"


def test_read_submission__ragged_line__reported_and_not_read(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """A line with more fields than the header is an error on that line and is
    skipped."""
    result = read_submission(
        _write(tmp_path, b"A,B\n1,2,3\n4,5\n"), FileFormat(), catalogue
    )
    assert result.submission is not None
    assert [r.line for r in result.submission.records] == [3]
    assert [(f.rule, f.row, f.column) for f in result.findings] == [
        ("row_matches_header", 2, None)
    ]


def test_read_submission__footer_and_preamble__kept_apart(
    catalogue: RuleCatalogue,
) -> None:
    """PRT: three lines above the header and two footer lines are not data."""
    fmt = FileFormat(encoding="cp1252", delimiter=";", header_line=4, footer_lines=2)
    sub = read_submission(NSO / "good" / "PRT_2019-2020.csv", fmt, catalogue).submission
    assert sub is not None
    assert (sub.header_line, len(sub.records), sub.records[0].line) == (4, 16, 5)
    assert sub.preamble[0].startswith("Conta Satélite")
    assert sub.footer[0].startswith("Sinais convencionais")


def test_read_submission__never_modifies_the_file(catalogue: RuleCatalogue) -> None:
    """Reading leaves bytes and modification time untouched; the SHA-256 is kept."""
    path = NSO / "good" / "KEN_2022.csv"
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    result = read_submission(path, FileFormat(header_line=3), catalogue)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert result.sha256 == hashlib.sha256(before[0]).hexdigest()


def test_read_submission__missing_file__file_is_readable(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """A file that cannot be opened is one unusable finding, not an exception."""
    result = read_submission(tmp_path / "nope.csv", FileFormat(), catalogue)
    assert [(f.rule, f.unusable) for f in result.findings] == [
        ("file_is_readable", True)
    ]


def test_read_submission__auto_format__detected_and_stated(
    catalogue: RuleCatalogue,
) -> None:
    """`auto` finds cp1252 and ';' in the PRT file, and an info finding says so."""
    declared = FileFormat(
        encoding="cp1252", delimiter=";", header_line=4, footer_lines=2
    )
    auto = FileFormat(encoding="auto", delimiter="auto", header_line=4, footer_lines=2)
    path = NSO / "good" / "PRT_2019-2020.csv"
    expected = read_submission(path, declared, catalogue).submission
    result = read_submission(path, auto, catalogue)
    assert result.submission is not None and expected is not None
    assert result.submission.records == expected.records
    assert result.submission.header == expected.header
    stated = [f for f in result.findings if f.rule == "format_detected"]
    assert len(stated) == 1 and "';'" in stated[0].message
    assert stated[0].severity == "info"


def test_read_submission__auto_format__utf8_comma(
    tmp_path: Path, catalogue: RuleCatalogue
) -> None:
    """A plain UTF-8 comma file is detected as such."""
    path = _write(tmp_path, "Año,Valor\n2008,1.5\n2009,2\n".encode())
    result = read_submission(
        path, FileFormat(encoding="auto", delimiter="auto"), catalogue
    )
    assert result.submission is not None
    assert result.submission.fmt.encoding == "utf-8"
    assert result.submission.fmt.delimiter == ","
