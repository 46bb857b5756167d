"""The assets: submissions (check, stage, promote), publication, satellite tables."""

from pipelines.assets.exports import icls_background_tables
from pipelines.assets.publication import meta_publication
from pipelines.assets.satellite import satellite_tables
from pipelines.assets.submissions import (
    NO_ERRORS,
    harmonised_observations,
    ingest_submission_job,
    validation_findings,
)

ALL_ASSETS = [
    validation_findings,
    harmonised_observations,
    meta_publication,
    satellite_tables,
    icls_background_tables,
]

__all__ = [
    "ALL_ASSETS",
    "NO_ERRORS",
    "harmonised_observations",
    "ingest_submission_job",
    "meta_publication",
    "satellite_tables",
    "validation_findings",
]
