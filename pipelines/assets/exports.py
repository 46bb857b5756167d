"""exports/icls_background_tables: the ICLS background tables, after disclosure control.

Depends on every satellite table of schemas/tables/ (one asset per shell); the
files, languages and disclosure control are sse_stats.publish.export's business.
Reads the curated Parquet store and writes only under curated/exports/.
"""

import dagster as dg

from pipelines.resources import PathsResource
from sse_stats.accounts import load_shells
from sse_stats.publish.export import export_background_tables
from sse_stats.settings import Paths

EXPORTS_KEY = ["exports", "icls_background_tables"]


def _satellite_keys() -> list[dg.AssetKey]:
    return [
        dg.AssetKey(["satellite", name])
        for name in sorted(load_shells(Paths.default().schemas))
    ]


@dg.asset(
    key=EXPORTS_KEY,
    deps=_satellite_keys(),
    group_name="exports",
    kinds={"xlsx", "csv"},
    description="ICLS background tables in English, French and Spanish (XLSX, CSV), "
    "SDMX-CSV 2.0 observations and the ILOSTAT layout of T6/T8, under exports/",
)
def icls_background_tables(paths: PathsResource) -> dg.MaterializeResult[None]:
    """Write every export from the published satellite tables."""
    result = export_background_tables(paths.value.curated, paths.value.schemas)
    protection = result.protection
    return dg.MaterializeResult(
        metadata={
            "files": len(result.files),
            "suppressed_by_nso": int(protection.nso),
            "suppressed_primary": int(sum(protection.primary.values())),
            "suppressed_secondary": int(protection.secondary),
            "path": dg.MetadataValue.path(str(result.root)),
        }
    )
