"""The one Definitions object (``dagster dev -m pipelines.definitions``, ``dg``).

Run it with ``DAGSTER_HOME=$PWD/.dagster_home`` so that partitions, run history
and the sensors' cursors survive a restart (stack.md pitfall 9).
"""

from __future__ import annotations

import dagster as dg

from pipelines.assets import ALL_ASSETS, ingest_submission_job
from pipelines.assets.publication import publish_job
from pipelines.assets.registers import REGISTER_ASSETS, register_job, register_sensor
from pipelines.resources import PathsResource
from pipelines.sensors import SENSORS

defs = dg.Definitions(
    assets=[*ALL_ASSETS, *REGISTER_ASSETS],
    jobs=[ingest_submission_job, publish_job, register_job],
    sensors=[*SENSORS, register_sensor],
    resources={"paths": PathsResource()},
)
