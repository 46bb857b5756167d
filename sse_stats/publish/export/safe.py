"""Text that cannot become a formula, and numbers that stay numbers.

Spreadsheet programs run a cell that starts with ``=``, ``+``, ``-`` or ``@``
as a formula (and strip a leading tab or carriage return first), so a footnote
such as ``=HYPERLINK("http://…")`` from an NSO file could run on a reader's
machine ("CSV injection", OWASP). Every text cell of every export goes through
:func:`neutralise`: the OWASP remedy, a leading apostrophe, which spreadsheets
read as "this is text" and which a reader sees as a harmless mark. Numbers are
never neutralised: they are written from floats, so ``-3.5`` stays a negative
number. XLSX cells are also written as strings explicitly (``write_string``,
with ``strings_to_formulas`` off), so there a formula cannot arise at all; the
apostrophe is then not needed and not added.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""

TEXT_MARK = "'"
_NUMBER = frozenset("0123456789.-")

CsvValue = str | float | int | None


def neutralise(text: str) -> str:
    """``text`` made safe for a CSV cell: an apostrophe before a formula start.

    Examples:
        >>> neutralise('=HYPERLINK("x")'), neutralise("-3 units"), neutralise("ok")
        ('\\'=HYPERLINK("x")', "'-3 units", 'ok')
    """
    return TEXT_MARK + text if text.startswith(FORMULA_PREFIXES) else text


def number_text(value: float | int) -> str:
    """A number as plain decimal text: no exponent, no trailing ``.0``.

    Examples:
        >>> number_text(221230.0), number_text(-3.25), number_text(1e-7)
        ('221230', '-3.25', '0.0000001')
    """
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return ""
    if number.is_integer():
        return str(int(number))
    return format(Decimal(repr(number)), "f")


def number_field(text: str) -> str:
    """A published number kept as text (``OBS_VALUE``); anything else neutralised.

    Examples:
        >>> number_field("-500.30"), number_field("=1+1")
        ('-500.30', "'=1+1")
    """
    if text and set(text) <= _NUMBER and text.count("-") <= 1 and text[0] != ".":
        body = text.lstrip("-")
        if body and body[0].isdigit() and "-" not in body:
            return text
    return neutralise(text)


def csv_cell(value: CsvValue) -> str:
    """One CSV field: numbers as plain text, strings neutralised, ``None`` empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return neutralise(str(value))
    if isinstance(value, int | float):
        return number_text(value)
    return neutralise(value)


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[CsvValue]],
    *,
    raw_columns: frozenset[int] = frozenset(),
) -> None:
    """Write an RFC 4180 CSV file (UTF-8, CRLF), every text field neutralised.

    ``raw_columns`` are positions already made safe by the caller (published
    numbers kept as text, see :func:`number_field`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow(
                [
                    str(v) if i in raw_columns and isinstance(v, str) else csv_cell(v)
                    for i, v in enumerate(row)
                ]
            )
