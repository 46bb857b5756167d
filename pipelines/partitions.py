"""One dynamic partition per submission file; the key is the raw file name."""

from __future__ import annotations

import dagster as dg

SUBMISSIONS = "submissions"
"""Name of the dynamic partitions (stored in the Dagster instance)."""

submissions = dg.DynamicPartitionsDefinition(name=SUBMISSIONS)
