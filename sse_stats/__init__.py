"""sse-stats: NSO statistics of the social and solidarity economy, harmonised.

The library reads national submissions, maps them to the harmonised schema of
``schemas/``, validates them and publishes curated tables. It never imports
Dagster; ``pipelines/`` wraps it.
"""

__version__ = "0.1.0"
