"""The assets: submissions (check, stage, promote) and publication."""

from pipelines.assets.publication import meta_publication
from pipelines.assets.submissions import (
    NO_ERRORS,
    harmonised_observations,
    ingest_submission_job,
    validation_findings,
)

ALL_ASSETS = [validation_findings, harmonised_observations, meta_publication]

__all__ = [
    "ALL_ASSETS",
    "NO_ERRORS",
    "harmonised_observations",
    "ingest_submission_job",
    "meta_publication",
    "validation_findings",
]
