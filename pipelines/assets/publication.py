"""meta/publication: publish the staged submissions, then swap in sse.duckdb.

``publish_curated`` rebuilds only the ``ref_area`` partitions touched since the
last publication and commits every table and the serving copy at once.
"""

import dagster as dg

from pipelines.assets.submissions import harmonised_observations
from pipelines.resources import PathsResource
from sse_stats.publish.publication import publish_curated


def _table(title: str, counts: dict[str, int]) -> str:
    rows = [f"| {key} | {value} |" for key, value in counts.items()] or [
        "| (none) | 0 |"
    ]
    return "\n".join([f"| {title} | count |", "|---|---|", *rows])


@dg.asset(
    key=["meta", "publication"],
    deps=[
        dg.AssetDep(harmonised_observations, partition_mapping=dg.AllPartitionMapping())
    ],
    group_name="publication",
    kinds={"parquet", "duckdb"},
    pool="duckdb",
)
def meta_publication(paths: PathsResource) -> dg.MaterializeResult[None]:
    """Publish the staged submissions: Parquet tables and the serving copy."""
    summary = publish_curated(paths.value.curated, schemas_dir=paths.value.schemas)
    by_country = dict(summary.observations_by_country)
    by_status = dict(summary.submissions_by_status)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": int(summary.observations),
            "observations_by_country": dg.MetadataValue.json(by_country),
            "submissions_by_status": dg.MetadataValue.json(by_status),
            "summary": dg.MetadataValue.md(
                _table("ref_area", by_country) + "\n\n" + _table("status", by_status)
            ),
            "tables": dg.MetadataValue.json(dict(summary.tables)),
            "rebuilt_areas": ",".join(summary.areas),
            "changed_submissions": int(summary.changed),
            "full_rebuild": bool(summary.full),
            "serving_file": dg.MetadataValue.path(str(summary.serving_file)),
        }
    )


publish_job = dg.define_asset_job(
    "publish",
    selection=dg.AssetSelection.assets(meta_publication).downstream(),
    description="Publish the staged submissions (and rebuild what depends on them).",
)
