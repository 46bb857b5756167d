"""satellite/<table>: one asset per table shell of schemas/tables/, built together.

Secondary suppression protects a cell across all tables of a country and year,
so the tables are built in one step (a multi-asset) and each is its own asset:
asset key = DuckDB table = Parquet folder. A new table is a new shell file.
"""

import dagster as dg

from pipelines.assets.publication import meta_publication
from pipelines.resources import PathsResource
from sse_stats.accounts import load_shells
from sse_stats.publish.satellite import COMPARISON_TABLE, publish_satellite
from sse_stats.settings import Paths


def _table_names() -> list[str]:
    return [*sorted(load_shells(Paths.default().schemas)), COMPARISON_TABLE]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ["satellite", name],
            deps=[meta_publication],
            group_name="satellite",
            kinds={"parquet", "duckdb"},
            description=f"satellite.{name} (schemas/tables/{name}.yaml)"
            if name != COMPARISON_TABLE
            else "Cross-country comparison: SSE shares of GVA, paid employment, D1",
        )
        for name in _table_names()
    ],
    pool="duckdb",
)
def satellite_tables(paths: PathsResource):  # type: ignore[no-untyped-def]
    """Build every satellite table from the current curated observations."""
    summary = publish_satellite(paths.value.curated, paths.value.schemas)
    for name, rows in summary.rows.items():
        yield dg.MaterializeResult(
            asset_key=["satellite", name],
            metadata={
                "dagster/row_count": int(rows),
                "countries": ",".join(summary.countries.get(name, [])),
                "share_findings": int(summary.findings),
            },
        )
