"""Satellite-account tables (schema.md §9-§10) built from harmonised observations.

* :mod:`~sse_stats.accounts.shells`: table shells from ``schemas/tables/``;
* :mod:`~sse_stats.accounts.build`: one table from observations and a shell;
* :mod:`~sse_stats.accounts.sdc`: flags follow values; secondary suppression;
* :mod:`~sse_stats.accounts.units`: presentation multiplier, currency conversion;
* :mod:`~sse_stats.accounts.compare`: the cross-country comparison view.

Statistics only: no I/O beyond reading ``schemas/``, no Dagster.
"""

from sse_stats.accounts.build import (
    SATELLITE_COLUMNS,
    build_table,
    build_table_with_findings,
    build_tables,
)
from sse_stats.accounts.compare import comparison_view
from sse_stats.accounts.sdc import protect_tables
from sse_stats.accounts.shells import TableShell, load_shells
from sse_stats.accounts.units import (
    apply_presentation_multiplier,
    convert_currency,
    load_conversion_factors,
)

__all__ = [
    "SATELLITE_COLUMNS",
    "TableShell",
    "apply_presentation_multiplier",
    "build_table",
    "build_table_with_findings",
    "build_tables",
    "comparison_view",
    "convert_currency",
    "load_conversion_factors",
    "load_shells",
    "protect_tables",
]
