"""Dagster definitions for sse-stats: a thin wrapper around the ``sse_stats`` library.

``dagster dev -m pipelines.definitions`` (or ``dg dev``) shows the assets;
``python -m pipelines`` runs the same assets in process (see ``__main__``).
"""
