"""The CSV exports: tables in the shell layout, SDMX-CSV 2.0, ILOSTAT bulk layout.

* :func:`write_table_csv`: one table and country in one language, rows × columns
  of the shell, the codes of the row dimensions, then their labels, then for
  each column its value and its flag, then the notes of the row.
* :func:`write_sdmx_csv`: the harmonised observations of the editions the
  tables use, after disclosure control, in the canonical template's column
  order (``STRUCTURE, STRUCTURE_ID, ACTION, REF_AREA, …``), dataflow
  ``SSE:SSE_STATS(1.0)``: an SDMX-CSV 2.0 file that ``sse-stats check`` and
  pysdmx both read.
* :func:`write_ilostat_csv`: the labour tables (T6, T8) in the ILOSTAT bulk
  layout (schema.md §11.2), indicator codes from ``schemas/exports/``.

Every text field is neutralised (:mod:`.safe`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sse_stats.accounts.shells import TableShell
from sse_stats.harmonise.frame import as_template
from sse_stats.publish.export.layout import Block
from sse_stats.publish.export.render import cell_notes, render_block
from sse_stats.publish.export.safe import CsvValue, number_field, write_csv
from sse_stats.publish.export.texts import ExportTexts, fill
from sse_stats.schema.model import Schema

_KEY_ORDER = (
    "REF_AREA",
    "REGION",
    "TIME_PERIOD",
    "FREQ",
    "SSE_ENTITY",
    "SSE_ENTITY_NAT",
    "COOP_TYPE",
    "COOP_LEVEL",
    "ACTIVITY",
    "INST_SECTOR",
    "SEX",
    "WORK_CAT",
    "MEMBER_TYPE",
    "MEASURE",
    "UNIT_STATE",
    "SHARE_BASE",
)
_VERBATIM = frozenset({"time_period", "edition"})
# Derived ratios keep two decimals more in CSV than shown in the workbooks, so
# a reader can recompute a rounded figure without false precision.
_EXTRA_DECIMALS = 2
ILOSTAT_COLUMNS: tuple[str, ...] = (
    "ref_area",
    "source",
    "indicator",
    "sex",
    "classif1",
    "classif2",
    "time",
    "obs_value",
    "obs_status",
    "note_classif",
    "note_indicator",
    "note_source",
)
"""Columns of the ILOSTAT bulk layout (schema.md §11.2)."""


def write_table_csv(
    path: Path,
    block: Block,
    shell: TableShell,
    texts: ExportTexts,
    lang: str,
    *,
    version: str,
) -> None:
    """One table and country in the shell layout, in ``lang``."""
    shown = render_block(block, shell, texts, lang, version=version)
    labelled = [i for i, d in enumerate(block.row_dims) if d not in _VERBATIM]
    header: list[str] = [dim.upper() for dim in block.row_dims]
    header += [shown.row_headers[i] for i in labelled]
    for j in range(len(block.columns)):
        parts = [level[j] for level in shown.header_levels if level[j]]
        name = " / ".join(parts)
        if shown.units[j]:
            name = f"{name} ({shown.units[j]})"
        header += [name, texts.phrase("csv_flag_column", lang, column=name)]
    header.append(texts.phrase("notes_column", lang))
    rows: list[list[CsvValue]] = []
    for i, codes in enumerate(block.rows):
        labels = [
            "" if texts.hidden(dim, code) else texts.label(dim, code, lang)
            for dim, code in ((block.row_dims[k], codes[k]) for k in labelled)
        ]
        line: list[CsvValue] = [*codes, *labels]
        for cell in shown.cells[i]:
            if cell is None:
                line += [None, None]
            elif cell.value is None:
                line += [cell.symbol, cell.flag]
            else:
                line += [_published(cell.value, cell.decimals, cell.record), cell.flag]
        line.append(" | ".join(shown.row_notes[i]))
        rows.append(line)
    write_csv(path, header, rows)


def _published(value: float, decimals: int, record: dict[str, object] | None) -> float:
    """A derived value rounded as shown (submitted values stay as published)."""
    if record is not None and bool(record.get("is_derived")):
        return round(value, decimals + _EXTRA_DECIMALS)
    return value


def write_sdmx_csv(path: Path, observations: pd.DataFrame, schema: Schema) -> int:
    """Write the observations as SDMX-CSV 2.0; return the number of rows."""
    frame = observations.reset_index(drop=True)
    template = as_template(frame, schema)
    keys = [k for k in _KEY_ORDER if k in template.columns]
    template = template.sort_values(keys, kind="stable") if len(template) else template
    columns = list(template.columns)
    value_at = columns.index("OBS_VALUE")
    rows = [
        [number_field(v) if i == value_at else v for i, v in enumerate(record)]
        for record in template.itertuples(index=False, name=None)
    ]
    write_csv(path, columns, rows, raw_columns=frozenset({value_at}))
    return len(rows)


def write_ilostat_csv(
    path: Path,
    table: str,
    frame: pd.DataFrame,
    shell: TableShell,
    texts: ExportTexts,
    lang: str,
) -> int:
    """Write a labour table in the ILOSTAT bulk layout; return the number of rows."""
    spec = texts.ilostat
    classif = spec.classif.get(table, {})
    rows: list[list[CsvValue]] = []
    for record in _sorted_records(frame):
        indicator = spec.indicators.get((table, str(record.get("measure"))))
        sex = spec.sex.get(str(record.get("sex")))
        if indicator is None or sex is None:
            continue
        codes = []
        for column in ("classif1", "classif2"):
            rule = classif.get(column)
            codes.append(
                None if rule is None else rule.code(str(record.get(rule.dimension)))
            )
        conf = str(record.get("conf_status") or "F")
        value = record.get("obs_value_published")
        number = (
            None if conf != "F" or value is None or pd.isna(value) else float(value)
        )
        notes_classif = []
        subgroup = record.get("sse_entity_nat")
        if (
            subgroup
            and not texts.hidden("sse_entity_nat", subgroup)
            and subgroup != "_T"
        ):
            notes_classif.append(
                _fill(
                    spec.notes["note_subgroup"][lang],
                    label=texts.label("sse_entity_nat", subgroup, lang),
                )
            )
        notes_indicator = [
            _fill(spec.notes["note_unit"][lang], unit=_unit(record, texts, lang))
        ]
        if conf != "F":
            notes_indicator.append(
                _fill(
                    spec.notes["note_confidential"][lang],
                    label=texts.label("conf_status", conf, lang),
                )
            )
        notes_indicator += cell_notes(record, shell, texts, lang)
        notes_source = [
            _fill(spec.notes["note_source"][lang], edition=record.get("edition") or "")
        ]
        rows.append(
            [
                record.get("ref_area"),
                record.get("source_id"),
                indicator,
                sex,
                codes[0],
                codes[1],
                record.get("time_period"),
                number,
                "Q" if conf != "F" else record.get("obs_status"),
                " | ".join(notes_classif),
                " | ".join(notes_indicator),
                " | ".join(notes_source),
            ]
        )
    write_csv(path, ILOSTAT_COLUMNS, rows)
    return len(rows)


def _fill(template: str, **fields: object) -> str:
    return fill(template, fields)


def _unit(record: dict[str, Any], texts: ExportTexts, lang: str) -> str:
    unit = str(record.get("unit_measure") or "")
    name = (
        str(record.get("currency") or unit)
        if unit == "XDC"
        else texts.label("unit_measure", unit, lang)
    )
    mult = record.get("unit_mult_published")
    if mult not in (None, 0) and not pd.isna(mult):
        name = texts.phrase(
            "unit_with_mult",
            lang,
            unit=name,
            mult=texts.label("unit_mult", str(int(float(str(mult)))), lang).lower(),
        )
    return name


def _sorted_records(frame: pd.DataFrame) -> Sequence[dict[str, Any]]:
    if frame.empty:
        return []
    keys = [k.lower() for k in _KEY_ORDER if k.lower() in frame.columns]
    ordered = frame.sort_values(keys, kind="stable")
    out = []
    for raw in ordered.to_dict("records"):
        out.append(
            {
                str(k): (None if not isinstance(v, str) and pd.isna(v) else v)
                for k, v in raw.items()
            }
        )
    return out
