"""Configuration enters once: a resource holding the three folders."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from sse_stats.settings import Paths

_DEFAULT = Paths.default()


class PathsResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where submissions come from, where curated output goes, where schemas live.

    Defaults are the project's ``data/raw``, ``data/curated`` and ``schemas``
    (absolute, so the working directory does not matter).
    """

    raw: str = str(_DEFAULT.raw)
    curated: str = str(_DEFAULT.curated)
    schemas: str = str(_DEFAULT.schemas)

    @property
    def value(self) -> Paths:
        """The library's ``Paths``."""
        return Paths(
            raw=Path(self.raw), curated=Path(self.curated), schemas=Path(self.schemas)
        )
