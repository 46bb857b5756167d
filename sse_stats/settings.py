"""Default locations. No I/O at import; every function takes explicit paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    """Where submissions come from, where curated output goes, where schemas live."""

    raw: Path
    curated: Path
    schemas: Path

    @classmethod
    def default(cls, root: Path | None = None) -> Paths:
        """Paths relative to the project root (or ``root``).

        Examples:
            >>> Paths.default(Path("/x")).curated
            PosixPath('/x/data/curated')
        """
        base = PROJECT_ROOT if root is None else root
        return cls(
            raw=base / "data" / "raw",
            curated=base / "data" / "curated",
            schemas=PROJECT_ROOT / "schemas",
        )
