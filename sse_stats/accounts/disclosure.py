"""Primary disclosure rules: frequency, (n, k) dominance and p % (schema.md §10).

Vectorised over cells; the thresholds come from ``schemas/harmonised/sdc.yaml``.
Secondary suppression lives in :mod:`sse_stats.accounts.sdc`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sse_stats.errors import SchemaFileError
from sse_stats.schema.load import load_yaml

# CONF_STATUS codes given by each primary rule (SDMX CL_CONF_STATUS).
CONF_FREQUENCY = "A"
CONF_DOMINANCE = "G"
CONF_CONCENTRATION = "M"


@dataclass(frozen=True, slots=True, kw_only=True)
class SdcParameters:
    """Thresholds of the primary rules."""

    min_units: int
    dominance_n: int
    dominance_k: float
    p_percent: float


def load_sdc(schemas_dir: Path) -> SdcParameters:
    """Read ``harmonised/sdc.yaml``; a missing or wrong key names the file and key."""
    doc = load_yaml(schemas_dir / "harmonised" / "sdc.yaml")

    def number(section: str, key: str) -> float:
        try:
            value = doc[section][key]
        except (KeyError, TypeError) as exc:
            raise SchemaFileError(
                "sdc.yaml", f"{section}.{key}", "is required"
            ) from exc
        if not isinstance(value, int | float) or value < 0:
            raise SchemaFileError("sdc.yaml", f"{section}.{key}", "must be >= 0")
        return float(value)

    params = SdcParameters(
        min_units=int(number("frequency", "min_units")),
        dominance_n=int(number("dominance", "n")),
        dominance_k=number("dominance", "k"),
        p_percent=number("p_percent", "p"),
    )
    if params.dominance_n not in (1, 2):
        raise SchemaFileError(
            "sdc.yaml", "dominance.n", "1 or 2 contributors are supported"
        )
    return params


def frequency_sensitive(n_units: pd.Series, params: SdcParameters) -> pd.Series:
    """Cells with 1 to ``min_units - 1`` contributors (empty cells are not sensitive).

    Examples:
        >>> p = SdcParameters(min_units=3, dominance_n=2, dominance_k=85, p_percent=80)
        >>> frequency_sensitive(pd.Series([0, 1, 2, 3]), p).tolist()
        [False, True, True, False]
    """
    units = pd.to_numeric(n_units)
    return (units >= 1) & (units < params.min_units)


def dominance_sensitive(
    total: pd.Series, top1: pd.Series, top2: pd.Series, params: SdcParameters
) -> pd.Series:
    """The ``n`` largest contributions exceed ``k`` % of the cell total.

    Contributions are taken as absolute values (a negative value added still
    discloses its unit). Examples:
        >>> p = SdcParameters(min_units=3, dominance_n=2, dominance_k=85, p_percent=80)
        >>> dominance_sensitive(pd.Series([100.0, 100.0]), pd.Series([80.0, 50.0]),
        ...                     pd.Series([10.0, 20.0]), p).tolist()
        [True, False]
    """
    top = top1.abs() + (top2.abs() if params.dominance_n == 2 else 0)
    return pd.Series(
        np.where(total.abs() > 0, top > params.dominance_k / 100 * total.abs(), False),
        index=total.index,
    )


def p_percent_sensitive(
    total: pd.Series, top1: pd.Series, top2: pd.Series, params: SdcParameters
) -> pd.Series:
    """Total minus the two largest contributions is below ``p`` % of the largest.

    Examples:
        >>> p = SdcParameters(min_units=3, dominance_n=2, dominance_k=85, p_percent=80)
        >>> p_percent_sensitive(pd.Series([100.0, 100.0]), pd.Series([50.0, 30.0]),
        ...                     pd.Series([20.0, 20.0]), p).tolist()
        [True, False]
    """
    rest = total.abs() - top1.abs() - top2.abs()
    return pd.Series(
        np.where(top1.abs() > 0, rest < params.p_percent / 100 * top1.abs(), False),
        index=total.index,
    )
