"""Read a submitted CSV file as text, never guessing types, never writing.

Every record keeps the physical line where it starts (header and blank lines
count), so findings point at the line the NSO sees in its own file. Problems
that make the file unreadable as rows and columns are returned as level-0
findings (``unusable``), never raised.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import charset_normalizer

from sse_stats.errors import Finding
from sse_stats.validate.catalogue import RuleCatalogue

# Byte-order marks that betray an encoding other than the declared one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "UTF-32 BE"),
    (codecs.BOM_UTF16_LE, "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "UTF-16 BE"),
)
# A few NUL bytes are a damaged value (reported on their cell); this many mean
# the file is in a wide encoding such as UTF-16 read with a one-byte codec.
_NUL_SHARE_OF_WIDE_ENCODING = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class FileFormat:
    """How a submission file is laid out on disk (from a mapping, or the template's)."""

    encoding: str = "utf-8"
    delimiter: str = ","
    quotechar: str = '"'
    header_line: int = 1
    footer_lines: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record and the 1-based physical line where it starts."""

    line: int
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """A submission read as text: header, records, and what stood around them."""

    path: Path
    name: str
    sha256: str
    size: int
    fmt: FileFormat
    header: tuple[str, ...]
    header_line: int
    records: tuple[Record, ...]
    preamble: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadResult:
    """The submission (``None`` when unusable) and the level-0 findings of reading."""

    submission: Submission | None
    findings: tuple[Finding, ...]
    sha256: str | None = None
    size: int | None = None


def escape_text(text: str) -> str:
    r"""Show control characters (NUL, tabs, line breaks) visibly in messages.

    Examples:
        >>> escape_text("10018\x0073.5")
        '10018\\x0073.5'
    """
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode()
        for ch in text
    )


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of the submitted bytes (the file's identity)."""
    return hashlib.sha256(data).hexdigest()


def _decode(
    data: bytes, fmt: FileFormat, name: str, cat: RuleCatalogue
) -> str | Finding:
    encoding = codecs.lookup(fmt.encoding).name
    for bom, label in _BOMS:
        if data.startswith(bom) and not encoding.startswith(("utf-16", "utf-32")):
            return cat.finding(
                "file_is_utf8",
                file=name,
                row=None,
                column=None,
                value=None,
                detail=f"the file starts with a {label} byte-order mark but the layout "
                f"declares {fmt.encoding}; save it as {fmt.encoding}",
            )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return cat.finding(
            "file_is_utf8",
            file=name,
            row=None,
            column=None,
            value=None,
            detail=f"byte 0x{data[exc.start]:02X} at offset {exc.start} (line {line}) "
            f"is not valid {fmt.encoding}; save the file as {fmt.encoding}",
        )
    if text.startswith("\ufeff"):
        text = text[1:]  # spreadsheet exports write a BOM; tolerated (schema.md §3.2)
    if text and text.count("\x00") / len(text) > _NUL_SHARE_OF_WIDE_ENCODING:
        return cat.finding(
            "file_is_utf8",
            file=name,
            row=None,
            column=None,
            value=None,
            detail=f"{text.count(chr(0))} NUL bytes: the file looks like UTF-16 or "
            f"UTF-32, not the declared {fmt.encoding}",
        )
    return text


AUTO = "auto"
_DELIMITERS = ",;\t|"


def _detect_encoding(data: bytes) -> str:
    for bom, label in _BOMS:
        if data.startswith(bom):
            return label.replace(" ", "-").lower()  # "UTF-16 LE" -> "utf-16-le"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        # charset-normalizer (a maintained detector) instead of a home-made guess
        best = charset_normalizer.from_bytes(data).best()
        return best.encoding if best is not None else "utf-8"
    return "utf-8"


def _detect_delimiter(text: str, header_line: int) -> str:
    lines = text.splitlines()[header_line - 1 : header_line + 20]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        return max(_DELIMITERS, key=header.count) if header else ","


def resolve_format(
    data: bytes, fmt: FileFormat, name: str, cat: RuleCatalogue
) -> tuple[FileFormat, list[Finding]]:
    """Fill an ``auto`` encoding or delimiter from the bytes; say so in a finding."""
    if AUTO not in (fmt.encoding, fmt.delimiter):
        return fmt, []
    encoding = _detect_encoding(data) if fmt.encoding == AUTO else fmt.encoding
    delimiter = fmt.delimiter
    if delimiter == AUTO:
        text = data.decode(encoding, errors="replace").lstrip("\ufeff")
        delimiter = _detect_delimiter(text, fmt.header_line)
    resolved = replace(fmt, encoding=encoding, delimiter=delimiter)
    finding = cat.finding(
        "format_detected",
        file=name,
        row=None,
        column=None,
        value=None,
        detail=f"read as encoding {encoding}, separator {delimiter!r} (detected; "
        "declare them in the mapping to make the reading certain)",
    )
    return resolved, [finding]


def _parse_records(text: str, fmt: FileFormat) -> list[Record]:
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=fmt.delimiter,
        quotechar=fmt.quotechar,
        strict=True,
    )
    records: list[Record] = []
    previous_end = 0
    for fields in reader:
        records.append(Record(previous_end + 1, tuple(fields)))
        previous_end = reader.line_num
    return records


