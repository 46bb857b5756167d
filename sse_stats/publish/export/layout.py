"""Pivot a long satellite table into the shell layout (language-free).

:func:`blocks_of` is language-free: for one table and country (and year, unless
the table runs over years) it places every cell at a row and a column of the
shell's ``layout`` (``schemas/tables/``), in the order the shell lists codes.
When two cells would share a place (shares of several measures, active and
registered units), the column key takes the next distinguishing component
(``base_measure``, ``unit_state``, …), so no cell is ever dropped.

:mod:`.render` turns a block into what a reader sees in one language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sse_stats.accounts.shells import TableShell
from sse_stats.publish.export.texts import ExportTexts
from sse_stats.schema.key import DIMENSIONS

_EXTRA_LEVELS = ("base_measure", "unit_state", "share_base", *DIMENSIONS, "edition")
_SPECIALS = ("_U", "_T", "_Z")

Record = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """One table of one country (and year): cells at row and column keys."""

    table: str
    ref_area: str
    period: str | None
    row_dims: tuple[str, ...]
    col_dims: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]
    columns: tuple[tuple[str | None, ...], ...]
    cells: Mapping[tuple[int, int], Record]

    @property
    def editions(self) -> list[str]:
        """Editions of the cells, sorted."""
        return sorted(
            {str(c["edition"]) for c in self.cells.values() if c.get("edition")}
        )

    @property
    def sources(self) -> list[str]:
        """Source identifiers of the cells, sorted."""
        return sorted(
            {str(c["source_id"]) for c in self.cells.values() if c.get("source_id")}
        )


# ------------------------------------------------------------------ pivot


def blocks_of(
    frame: pd.DataFrame,
    shell: TableShell,
    texts: ExportTexts,
    *,
    by_period: bool | None = None,
) -> list[Block]:
    """Pivot a satellite table into blocks, one per country (and year).

    Args:
        frame: the long table (``satellite.<name>``), protected.
        shell: its shell (``layout`` rows and columns).
        texts: the export texts (code orders).
        by_period: one block per year; by default, unless the shell's rows
            include ``time_period``. With ``False`` and a shell whose rows lack
            ``time_period``, the year becomes the first row dimension.

    Returns:
        Blocks sorted by country and year.
    """
    if frame.empty:
        return []
    rows = tuple(shell.layout_rows)
    split = "time_period" not in rows if by_period is None else by_period
    if not split and "time_period" not in rows:
        rows = ("time_period", *rows)
    records = _records(frame)
    groups: dict[tuple[str, str | None], list[Record]] = {}
    for record in records:
        period = str(record.get("time_period")) if split else None
        groups.setdefault((str(record.get("ref_area")), period), []).append(record)
    blocks = []
    for (ref_area, period), cells in sorted(
        groups.items(), key=lambda g: _sortable(g[0])
    ):
        blocks.append(_block(shell, texts, ref_area, period, rows, cells))
    return blocks


def _sortable(key: tuple[str, str | None]) -> tuple[str, str]:
    return key[0], key[1] or ""


def _records(frame: pd.DataFrame) -> list[Record]:
    out = []
    for raw in frame.to_dict("records"):
        record: Record = {}
        for column, value in raw.items():
            record[str(column)] = _present(value)
        out.append(record)
    return out


def _present(value: Any) -> Any:
    if value is None or isinstance(value, str | bool):
        return value
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):
        return value


def _block(
    shell: TableShell,
    texts: ExportTexts,
    ref_area: str,
    period: str | None,
    rows: tuple[str, ...],
    cells: list[Record],
) -> Block:
    cols = list(shell.layout_columns)
    # A ratio's column says what it is a ratio of (blank where obvious, see
    # _hidden_heading); other components join only to tell cells apart.
    if (
        "measure" in cols
        and "base_measure" not in (*rows, *cols)
        and any(c.get("base_measure") for c in cells)
    ):
        cols.insert(cols.index("measure") + 1, "base_measure")
    while True:
        seen: dict[tuple[Any, ...], list[Record]] = {}
        for cell in cells:
            seen.setdefault(tuple(cell.get(d) for d in (*rows, *cols)), []).append(cell)
        clashes = [group for group in seen.values() if len(group) > 1]
        if not clashes:
            break
        extra = next(
            (
                d
                for d in _EXTRA_LEVELS
                if d not in rows
                and d not in cols
                and any(len({c.get(d) for c in group}) > 1 for group in clashes)
            ),
            None,
        )
        if extra is None:  # pragma: no cover - a key always tells cells apart
            break
        at = cols.index("measure") + 1 if "measure" in cols else len(cols)
        cols.insert(at if extra == "base_measure" else len(cols), extra)
    order = texts.orders.get(shell.name, {})
    rank = _Ranker(texts, order)
    row_keys = sorted(
        {tuple(c.get(d) for d in rows) for c in cells}, key=lambda k: rank.key(rows, k)
    )
    col_keys = sorted(
        {tuple(c.get(d) for d in cols) for c in cells}, key=lambda k: rank.key(cols, k)
    )
    row_at = {k: i for i, k in enumerate(row_keys)}
    col_at = {k: i for i, k in enumerate(col_keys)}
    placed = {
        (
            row_at[tuple(c.get(d) for d in rows)],
            col_at[tuple(c.get(d) for d in cols)],
        ): c
        for c in cells
    }
    return Block(
        table=shell.name,
        ref_area=ref_area,
        period=period,
        row_dims=rows,
        col_dims=tuple(cols),
        rows=tuple(row_keys),
        columns=tuple(col_keys),
        cells=placed,
    )


class _Ranker:
    """Sort keys: the shell's order, then the code list's, then by code."""

    def __init__(self, texts: ExportTexts, order: Mapping[str, Sequence[str]]) -> None:
        self.texts = texts
        self.order = order
        measures = list(order.get("measure", ()))
        measure_list = texts.codelists.get("measure")
        for code in [
            *(measure_list.labels if measure_list else ()),
            *texts.satellite_measures,
        ]:
            if code not in measures:
                measures.append(code)
        self.measures = {code: i for i, code in enumerate(measures)}

    def key(self, dims: Sequence[str], codes: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(self.rank(d, c) for d, c in zip(dims, codes, strict=True))

    def rank(self, dim: str, code: Any) -> tuple[int, int, str]:
        if code is None:
            return (5, 0, "")
        text = str(code)
        if dim in self.texts.total_first and text == "_T":
            return (-1, 0, "")
        if dim in ("measure", "base_measure", "share_base") and text in self.measures:
            return (0, self.measures[text], "")
        listed = self.order.get(dim, ())
        if text in listed:
            return (0, list(listed).index(text), "")
        codelist = self.texts.codelists.get(dim)
        if codelist is not None and text in codelist and text not in _SPECIALS:
            return (1, list(codelist.labels).index(text), "")
        if text not in _SPECIALS:
            return (2, 0, text)
        return (4, _SPECIALS.index(text), "")
