"""Publish: curated Parquet tables and the serving DuckDB copy, written atomically."""
