"""ICLS background tables: XLSX in en/fr/es, CSV, SDMX-CSV and ILOSTAT layout.

What it is for: everything under ``curated/exports/`` (schema.md §11.2), built
from the published satellite tables and harmonised observations, after
disclosure control (:mod:`.protect`). What it is not for: building tables
(:mod:`sse_stats.accounts`) or writing the curated store (:mod:`..store`).

Layout under ``curated/exports/``::

    xlsx/<table>.<lang>.xlsx            one workbook per table and language
    csv/<table>/<ISO3>.<lang>.csv       one table and country, shell layout
    sdmx/observations.csv               SDMX-CSV 2.0, dataflow SSE:SSE_STATS(1.0)
    ilostat/<table>.<lang>.csv          T6 and T8 in the ILOSTAT bulk layout

Files are written to ``exports/.staging-<uuid>/`` and moved into place one by
one with ``os.replace``, so a reader never opens a half-written file. Files of
the languages written (and the SDMX file) that the run did not produce are
removed; other languages' files are left as they are.

Examples:
    >>> import tempfile
    >>> summary = export_background_tables(Path(tempfile.mkdtemp()), Path("schemas"))
    >>> sorted(p.name for p in summary.files)[:2]
    ['observations.csv', 't01_key_aggregates_by_entity.en.xlsx']
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sse_stats import __version__
from sse_stats.accounts import SATELLITE_COLUMNS, load_shells
from sse_stats.accounts.build import OBSERVATION_COLUMNS, select_editions
from sse_stats.accounts.disclosure import load_sdc
from sse_stats.errors import UsageError
from sse_stats.publish.export.flat import (
    write_ilostat_csv,
    write_sdmx_csv,
    write_table_csv,
)
from sse_stats.publish.export.layout import blocks_of
from sse_stats.publish.export.protect import ProtectionSummary, protect_for_export
from sse_stats.publish.export.texts import LANGUAGES, load_texts
from sse_stats.publish.export.xlsx import write_workbook
from sse_stats.publish.satellite import received_at_by_file
from sse_stats.publish.store import read_table
from sse_stats.schema.load import load_schema

EXPORTS_DIR = "exports"
SDMX_FILE = "sdmx/observations.csv"

__all__ = [
    "LANGUAGES",
    "ExportResult",
    "export_background_tables",
]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote, and the protected frames it wrote from."""

    root: Path
    files: list[Path]
    protection: ProtectionSummary
    tables: dict[str, pd.DataFrame]
    observations: pd.DataFrame


def export_background_tables(
    curated: Path,
    schemas_dir: Path,
    *,
    languages: Sequence[str] = LANGUAGES,
    contributions: pd.DataFrame | None = None,
) -> ExportResult:
    """Build every export from the curated store, after disclosure control.

    Args:
        curated: the curated directory (``satellite.*``, ``harmonised.observations``
            and ``meta.submissions`` are read; only ``exports/`` is written).
        schemas_dir: the ``schemas/`` folder.
        languages: the languages to write (default all three).
        contributions: unit-level contributions for the dominance and p % rules
            (:data:`.protect.CONTRIBUTION_COLUMNS`), when known.

    Returns:
        The files written (absolute paths) and the protected frames.

    Raises:
        UsageError: an unknown language.
        SchemaFileError: a file under ``schemas/`` is malformed.
        StoreError: the curated store cannot be read.
    """
    unknown = sorted(set(languages) - set(LANGUAGES))
    if unknown or not languages:
        raise UsageError(f"languages must be among {list(LANGUAGES)}, not {unknown}")
    texts = load_texts(schemas_dir)
    shells = load_shells(schemas_dir)
    params = load_sdc(schemas_dir)
    schema = load_schema(schemas_dir)
    tables = {name: _satellite(curated, name) for name in shells}
    observations = _observations(curated)
    protected, obs, summary = protect_for_export(
        tables,
        observations,
        shells,
        params,
        count_measures=params.count_measures,
        contributions=contributions,
    )
    root = curated / EXPORTS_DIR
    stage = root / f".staging-{uuid.uuid4().hex}"
    stage.mkdir(parents=True)
    try:
        written = [stage / SDMX_FILE]
        written[0].parent.mkdir(parents=True)
        write_sdmx_csv(written[0], obs, schema)
        for name, shell in shells.items():
            frame = protected[name]
            sheets = blocks_of(frame, shell, texts)
            per_country = blocks_of(frame, shell, texts, by_period=False)
            for lang in languages:
                path = stage / "xlsx" / f"{name}.{lang}.xlsx"
                path.parent.mkdir(parents=True, exist_ok=True)
                write_workbook(
                    path,
                    sheets,
                    shell,
                    texts,
                    lang,
                    version=__version__,
                    min_units=params.min_units,
                )
                written.append(path)
                for block in per_country:
                    path = stage / "csv" / name / f"{block.ref_area}.{lang}.csv"
                    write_table_csv(
                        path, block, shell, texts, lang, version=__version__
                    )
                    written.append(path)
                if name in texts.ilostat.tables:
                    path = stage / "ilostat" / f"{name}.{lang}.csv"
                    write_ilostat_csv(path, name, frame, shell, texts, lang)
                    written.append(path)
        files = _promote(stage, root, written, languages)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return ExportResult(
        root=root, files=files, protection=summary, tables=protected, observations=obs
    )


def _satellite(curated: Path, name: str) -> pd.DataFrame:
    frame = read_table(curated, "satellite", name)
    if frame.empty and not len(frame.columns):
        return pd.DataFrame(columns=list(SATELLITE_COLUMNS))
    return frame


def _observations(curated: Path) -> pd.DataFrame:
    """The observations of the editions the tables use (schema.md §9.1 rule 1)."""
    observations = read_table(curated, "harmonised", "observations")
    columns = [*OBSERVATION_COLUMNS, "base_measure"]
    if observations.empty:
        return pd.DataFrame(columns=columns)
    pool = select_editions(observations, received_at_by_file(curated))
    return pd.DataFrame.from_records(list(pool.values()), columns=columns)


def _promote(
    stage: Path, root: Path, written: list[Path], languages: Sequence[str]
) -> list[Path]:
    """Move staged files into place; drop stale files of the languages written."""
    final = []
    for path in written:
        target = root / path.relative_to(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        final.append(target)
    keep = set(final)
    suffixes = tuple(f".{lang}.{ext}" for lang in languages for ext in ("xlsx", "csv"))
    for old in sorted(root.rglob("*")):
        if (
            not old.is_file()
            or old in keep
            or ".staging-" in str(old.relative_to(root))
        ):
            continue
        if old.name.endswith(suffixes) or old == root / SDMX_FILE:
            old.unlink()
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()) and not folder.name.startswith(".staging-"):
            folder.rmdir()
    return final
