"""One XLSX workbook per table and language, laid out as a statistician would.

Sheets: a contents sheet (table title, description, the countries), then one
sheet per country (named by its ISO 3166-1 alpha-3 code) with one block per
year, or one block for a table that runs over years (T10). A block reads, top
to bottom: title; units line; column headings (one row per layout level,
merged over equal neighbours) with the row-dimension headings; a unit row (unit
and multiplier of each column); the rows, each value followed by a narrow flag
column (observation status, or the confidentiality status beside ``x``, and
footnote markers); notes that apply to every cell; numbered footnotes; source
lines. The sheet ends with the legend of the flags and symbols used, and the
disclosure statement.

Every text goes through ``write_string`` and the workbook is opened with
``strings_to_formulas``, ``strings_to_urls`` and ``strings_to_numbers`` off, so
no text can become a formula or a link (see :mod:`.safe`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from sse_stats.accounts.shells import TableShell
from sse_stats.publish.export.layout import Block
from sse_stats.publish.export.render import ShownBlock, render_block
from sse_stats.publish.export.texts import ExportTexts

_OPTIONS = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "nan_inf_to_errors": False,
}
_MIN_LABEL_WIDTH = 10
_VALUE_WIDTH = 13
_FLAG_WIDTH = 6
_MAX_LABEL_WIDTH = 48
_FONT = "Arial"


class _Formats:
    """The few cell formats of a workbook."""

    def __init__(self, book: Workbook) -> None:
        base = {"font_name": _FONT, "font_size": 9}
        self.title = book.add_format({**base, "bold": True, "font_size": 11})
        self.subtitle = book.add_format({**base, "italic": True})
        self.text = book.add_format({**base, "text_wrap": False})
        self.wrap = book.add_format({**base, "text_wrap": True, "valign": "top"})
        self.header = book.add_format(
            {
                **base,
                "bold": True,
                "text_wrap": True,
                "valign": "bottom",
                "align": "center",
                "bg_color": "#E8EEF4",
                "border": 1,
                "border_color": "#9DB0C4",
            }
        )
        self.header_left = book.add_format(
            {
                **base,
                "bold": True,
                "text_wrap": True,
                "valign": "bottom",
                "bg_color": "#E8EEF4",
                "border": 1,
                "border_color": "#9DB0C4",
            }
        )
        self.unit = book.add_format(
            {
                **base,
                "italic": True,
                "align": "center",
                "text_wrap": True,
                "bottom": 1,
                "bg_color": "#F4F6F8",
            }
        )
        self.unit_left = book.add_format(
            {**base, "italic": True, "bottom": 1, "bg_color": "#F4F6F8"}
        )
        self.label = book.add_format({**base, "indent": 0})
        self.label_total = book.add_format({**base, "bold": True})
        self.flag = book.add_format({**base, "font_color": "#5A5A5A", "align": "left"})
        self.symbol = book.add_format({**base, "align": "right"})
        self.suppressed = book.add_format(
            {**base, "align": "right", "bg_color": "#E6E6E6"}
        )
        self.suppressed_flag = book.add_format(
            {**base, "font_color": "#5A5A5A", "bg_color": "#E6E6E6"}
        )
        self.small = book.add_format({**base, "font_size": 8})
        self.small_bold = book.add_format({**base, "font_size": 8, "bold": True})
        self._numbers: dict[tuple[int, bool], Any] = {}
        self._book = book
        self._base = base

    def number(self, decimals: int, total: bool) -> Any:
        key = (decimals, total)
        if key not in self._numbers:
            pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
            self._numbers[key] = self._book.add_format(
                {**self._base, "num_format": pattern, "bold": total}
            )
        return self._numbers[key]


def write_workbook(
    path: Path,
    blocks: Sequence[Block],
    shell: TableShell,
    texts: ExportTexts,
    lang: str,
    *,
    version: str,
    min_units: int,
) -> list[ShownBlock]:
    """Write the workbook of one table in one language; return what it shows.

    Args:
        path: the ``.xlsx`` file to write (its folder must exist).
        blocks: the table's blocks (:func:`~.layout.blocks_of`), by country.
        shell: the table shell.
        texts: the export texts.
        lang: ``en``, ``fr`` or ``es``.
        version: the sse-stats version, for the source line.
        min_units: the frequency threshold, for the disclosure statement.
    """
    book = xlsxwriter.Workbook(str(path), _OPTIONS)
    fmt = _Formats(book)
    table = texts.tables[shell.name]
    book.set_properties(
        {
            "title": table.title[lang],
            "subject": "ICLS background table",
            "author": "sse-stats",
            "comments": table.description[lang],
        }
    )
    countries: dict[str, list[Block]] = {}
    for block in blocks:
        countries.setdefault(block.ref_area, []).append(block)
    _contents(
        book.add_worksheet(texts.phrase("contents_sheet", lang)[:31]),
        fmt,
        shell,
        texts,
        lang,
        countries,
    )
    shown_all: list[ShownBlock] = []
    for ref_area, country_blocks in countries.items():
        sheet = book.add_worksheet(ref_area[:31])
        shown = [
            render_block(b, shell, texts, lang, version=version) for b in country_blocks
        ]
        _country_sheet(sheet, fmt, shown, texts, lang, min_units)
        shown_all.extend(shown)
    book.close()
    return shown_all


def _contents(
    sheet: Worksheet,
    fmt: _Formats,
    shell: TableShell,
    texts: ExportTexts,
    lang: str,
    countries: dict[str, list[Block]],
) -> None:
    table = texts.tables[shell.name]
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.hide_gridlines(2)
    sheet.set_column(0, 0, 12)
    sheet.set_column(1, 1, 40)
    sheet.set_column(2, 2, 30)
    sheet.write_string(
        0,
        0,
        texts.phrase(
            "contents_title", lang, number=table.number, title=table.title[lang]
        ),
        fmt.title,
    )
    sheet.merge_range(1, 0, 1, 5, "", fmt.wrap)
    sheet.write_string(1, 0, table.description[lang], fmt.wrap)
    sheet.set_row(1, 48)
    row = 3
    if not countries:
        sheet.write_string(row, 0, texts.phrase("contents_empty", lang), fmt.text)
        return
    for col, key in enumerate(
        ("contents_sheet_column", "contents_country", "contents_periods")
    ):
        sheet.write_string(row, col, texts.phrase(key, lang), fmt.header_left)
    for ref_area, blocks in countries.items():
        row += 1
        periods = sorted(
            {b.period for b in blocks if b.period}
            | {str(k[0]) for b in blocks if b.period is None for k in b.rows}
        )
        sheet.write_string(row, 0, ref_area, fmt.text)
        sheet.write_string(row, 1, texts.label("ref_area", ref_area, lang), fmt.text)
        sheet.write_string(row, 2, ", ".join(periods), fmt.text)


def _country_sheet(
    sheet: Worksheet,
    fmt: _Formats,
    blocks: Sequence[ShownBlock],
    texts: ExportTexts,
    lang: str,
    min_units: int,
) -> None:
    n_labels = max(len(b.row_headers) for b in blocks)
    n_values = max(len(b.units) for b in blocks)
    widths = [_MIN_LABEL_WIDTH] * n_labels
    for b in blocks:
        for labels in [b.row_headers, *b.row_labels]:
            for i, text in enumerate(labels):
                widths[i] = max(widths[i], min(_MAX_LABEL_WIDTH, len(text) + 2))
    for i, width in enumerate(widths):
        sheet.set_column(i, i, width)
    for j in range(n_values):
        sheet.set_column(n_labels + 2 * j, n_labels + 2 * j, _VALUE_WIDTH)
        sheet.set_column(n_labels + 2 * j + 1, n_labels + 2 * j + 1, _FLAG_WIDTH)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.hide_gridlines(2)
    row = 0
    obs_codes: set[str] = set()
    conf_codes: set[str] = set()
    for b in blocks:
        first_data = _block(sheet, fmt, row, b, n_labels, texts, lang)
        if len(blocks) == 1:
            sheet.freeze_panes(first_data, n_labels)
        row = first_data + len(b.cells)
        row = _notes(sheet, fmt, row + 1, b, texts, lang) + 1
        obs_codes |= b.obs_codes
        conf_codes |= b.conf_codes
    _legend(sheet, fmt, row, obs_codes, conf_codes, texts, lang, min_units)


def _block(
    sheet: Worksheet,
    fmt: _Formats,
    top: int,
    b: ShownBlock,
    n_labels: int,
    texts: ExportTexts,
    lang: str,
) -> int:
    """Write title, headings, unit row and rows; return the first data row."""
    sheet.write_string(top, 0, b.title, fmt.title)
    sheet.write_string(top + 1, 0, texts.phrase("units_line", lang), fmt.subtitle)
    head = top + 3
    levels = b.header_levels or [[""] * len(b.units)]
    depth_count = len(levels)
    for i in range(n_labels):
        text = b.row_headers[i] if i < len(b.row_headers) else ""
        if depth_count > 1:
            sheet.merge_range(head, i, head + depth_count - 1, i, "", fmt.header_left)
        sheet.write_string(head, i, text, fmt.header_left)
    heights = [1.0] * depth_count
    covered: set[tuple[int, int]] = set()
    for depth, level in enumerate(levels):
        j = 0
        while j < len(level):
            if (depth, j) in covered:
                j += 1
                continue
            end = j
            while (
                end + 1 < len(level)
                and (depth, end + 1) not in covered
                and level[end + 1] == level[j]
                and level[j]
                and all(levels[d][end + 1] == levels[d][j] for d in range(depth))
            ):
                end += 1
            bottom = depth
            while (
                bottom + 1 < depth_count
                and level[j]
                and all(not levels[bottom + 1][c] for c in range(j, end + 1))
            ):
                bottom += 1
            covered |= {
                (d, c) for d in range(depth, bottom + 1) for c in range(j, end + 1)
            }
            first, last = n_labels + 2 * j, n_labels + 2 * end + 1
            sheet.merge_range(head + depth, first, head + bottom, last, "", fmt.header)
            sheet.write_string(head + depth, first, level[j], fmt.header)
            width = (end - j + 1) * (_VALUE_WIDTH + _FLAG_WIDTH)
            lines = -(-len(level[j]) // max(1, width - 2)) / (bottom - depth + 1)
            heights[depth] = max(heights[depth], lines)
            j = end + 1
    for depth, lines in enumerate(heights):
        sheet.set_row(head + depth, 12.5 * max(1, -(-lines // 1)))
    unit_row = head + len(levels)
    for i in range(n_labels):
        text = texts.phrase("unit_row", lang) if i == 0 else ""
        sheet.write_string(unit_row, i, text, fmt.unit_left)
    for j, unit in enumerate(b.units):
        first = n_labels + 2 * j
        sheet.merge_range(unit_row, first, unit_row, first + 1, "", fmt.unit)
        sheet.write_string(unit_row, first, unit, fmt.unit)
    data = unit_row + 1
    for i, (labels, cells) in enumerate(zip(b.row_labels, b.cells, strict=True)):
        r = data + i
        label_fmt = fmt.label_total if b.totals[i] else fmt.label
        for k, text in enumerate(labels):
            sheet.write_string(r, k, text, label_fmt)
        for j, cell in enumerate(cells):
            col = n_labels + 2 * j
            if cell is None:
                continue
            if cell.value is not None:
                sheet.write_number(
                    r, col, cell.value, fmt.number(cell.decimals, b.totals[i])
                )
            elif cell.symbol is not None:
                style = fmt.suppressed if cell.suppressed else fmt.symbol
                sheet.write_string(r, col, cell.symbol, style)
            if cell.flag or cell.suppressed:
                style = fmt.suppressed_flag if cell.suppressed else fmt.flag
                sheet.write_string(r, col + 1, cell.flag, style)
    return data


def _notes(
    sheet: Worksheet,
    fmt: _Formats,
    row: int,
    b: ShownBlock,
    texts: ExportTexts,
    lang: str,
) -> int:
    if b.common_notes or b.footnotes:
        sheet.write_string(row, 0, texts.phrase("notes_heading", lang), fmt.small_bold)
        row += 1
        for note in b.common_notes:
            sheet.write_string(row, 0, note, fmt.small)
            row += 1
        for n, note in enumerate(b.footnotes, start=1):
            sheet.write_string(
                row, 0, texts.phrase("footnote", lang, n=n, text=note), fmt.small
            )
            row += 1
    for line in b.source_lines:
        sheet.write_string(row, 0, line, fmt.small)
        row += 1
    return row + 1


def _legend(
    sheet: Worksheet,
    fmt: _Formats,
    row: int,
    obs_codes: set[str],
    conf_codes: set[str],
    texts: ExportTexts,
    lang: str,
    min_units: int,
) -> None:
    sheet.write_string(row, 0, texts.phrase("legend_heading", lang), fmt.small_bold)
    row += 1
    for key in ("suppressed", "missing"):
        sheet.write_string(
            row,
            0,
            texts.phrase(
                "legend_entry",
                lang,
                code=texts.symbol(key),
                label=texts.symbols[key][1][lang],
            ),
            fmt.small,
        )
        row += 1
    for heading, concept, codes in (
        ("legend_obs_status", "obs_status", obs_codes),
        ("legend_conf_status", "conf_status", conf_codes),
    ):
        if not codes:
            continue
        sheet.write_string(row, 0, texts.phrase(heading, lang), fmt.small_bold)
        row += 1
        for code in sorted(codes):
            sheet.write_string(
                row,
                0,
                texts.phrase(
                    "legend_entry",
                    lang,
                    code=code,
                    label=texts.label(concept, code, lang),
                ),
                fmt.small,
            )
            row += 1
    sheet.write_string(row, 0, texts.phrase("legend_footnotes", lang), fmt.small)
    row += 1
    sheet.write_string(
        row, 0, texts.phrase("disclosure_line", lang, min_units=min_units), fmt.small
    )
