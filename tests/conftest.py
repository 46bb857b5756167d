"""Shared test helpers: project paths, the NSO fixture folders, schema and rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from sse_stats.schema.load import load_schema
from sse_stats.schema.model import Schema
from sse_stats.validate.catalogue import RuleCatalogue, load_rules

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
NSO = ROOT / "tests" / "fixtures" / "nso"
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    """The project's schemas/ folder."""
    return SCHEMAS


@pytest.fixture(scope="session")
def schema() -> Schema:
    """The harmonised schema, loaded once."""
    return load_schema(SCHEMAS)


@pytest.fixture(scope="session")
def catalogue() -> RuleCatalogue:
    """The rule catalogue, loaded once."""
    return load_rules(SCHEMAS / "rules")
