"""Cells of satellite tables as plain records, and what a derived cell is made of.

A cell is one observation (a ``dict`` with the harmonised-frame columns plus
``base_measure``); its key is :data:`~sse_stats.accounts.shells.KEY_COLUMNS`.
:func:`derivation_inputs` gives, for a derived cell, the keys of the cells a shell
formula computes it from. Table building uses it to compute a value and its
flags; disclosure control uses the same function to know which published cells
reveal which (a derived cell follows its inputs, schema.md §9.1 rules 4-5, §10).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sse_stats.accounts.shells import (
    KEY_COLUMNS,
    Derivation,
    GrowthDerivation,
    LinearDerivation,
    RatioDerivation,
    ShellContext,
)

Cell = dict[str, Any]
Key = tuple[Any, ...]

FREE = "F"
SECONDARY = "S"
SUPPRESSED_STATUS = "Q"
CANNOT_EXIST = "M"


def key_of(cell: Mapping[str, Any]) -> Key:
    """The key of a cell (schema.md §2 observation key plus ``base_measure``).

    An empty component is ``None`` however the frame held it (``None``, NaN, NA).

    Examples:
        >>> key_of({"ref_area": "PRT", "unit_state": float("nan")})[:2]
        ('PRT', None)
    """
    values = tuple(map(cell.get, KEY_COLUMNS))
    # Cells from records_of hold only text and None: skip the NaN test (hot path).
    if set(map(type, values)) <= _CLEAN_TYPES:
        return values
    return tuple(map(_present, values))


_CLEAN_TYPES = frozenset({str, type(None)})


def _present(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    try:
        return (
            None if bool(value != value) else value
        )  # NaN and NA are not equal to themselves
    except TypeError:  # pandas NA refuses bool()
        return None


def records_of(frame: Any) -> list[Cell]:
    """A table's rows as cells; empty attributes are ``None`` (values stay NaN).

    Column by column (``tolist`` gives Python scalars, as ``to_dict`` would),
    which is several times faster than boxing value by value.
    """
    names = [str(column) for column in frame.columns]
    columns = []
    for name, column in zip(names, frame.columns, strict=True):
        series = frame[column]
        if name in _VALUE_COLUMNS:
            columns.append(series.tolist())
        else:
            present = series.notna().to_numpy()
            values = series.astype(object).tolist()
            columns.append(
                values
                if present.all()
                else [v if p else None for v, p in zip(values, present, strict=True)]
            )
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


_VALUE_COLUMNS = frozenset({"obs_value", "obs_value_published"})


def with_codes(cell: Mapping[str, Any], codes: Mapping[str, Any]) -> Cell:
    """A copy of ``cell`` with some key components replaced.

    Examples:
        >>> with_codes({"sse_entity": "_T", "measure": "B1G"},
        ...            {"sse_entity": "NATECON"})
        {'sse_entity': 'NATECON', 'measure': 'B1G'}
    """
    out = dict(cell)
    out.update(codes)
    return out


def has_value(cell: Mapping[str, Any]) -> bool:
    """Whether the cell carries a number."""
    value = cell.get("obs_value")
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def is_suppressed(cell: Mapping[str, Any]) -> bool:
    """Empty for confidentiality: ``CONF_STATUS`` other than ``F`` (schema.md §6.2)."""
    status = cell.get("conf_status")
    return not has_value(cell) and status is not None and status != FREE


def cannot_exist(cell: Mapping[str, Any]) -> bool:
    """Empty because the data cannot exist (``OBS_STATUS = M``): reads as 0 in sums."""
    return not has_value(cell) and cell.get("obs_status") == CANNOT_EXIST


def level_of(cell: Mapping[str, Any]) -> Cell:
    """The level cell a ratio, share or growth cell is computed from."""
    return with_codes(
        cell,
        {"measure": cell.get("base_measure"), "base_measure": None, "share_base": None},
    )


def linear_terms(
    derivation: LinearDerivation, cell: Mapping[str, Any], context: ShellContext
) -> tuple[tuple[str, int], ...]:
    """The (code, coefficient) terms of a sum for the output ``cell``."""
    if derivation.children_from == "exhaustive_subgroups":
        codes = context.exhaustive_subgroups(
            str(cell.get("ref_area")), str(cell.get("sse_entity"))
        )
        return tuple((code, 1) for code in codes)
    return derivation.terms


def previous_year(time_period: object) -> str | None:
    """``2019`` for ``2020``; ``None`` when the period is not a year."""
    text = str(time_period)
    return str(int(text) - 1) if text.isdigit() else None


def derivation_inputs(
    derivation: Derivation, cell: Mapping[str, Any], context: ShellContext
) -> list[tuple[Cell, int]]:
    """The cells ``cell`` is computed from, as key templates with a coefficient.

    For a ratio the coefficient is 1 for the numerator and -1 for the
    denominator; for growth 1 for this year and -1 for the previous one.

    Examples:
        >>> from sse_stats.accounts.shells import CellSelector, RatioDerivation
        >>> share = RatioDerivation(id="s", measure="SHARE_NAT", scale=100,
        ...     numerator=CellSelector(measures=frozenset({"B1G"})),
        ...     denominator={"sse_entity": "NATECON"}, share_base=True)
        >>> out = {"sse_entity": "_T", "measure": "SHARE_NAT", "base_measure": "B1G",
        ...        "share_base": "B1G"}
        >>> terms = derivation_inputs(share, out, None)
        >>> [(c["sse_entity"], c["measure"], k) for c, k in terms]
        [('_T', 'B1G', 1), ('NATECON', 'B1G', -1)]
    """
    if isinstance(derivation, LinearDerivation):
        return [
            (with_codes(cell, {derivation.dimension: code}), coefficient)
            for code, coefficient in linear_terms(derivation, cell, context)
        ]
    level = level_of(cell)
    if isinstance(derivation, RatioDerivation):
        return [(level, 1), (with_codes(level, derivation.denominator), -1)]
    if isinstance(derivation, GrowthDerivation):
        before = previous_year(cell.get("time_period"))
        if before is None:
            return [(level, 1)]
        return [(level, 1), (with_codes(level, {"time_period": before}), -1)]
    raise TypeError(derivation)  # pragma: no cover
