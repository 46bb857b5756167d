"""Unit-level registers: validation, aggregation with disclosure control, tables.

A register is one row per unit (CSV or Parquet) described by a declarative
mapping (``schemas/registers/<name>.yaml``). Everything that reads units runs in
DuckDB, streaming from the file; Python only holds cells.

* :mod:`~sse_stats.register.mapping`: the mapping as frozen objects;
* :mod:`~sse_stats.register.source`: the register as a SQL stream of units;
* :mod:`~sse_stats.register.validate`: unit-level rules (``rules/register.yaml``);
* :mod:`~sse_stats.register.aggregate`: fine cells, roll-ups, top contributions;
* :mod:`~sse_stats.register.protect`: primary and secondary disclosure control;
* :mod:`~sse_stats.register.audit`: which suppressed cells the relations determine;
* :mod:`~sse_stats.register.process`: the whole path for one file or partition;
* :mod:`~sse_stats.register.publish`: partitions of the curated store.

No Dagster here (``pipelines/assets/registers.py`` wraps it).
"""

from sse_stats.register.mapping import RegisterMapping, load_register_mapping
from sse_stats.register.process import (
    RegisterResult,
    findings_frame,
    process_register,
    validation_only,
)

__all__ = [
    "RegisterMapping",
    "RegisterResult",
    "findings_frame",
    "load_register_mapping",
    "process_register",
    "validation_only",
]
