"""Canonical rows to the harmonised frame (docs/architecture.md).

Fills contract defaults, reads `_Z`/`_T` by applicability (schema.md §4.12),
parses numbers strictly and reports level-0 format findings. Values are never
rescaled: ``obs_value`` is the number as published, with its ``unit_mult``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from sse_stats.errors import Finding
from sse_stats.harmonise.parse import INTEGER, YEAR, beyond_double, canonical_value
from sse_stats.harmonise.rows import CanonicalRow, CanonicalRows
from sse_stats.ingest.read import escape_text
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue

PROVENANCE = (
    "source_file",
    "source_sha256",
    "source_row",
    "source_column",
    "mapping_file",
)


def curated_columns(schema: Schema) -> list[str]:
    """Curated observation columns in order (schema.md §11.1)."""
    comps = [c.curated_name for c in schema.components if c.role != "message"]
    at = comps.index("obs_value") + 1
    return [*comps[:at], "obs_value_text", *comps[at:], *PROVENANCE]


@dataclass(frozen=True, slots=True, kw_only=True)
class Harmonised:
    """The harmonised frame of one submission, with its findings so far."""

    frame: pd.DataFrame
    origins: dict[str, str]
    findings: list[Finding]
    mapping_file: str | None


class _Builder:
    def __init__(
        self, schema: Schema, cat: RuleCatalogue, file: str, rows: CanonicalRows
    ) -> None:
        self.schema, self.cat, self.file, self.rows = schema, cat, file, rows
        self.findings: list[Finding] = []
        self.omitted_infos: dict[str, tuple[int, str]] = {}

    def column_of(self, comp: str, row: CanonicalRow) -> str:
        if comp in ("OBS_VALUE", "OBS_STATUS", "OBS_STATUS_NAT", "CONF_STATUS"):
            return row.value_column
        return self.rows.origins.get(comp, comp)

    def report(
        self, rule: str, row: CanonicalRow, comp: str, value: str | None, detail: str
    ) -> None:
        self.findings.append(
            self.cat.finding(
                rule,
                file=self.file,
                row=row.line,
                column=self.column_of(comp, row),
                value=None if value is None else escape_text(value),
                detail=detail,
            )
        )

    def applies(self, dim: str, values: dict[str, str]) -> str | None:
        """The total code if ``dim`` applies to the row, else ``None``."""
        app = self.schema.applicability.get(dim)
        if app is None:
            return "_T"
        probe = values
        if values.get("MEASURE") == "SHARE_NAT" and values.get("SHARE_BASE"):
            probe = {**values, "MEASURE": values["SHARE_BASE"]}
        for cond, total in app.conditions:
            if all(probe.get(k) in codes for k, codes in cond.codes.items()):
                return total
        return None

    def read_dimension(
        self, dim: str, row: CanonicalRow, values: dict[str, str]
    ) -> None:
        raw = row.values.get(dim, "")
        total = self.applies(dim, values)
        if total is not None:
            if raw in ("", "_Z") or (raw == "_T" and total != "_T"):
                values[dim] = total
                if raw == "":
                    self.omitted_infos.setdefault(dim, (row.line, total))
                else:
                    self.report(
                        "z_read_as_total",
                        row,
                        dim,
                        raw,
                        f"{dim} {raw} read as {total}: the dimension applies to "
                        f"{values.get('MEASURE')} rows of {values.get('SSE_ENTITY')}",
                    )
        elif raw in ("", "_Z"):
            values[dim] = "_Z"
        elif raw == "_T":
            values[dim] = "_Z"
            self.report(
                "t_read_as_not_applicable",
                row,
                dim,
                raw,
                f"{dim} _T read as _Z: the dimension does not apply to this row",
            )
        else:
            self.report(
                "dimension_not_applicable",
                row,
                dim,
                raw,
                f'{dim} "{escape_text(raw)}" given, but {dim} does not apply to '
                f"{values.get('MEASURE')} rows of {values.get('SSE_ENTITY')} "
                "(use _Z)",
            )

    def check_natecon(self, row: CanonicalRow, values: dict[str, str]) -> None:
        if values.get("SSE_ENTITY") != "NATECON":
            return
        for dim in sorted(self.schema.natecon_not_applicable):
            if values.get(dim) not in ("_Z", None):
                self.report(
                    "natecon_breakdown",
                    row,
                    dim,
                    values[dim],
                    f"NATECON rows do not break down by {dim} (use _Z)",
                )
        work = values.get("WORK_CAT")
        if work not in ("_Z", None) and work not in self.schema.natecon_work_cat:
            self.report(
                "natecon_breakdown",
                row,
                "WORK_CAT",
                work,
                f"NATECON employment is _T or EMP, not {work}",
            )

    def check_format(
        self, row: CanonicalRow, values: dict[str, str]
    ) -> tuple[float | None, str | None, int | None]:
        if values.get("STRUCTURE", "dataflow") != "dataflow":
            self.report(
                "structure_is_dataflow",
                row,
                "STRUCTURE",
                values["STRUCTURE"],
                'STRUCTURE must be "dataflow"',
            )
        sid = values.get("STRUCTURE_ID", self.schema.structure_id)
        if sid != self.schema.structure_id:
            self.report(
                "structure_id_is_supported",
                row,
                "STRUCTURE_ID",
                sid,
                f"STRUCTURE_ID must be {self.schema.structure_id}",
            )
        if values.get("ACTION", "I") not in ("I", ""):
            self.report(
                "action_is_supported",
                row,
                "ACTION",
                values["ACTION"],
                "ACTION must be I or empty",
            )
        period = values.get("TIME_PERIOD", "")
        if not YEAR.fullmatch(period):
            self.report(
                "time_period_is_year",
                row,
                "TIME_PERIOD",
                period,
                f'value "{escape_text(period)}" is not a four-digit year',
            )
        mult_text = values.get("UNIT_MULT", "0")
        mult: int | None = None
        if INTEGER.fullmatch(mult_text):
            mult = int(mult_text)
        else:
            self.report(
                "unit_mult_is_integer",
                row,
                "UNIT_MULT",
                mult_text,
                f'value "{escape_text(mult_text)}" is not an integer (use 0, '
                f"3, 6 or 9)",
            )
        text = values.get("OBS_VALUE", "")
        if text == "":
            return None, None, mult
        if row.value_reported:
            return None, text, mult
        number = canonical_value(text)
        if number is None:
            self.report(
                "obs_value_is_number",
                row,
                "OBS_VALUE",
                text,
                f'value "{escape_text(text)}" is not a number of the form -123.45 '
                "(no thousands separator, exponent, space or symbol; flags go in "
                "OBS_STATUS_NAT)",
            )
            return None, text, mult
        if beyond_double(text):
            self.report(
                "value_beyond_double_precision",
                row,
                "OBS_VALUE",
                text,
                "the published figure has more digits than a double keeps; "
                "obs_value_text keeps it exactly",
            )
        return number, text, mult

    def build(self, provenance: dict[str, str | None]) -> pd.DataFrame:
        schema = self.schema
        defaults = {c.id: c.default for c in schema.components if c.default is not None}
        dims = schema.dimensions
        records = []
        for row in self.rows.rows:
            values = {k: v for k, v in row.values.items() if v != ""}
            for comp, default in defaults.items():
                if comp not in dims:
                    values.setdefault(comp, default)
            number, text, mult = self.check_format(row, values)
            resolved = dict(values)
            for dim in dims:
                if dim in ("SSE_ENTITY", "REF_AREA", "TIME_PERIOD"):
                    resolved.setdefault(dim, "")
                    continue
                if schema.applicability.get(dim) is None:
                    resolved.setdefault(
                        dim, defaults.get(dim, "_T") if dim != "REGION" else "_T"
                    )
                    if (
                        dim in ("ACTIVITY", "INST_SECTOR")
                        and values.get(dim, "_Z") == "_Z"
                    ):
                        resolved[dim] = "_T"
                        if dim not in values:
                            self.omitted_infos.setdefault(dim, (row.line, "_T"))
                        else:
                            self.report(
                                "z_read_as_total",
                                row,
                                dim,
                                "_Z",
                                f"{dim} _Z read as _T: it applies to every row",
                            )
                    continue
                self.read_dimension(dim, row, resolved)
            self.check_natecon(row, resolved)
            record: dict[str, object] = {
                c.curated_name: resolved.get(c.id) or None
                for c in schema.components
                if c.role != "message"
            }
            record.update(
                obs_value=number,
                obs_value_text=text,
                unit_mult=mult,
                source_row=row.line,
                source_column=row.value_column,
                **provenance,
            )
            records.append(record)
        for dim, (line, total) in sorted(
            self.omitted_infos.items(), key=lambda kv: kv[1][0]
        ):
            origin = (
                "column omitted"
                if dim not in self.rows.given
                else "not given on some rows"
            )
            self.findings.append(
                self.cat.finding(
                    "z_read_as_total",
                    file=self.file,
                    row=line,
                    column=dim,
                    value=None,
                    detail=f"{dim} {origin}; read as {total} where it applies "
                    f"(schema.md §4.12)",
                )
            )
        return _typed(
            pd.DataFrame.from_records(records, columns=curated_columns(schema))
        )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as pandas strings (missing stays missing), numbers typed."""
    numeric = {"obs_value": "float64", "unit_mult": "Int64", "source_row": "int64"}
    return frame.astype({c: numeric.get(c, "str") for c in frame.columns})


