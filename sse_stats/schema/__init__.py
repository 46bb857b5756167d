"""The harmonised schema of ``schemas/harmonised`` as typed, frozen objects."""

from sse_stats.schema.load import load_schema
from sse_stats.schema.model import CodeList, Component, Schema

__all__ = ["CodeList", "Component", "Schema", "load_schema"]
