"""Ingest: read a submission as text, with line numbers and its SHA-256."""
