"""Fixtures of the validation tests (schema and catalogue: tests/conftest.py)."""

from __future__ import annotations

import pytest

from sse_stats.validate import gx


@pytest.fixture(scope="session", autouse=True)
def gx_context() -> None:
    """Import GX and create its context once for the whole session."""
    gx.warm_up()
