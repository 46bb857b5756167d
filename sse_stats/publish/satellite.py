"""Publish the satellite-account tables built from the curated observations.

Statistics live in :mod:`sse_stats.accounts`; this module only reads the
curated harmonised observations, calls it once for every shell (secondary
suppression needs all tables of a country together), applies disclosure
control (:mod:`sse_stats.accounts.protection`) and writes
``satellite.<table>`` (one name per thing: asset key = DuckDB table = Parquet
folder), ``satellite.comparison`` and ``validation.table_findings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sse_stats.accounts import (
    build_tables,
    comparison_view,
    load_conversion_factors,
    load_shells,
)
from sse_stats.accounts.disclosure import load_sdc
from sse_stats.accounts.protection import protect_published
from sse_stats.publish.serving import publish_serving_copy
from sse_stats.publish.store import (
    read_table,
    write_table_parquet,
)

COMPARISON_TABLE = "comparison"
FINDINGS_TABLE = "table_findings"


@dataclass(frozen=True, slots=True)
class SatelliteSummary:
    """Rows and countries per published table, and the share findings."""

    rows: dict[str, int]
    countries: dict[str, list[str]]
    findings: int


def received_at_by_file(curated: Path) -> dict[str, str]:
    """``meta.submissions.received_at`` by source file (an empty EDITION reads
    as the date its file was received, schema.md §9.1 rule 1)."""
    submissions = read_table(curated, "meta", "submissions")
    if not {"source_file", "received_at"} <= set(submissions.columns):
        return {}
    return {
        str(f): str(r)
        for f, r in zip(
            submissions["source_file"], submissions["received_at"], strict=True
        )
    }


def build_satellite(
    observations: pd.DataFrame, schemas_dir: Path, received_at: dict[str, str]
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Every protected satellite table, the comparison view, and share findings."""
    shells = load_shells(schemas_dir)
    built, findings = build_tables(observations, shells, received_at=received_at)
    tables = protect_published(built, shells, load_sdc(schemas_dir))
    rates = load_conversion_factors(schemas_dir, "market")
    tables[COMPARISON_TABLE] = comparison_view(tables, rates=rates)
    columns = ["file", "row", "column", "value", "rule", "level", "severity", "message"]
    return tables, pd.DataFrame.from_records(findings, columns=columns).astype(
        {c: "str" for c in columns if c not in ("row", "level")}
    )


def publish_satellite(curated: Path, schemas_dir: Path) -> SatelliteSummary:
    """Build and write every satellite table, then rebuild the serving copy.

    Each table is written atomically (``publish.store``); a failure leaves the
    previous tables in place.
    """
    observations = read_table(curated, "harmonised", "observations")
    tables, findings = build_satellite(
        observations, schemas_dir, received_at_by_file(curated)
    )
    rows: dict[str, int] = {}
    countries: dict[str, list[str]] = {}
    for name, frame in tables.items():
        partition = "ref_area" if name != COMPARISON_TABLE and len(frame) else None
        write_table_parquet(curated, "satellite", name, frame, partition_by=partition)
        rows[name] = len(frame)
        if "ref_area" in frame.columns:
            countries[name] = sorted(frame["ref_area"].dropna().astype(str).unique())
    write_table_parquet(
        curated, "validation", FINDINGS_TABLE, findings, partition_by=None
    )
    publish_serving_copy(curated)
    return SatelliteSummary(rows=rows, countries=countries, findings=len(findings))
