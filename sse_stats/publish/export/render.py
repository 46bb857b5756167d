"""A pivoted block as a reader sees it in one language.

:func:`render_block` gives labels from the code lists, units and multipliers
per column, a flag beside each value (the observation status, or the
confidentiality status beside the suppression symbol), footnote markers, the
notes that apply to every cell, numbered footnotes and source lines. The XLSX
and CSV writers only lay these out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sse_stats.accounts.shells import TableShell
from sse_stats.publish.export.layout import Block, Record
from sse_stats.publish.export.texts import ExportTexts, pattern_of

_FREE = "F"
_NORMAL = "A"


@dataclass(slots=True, kw_only=True)
class ShownCell:
    """A cell as shown: a number, or a symbol, and the text of its flag column."""

    value: float | None
    symbol: str | None
    flag: str
    decimals: int
    suppressed: bool
    record: Record | None


@dataclass(slots=True, kw_only=True)
class ShownBlock:
    """A block rendered in one language."""

    title: str
    row_headers: list[str]
    header_levels: list[list[str]]
    units: list[str]
    row_labels: list[list[str]]
    row_codes: list[tuple[str | None, ...]]
    totals: list[bool]
    cells: list[list[ShownCell | None]]
    common_notes: list[str]
    footnotes: list[str]
    row_notes: list[list[str]]
    source_lines: list[str]
    obs_codes: set[str] = field(default_factory=set)
    conf_codes: set[str] = field(default_factory=set)


# ----------------------------------------------------------------- render


def render_block(
    block: Block, shell: TableShell, texts: ExportTexts, lang: str, *, version: str
) -> ShownBlock:
    """What a reader sees of ``block`` in ``lang`` (see the module docstring)."""
    table = texts.tables[block.table]
    country = texts.label("ref_area", block.ref_area, lang)
    if block.period is None:
        title = texts.phrase(
            "series_title",
            lang,
            number=table.number,
            title=table.title[lang],
            country=country,
        )
    else:
        title = texts.phrase(
            "block_title",
            lang,
            number=table.number,
            title=table.title[lang],
            country=country,
            period=block.period,
        )
    levels = [
        [
            ""
            if _hidden_heading(block, texts, dim, key)
            else texts.label(dim, key[i], lang)
            for key in block.columns
        ]
        for i, dim in enumerate(block.col_dims)
    ]
    levels = [level for level in levels if any(level)]
    notes_of: dict[tuple[int, int], list[str]] = {
        at: cell_notes(cell, shell, texts, lang) for at, cell in block.cells.items()
    }
    every = list(notes_of.values())
    common = [n for n in (every[0] if every else []) if all(n in ns for ns in every)]
    numbered: list[str] = []
    shown = ShownBlock(
        title=title,
        row_headers=[texts.dimension_names[d][lang] for d in block.row_dims],
        header_levels=levels,
        units=[_unit_label(block, j, texts, lang) for j in range(len(block.columns))],
        row_labels=_row_labels(block, texts, lang),
        row_codes=list(block.rows),
        totals=[key[0] == "_T" for key in block.rows],
        cells=[],
        common_notes=common,
        footnotes=numbered,
        row_notes=[],
        source_lines=[],
    )
    for i in range(len(block.rows)):
        line: list[ShownCell | None] = []
        in_row: list[str] = []
        for j in range(len(block.columns)):
            cell = block.cells.get((i, j))
            if cell is None:
                line.append(None)
                continue
            markers = []
            for note in notes_of[(i, j)]:
                if note in common:
                    continue
                if note not in numbered:
                    numbered.append(note)
                n = numbered.index(note) + 1
                markers.append(texts.phrase("footnote_marker", lang, n=n))
                text = texts.phrase("footnote", lang, n=n, text=note)
                if text not in in_row:
                    in_row.append(text)
            line.append(_shown(cell, shell, texts, markers, shown))
        shown.cells.append(line)
        shown.row_notes.append([*common, *in_row])
    if block.sources or block.editions:
        shown.source_lines.append(
            texts.phrase(
                "source_line",
                lang,
                sources=", ".join(block.sources),
                editions=", ".join(block.editions),
            )
        )
    shown.source_lines.append(texts.phrase("compiled_line", lang, version=version))
    return shown


def _hidden_heading(
    block: Block, texts: ExportTexts, dim: str, key: tuple[str | None, ...]
) -> bool:
    """A blank heading: a hidden code, or the only base of its measure here.

    A hidden code (``_T`` of the subgroups) keeps its label ("Total") where a
    sibling under the same heading shows one: a blank beside "ACFA" under a
    spanning "Associations" would leave the whole group's column unnamed.
    """
    at = block.col_dims.index(dim)
    code = key[at]
    if texts.hidden(dim, code):
        siblings = {c[at] for c in block.columns if c[:at] == key[:at]}
        return all(texts.hidden(dim, other) for other in siblings)
    if dim != "base_measure" or "measure" not in block.col_dims:
        return False
    measure = block.col_dims.index("measure")
    bases = {c[at] for c in block.columns if c[measure] == key[measure]}
    return len(bases) == 1


def _row_labels(block: Block, texts: ExportTexts, lang: str) -> list[list[str]]:
    out = []
    previous: tuple[Any, ...] | None = None
    for key in block.rows:
        labels = []
        for i, dim in enumerate(block.row_dims):
            repeated = (
                previous is not None
                and i < len(block.row_dims) - 1
                and key[: i + 1] == previous[: i + 1]
            )
            hidden = texts.hidden(dim, key[i]) or repeated
            labels.append("" if hidden else texts.label(dim, key[i], lang))
        out.append(labels)
        previous = key
    return out


def _shown(
    cell: Record,
    shell: TableShell,
    texts: ExportTexts,
    markers: list[str],
    block: ShownBlock,
) -> ShownCell:
    value = _number(cell.get("obs_value_published", cell.get("obs_value")))
    obs = str(cell.get("obs_status") or _NORMAL)
    conf = str(cell.get("conf_status") or _FREE)
    # A confidential cell never shows a number, whatever a value column holds.
    suppressed = conf != _FREE
    if suppressed:
        value = None
        letters, symbol = conf, texts.symbol("suppressed")
        block.conf_codes.add(conf)
    elif value is None:
        letters, symbol = obs, texts.symbol("missing")
        block.obs_codes.add(obs)
    else:
        letters, symbol = ("" if obs == _NORMAL else obs), None
        if letters:
            block.obs_codes.add(obs)
    return ShownCell(
        value=value,
        symbol=symbol,
        flag=" ".join(t for t in (letters, *markers) if t),
        decimals=_decimals(cell, shell, texts),
        suppressed=suppressed,
        record=cell,
    )


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, str | bool):
        return None
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _unit_class(cell: Record, shell: TableShell, texts: ExportTexts) -> str:
    measure = str(cell.get("measure"))
    satellite = shell.context.satellite_measures.get(measure)
    if satellite is not None and satellite.unit == "numerator":
        return "per_unit"
    unit = str(cell.get("unit_measure") or "")
    known = texts.codelists.get("unit_measure")
    if unit == "XDC" or (known is not None and unit not in known and len(unit) == 3):
        return "currency"
    return unit


def _decimals(cell: Record, shell: TableShell, texts: ExportTexts) -> int:
    return texts.decimals.get(_unit_class(cell, shell, texts), 0)


def _unit_label(block: Block, column: int, texts: ExportTexts, lang: str) -> str:
    labels = []
    for (_, j), cell in sorted(block.cells.items()):
        if j != column:
            continue
        unit = str(cell.get("unit_measure") or "")
        known = texts.codelists.get("unit_measure")
        if unit == "XDC" and cell.get("currency"):
            name = str(cell["currency"])
        elif known is not None and unit in known:
            name = texts.label("unit_measure", unit, lang)
        else:
            name = unit
        mult = cell.get("unit_mult_published", cell.get("unit_mult"))
        if mult not in (None, 0, "0") and not _is_nan(mult):
            code = str(int(float(mult)))
            name = texts.phrase(
                "unit_with_mult",
                lang,
                unit=name,
                mult=texts.label("unit_mult", code, lang).lower(),
            )
        if name and name not in labels:
            labels.append(name)
    return "; ".join(labels)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# ------------------------------------------------------------------ notes


def cell_notes(
    cell: Record, shell: TableShell, texts: ExportTexts, lang: str
) -> list[str]:
    """The notes on one cell in ``lang``: coverage, valuation, perimeter, comment.

    Coverage and valuation are rebuilt from the cell's codes; notes the
    satellite build wrote in English are re-worded (``satellite_notes`` in
    ``schemas/exports/``) or, if unknown, kept verbatim; the NSO's
    ``COMMENT_OBS`` is kept as submitted (it is data, in the NSO's language).
    """
    notes: list[str] = []
    coverage = cell.get("coverage")
    if (
        "coverage" in shell.footnotes
        and coverage
        and coverage not in shell.context.coverage_without_note
    ):
        label = texts.label("coverage", coverage, lang)
        notes.append(texts.note("coverage", lang, label=label))
    method = cell.get("valuation_method")
    if "valuation_method" in shell.footnotes and method:
        label = texts.label("valuation_method", method, lang)
        notes.append(texts.note("valuation_method", lang, label=label))
    for part in _parts(cell.get("note")):
        notes.extend(_reworded(part, texts, lang))
    comment = cell.get("comment_obs")
    if isinstance(comment, str) and comment.strip():
        notes.append(texts.note("comment", lang, text=comment))
    unique: list[str] = []
    for note in notes:
        if note not in unique:
            unique.append(note)
    return unique


def _parts(note: Any) -> Iterable[str]:
    if not isinstance(note, str):
        return []
    return [p for p in note.split("; ") if p]


def _reworded(part: str, texts: ExportTexts, lang: str) -> list[str]:
    if any(pattern_of(t).fullmatch(part) for t in texts.dropped_notes):
        return []
    found = pattern_of(texts.satellite_notes["perimeter"]).fullmatch(part)
    if found is not None:
        codes = found.group("group").split("/")
        dims = ("sse_entity", "sse_entity_nat")
        group = " / ".join(
            texts.label(dims[min(i, 1)], code, lang) for i, code in enumerate(codes)
        )
        return [texts.note("perimeter", lang, group=group)]
    found = pattern_of(texts.satellite_notes["mixed_coverage"]).fullmatch(part)
    if found is not None:
        labels = ", ".join(
            texts.label("coverage", code.strip(), lang)
            for code in found.group("codes").split(",")
        )
        return [texts.note("mixed_coverage", lang, labels=labels)]
    return [part]
