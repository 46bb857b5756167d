"""One dynamic partition per submission: the key is the file's identity.

A key is ``<name>@<first 8 hex of the SHA-256>`` (``PRT_2019-2020.csv@1a2b3c4d``,
``PRT/2021.csv@…`` for a file in a country sub-folder), built by
``sse_stats.publish.raw_files.submission_key``. The same bytes under another
name are one submission (the sensor and ``python -m pipelines`` register them
once); a file changed under the same name is a new partition, so every
version received keeps its own run history. The assets map a key back to the
raw file and verify its SHA-256 before reading it; a bare file name (a
partition added by hand) reads the file's current content.
"""

from __future__ import annotations

import dagster as dg

SUBMISSIONS = "submissions"
"""Name of the dynamic partitions (stored in the Dagster instance)."""

submissions = dg.DynamicPartitionsDefinition(name=SUBMISSIONS)