def _is_blank(record: Record) -> bool:
    return all(not f.strip() for f in record.fields)


def read_submission(path: Path, fmt: FileFormat, cat: RuleCatalogue) -> ReadResult:
    """Read ``path`` as text records; the file is opened read-only, never changed.

    Args:
        path: the submitted file.
        fmt: encoding, delimiter and where the header and footer are.
        cat: the rule catalogue (findings carry its levels and severities).

    Returns:
        A :class:`ReadResult`; ``submission`` is ``None`` when the file is
        unusable (the findings then say why, with ``row`` null).
    """
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReadResult(
            submission=None,
            findings=(
                cat.finding(
                    "file_is_readable",
                    file=name,
                    row=None,
                    column=None,
                    value=None,
                    detail=f"cannot be opened ({exc.strerror or type(exc).__name__})",
                ),
            ),
        )
    digest, size = sha256_of(data), len(data)

    def unusable(finding: Finding) -> ReadResult:
        return ReadResult(
            submission=None, findings=(finding,), sha256=digest, size=size
        )

    if not data.strip():
        return unusable(
            cat.finding(
                "csv_is_well_formed",
                file=name,
                row=None,
                column=None,
                value=None,
                detail="the file is empty: there is no header row",
            )
        )
    fmt, detected = resolve_format(data, fmt, name, cat)
    decoded = _decode(data, fmt, name, cat)
    if isinstance(decoded, Finding):
        return unusable(decoded)
    try:
        records = _parse_records(decoded, fmt)
    except csv.Error as exc:
        return unusable(
            cat.finding(
                "csv_is_well_formed",
                file=name,
                row=None,
                column=None,
                value=None,
                detail=f"not RFC 4180 CSV with separator {fmt.delimiter!r}: {exc} "
                "(a quote is probably not closed)",
            )
        )
    preamble = [r for r in records if r.line < fmt.header_line]
    rest = [r for r in records if r.line >= fmt.header_line]
    if not rest or rest[0].line != fmt.header_line or _is_blank(rest[0]):
        return unusable(
            cat.finding(
                "csv_is_well_formed",
                file=name,
                row=None,
                column=None,
                value=None,
                detail=f"no header row on line {fmt.header_line}",
            )
        )
    header, body = rest[0], rest[1:]
    findings: list[Finding] = list(detected)
    footer: list[Record] = []
    if fmt.footer_lines:
        non_blank = [i for i, r in enumerate(body) if not _is_blank(r)]
        cut = (
            non_blank[-fmt.footer_lines :] if len(non_blank) >= fmt.footer_lines else []
        )
        if cut:
            footer = body[cut[0] :]
            body = body[: cut[0]]
    kept: list[Record] = []
    for record in body:
        if _is_blank(record):
            findings.append(
                cat.finding(
                    "blank_line_ignored",
                    file=name,
                    row=record.line,
                    column=None,
                    value=None,
                    detail="empty line skipped",
                )
            )
            continue
        if len(record.fields) != len(header.fields):
            findings.append(
                cat.finding(
                    "row_matches_header",
                    file=name,
                    row=record.line,
                    column=None,
                    value=escape_text(fmt.delimiter.join(record.fields))[:120],
                    detail=f"{len(record.fields)} fields for "
                    f"{len(header.fields)} columns; "
                    "the line is not read (an unquoted separator, or a cut line?)",
                )
            )
            continue
        kept.append(record)
    submission = Submission(
        path=path,
        name=name,
        sha256=digest,
        size=size,
        fmt=fmt,
        header=header.fields,
        header_line=header.line,
        records=tuple(kept),
        preamble=tuple(fmt.delimiter.join(r.fields) for r in preamble),
        footer=tuple(fmt.delimiter.join(r.fields) for r in footer),
        findings=tuple(findings),
    )
    return ReadResult(
        submission=submission, findings=tuple(findings), sha256=digest, size=size
    )


def peek_first_field(path: Path) -> str | None:
    """First header field of a UTF-8 file (to tell the canonical template apart).

    Returns ``None`` when the file cannot be read or decoded.
    """
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
    first = text.split("\n", 1)[0].split(",", 1)[0].strip().strip('"').strip("\r")
    return first or None