def build_frame(
    rows: CanonicalRows,
    *,
    schema: Schema,
    cat: RuleCatalogue,
    file: str,
    sha256: str,
    extra_findings: Iterable[Finding] = (),
) -> Harmonised:
    """Build the harmonised frame of one submission.

    Args:
        rows: canonical rows from the template reader or a national mapping.
        schema: the harmonised schema.
        cat: the rule catalogue.
        file: the submitted file name (as shown in findings).
        sha256: the submitted bytes' SHA-256.
        extra_findings: findings of earlier stages, kept in front.
    """
    builder = _Builder(schema, cat, file, rows)
    frame = builder.build(
        {
            "source_file": file,
            "source_sha256": sha256,
            "mapping_file": rows.mapping_file,
        }
    )
    return Harmonised(
        frame=frame,
        origins=dict(rows.origins),
        findings=[*extra_findings, *builder.findings],
        mapping_file=rows.mapping_file,
    )


def as_template(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The harmonised frame in canonical template form (upper-case ids, text).

    The value is written as published (``obs_value_text``), so nothing is
    rounded; message columns carry the standard values.
    """
    out = pd.DataFrame(index=frame.index)
    for comp in schema.components:
        if comp.id == "STRUCTURE":
            out[comp.id] = "dataflow"
        elif comp.id == "STRUCTURE_ID":
            out[comp.id] = schema.structure_id
        elif comp.id == "ACTION":
            out[comp.id] = "I"
        elif comp.id == "OBS_VALUE":
            out[comp.id] = frame["obs_value_text"]
        elif comp.id == "UNIT_MULT":
            out[comp.id] = frame["unit_mult"].astype("str")
        else:
            out[comp.id] = frame[comp.curated_name]
    return out.astype("str").fillna("")
