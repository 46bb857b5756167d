"""The one Definitions object (``dagster dev -m pipelines.definitions``, ``dg``)."""

from __future__ import annotations

import dagster as dg

from pipelines.assets import ALL_ASSETS, ingest_submission_job
from pipelines.resources import PathsResource

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[ingest_submission_job],
    resources={"paths": PathsResource()},
)
