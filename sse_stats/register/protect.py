"""Disclosure control of register aggregates (schema.md §10), with real contributions.

* **Primary** (:func:`primary_status`): per magnitude cell, frequency (fewer than
  ``min_units`` units), (n, k) dominance and p % on the cell's largest two
  contributions, thresholds from ``schemas/harmonised/sdc.yaml`` through
  :mod:`sse_stats.accounts.disclosure`. ``N_UNITS`` is never primary-suppressed
  (counts of units are published; schema.md §10 applies the rules to magnitudes).
* **Secondary** (:func:`protect_observations`): the heuristic of
  :mod:`sse_stats.accounts.sdc` (schema.md §10 rules 2-3) on the relations that
  hold for register aggregates, which ``hierarchies.yaml`` cannot assume for
  submitted tables: every dimension of a breakdown adds up exactly (regions
  included), persons counted per unit add up like any sum, and the identities
  of ``identities.yaml`` hold. Then :mod:`sse_stats.register.audit` solves the
  published relations; a suppressed cell they still determine gets one more
  suppression in one of its relations, until none is determined. The satellite
  tables built from the result are protected again by
  :func:`sse_stats.accounts.sdc.protect_tables` (:mod:`.process`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sse_stats.accounts.disclosure import (
    CONF_CONCENTRATION,
    CONF_DOMINANCE,
    CONF_FREQUENCY,
    SdcParameters,
    dominance_sensitive,
    frequency_sensitive,
    p_percent_sensitive,
)
from sse_stats.accounts.shells import KEY_COLUMNS, ShellContext
from sse_stats.register.audit import (
    ENTITY_EQUIVALENTS,
    IdentitySpec,
    Relation,
    determined,
    hierarchy_relations,
    identity_relations,
)

FREE = "F"
SECONDARY = "S"
SUPPRESSED = "Q"
PUBLISHED = "A"
RELATION_DIMENSIONS = (
    "sse_entity",
    "coop_type",
    "coop_level",
    "activity",
    "inst_sector",
    "region",
    "sex",
    "member_type",
    "work_cat",
)
"""Dimensions along which register cells add up to their ``_T``."""


def primary_status(
    cells: pd.DataFrame,
    params: SdcParameters,
    *,
    count_series: str,
    top2: Any,
    top2_bounds: Any = None,
) -> pd.Series:
    """``CONF_STATUS`` of each cell after the primary rules (``F`` when free).

    Args:
        cells: rows of :func:`~sse_stats.register.aggregate.roll_up`.
        params: thresholds of ``sdc.yaml``.
        count_series: the id of the N_UNITS series (never primary-suppressed).
        top2: a callable ``(wanted mask) -> second contributions``, asked only
            for cells that would be sensitive were the second contribution as
            large as the first (elsewhere it cannot change the verdict).
        top2_bounds: a callable ``(wanted mask) -> (lower, upper)`` bounds of
            the second contributions (cheaper than ``top2``). Both rules grow
            with the second contribution, so where both bounds give the same
            verdicts that is the verdict, and ``top2`` is asked only for the
            other cells.
    """
    magnitude = cells["series"] != count_series
    frequency = frequency_sensitive(cells["n"], params) & magnitude
    total, top1 = cells["total_abs"].fillna(0.0), cells["top1"].fillna(0.0)
    maybe = (
        (
            dominance_sensitive(total, top1, top1, params)
            | p_percent_sensitive(total, top1, top1, params)
        )
        & magnitude
        & ~frequency
    )
    if top2_bounds is None:
        second = pd.Series(top2(maybe), index=cells.index).fillna(0.0)
    else:
        low, high = (
            pd.Series(bound, index=cells.index).fillna(0.0)
            for bound in top2_bounds(maybe)
        )
        undecided = maybe & (
            (
                dominance_sensitive(total, top1, low, params)
                != dominance_sensitive(total, top1, high, params)
            )
            | (
                p_percent_sensitive(total, top1, low, params)
                != p_percent_sensitive(total, top1, high, params)
            )
        )
        second = low.copy()
        if bool(undecided.any()):
            exact = pd.Series(top2(undecided), index=cells.index).fillna(0.0)
            second[undecided] = exact[undecided]
    dominance = dominance_sensitive(total, top1, second, params) & maybe
    concentration = (
        p_percent_sensitive(total, top1, second, params) & maybe & ~dominance
    )
    status = pd.Series(FREE, index=cells.index, dtype=object)
    status[frequency] = CONF_FREQUENCY
    status[dominance] = CONF_DOMINANCE
    status[concentration] = CONF_CONCENTRATION
    return status


# ------------------------------------------------------------------ secondary


def linear_relations(
    frame: pd.DataFrame, identities: Iterable[IdentitySpec]
) -> list[Relation]:
    """Every published linear relation among the cells (positions in ``frame``).

    Register aggregates add up exactly along every dimension of a breakdown
    (regions included: each unit has one region; members and persons employed
    counted per unit add up like any sum), and the identities hold per unit.
    """
    key = [c for c in KEY_COLUMNS if c in frame.columns]
    equivalents = {"sse_entity": ENTITY_EQUIVALENTS}
    relations = hierarchy_relations(
        frame, key, RELATION_DIMENSIONS, equivalents=equivalents
    )
    return relations + identity_relations(frame, key, identities)


def identity_specs(context: ShellContext) -> list[IdentitySpec]:
    """The accounting identities of ``identities.yaml`` as audit relations."""
    return [IdentitySpec(lhs=i.lhs, rhs=tuple(i.rhs)) for i in context.identities]


def protect_observations(
    frame: pd.DataFrame, identities: Sequence[IdentitySpec]
) -> tuple[pd.DataFrame, int]:
    """Secondary suppression of the observations; return them and the rounds.

    ``frame`` is a harmonised frame whose primary-sensitive cells are already
    empty (``OBS_STATUS = Q``, ``CONF_STATUS`` A, G or M); it may hold several
    countries and years (relations never cross them: both are in every key).
    Each round applies the heuristic of :mod:`sse_stats.accounts.sdc` (schema.md
    §10 rule 3: while a relation has exactly one suppressed cell, suppress its
    smallest non-zero published child, the total only as a last resort), then
    solves the relations (:func:`~sse_stats.register.audit.determined`); a
    suppressed cell still determined gets the smallest non-zero published cell
    of one of its relations suppressed too, and the next round starts. Rows keep
    their order.
    """
    current = frame.reset_index(drop=True).copy()
    relations = linear_relations(current, identities)
    values = np.abs(current["obs_value"].to_numpy(dtype="float64"))
    hidden = np.isnan(values)
    primary = hidden.copy()
    rounds = 0
    while True:
        rounds += 1
        _exactly_one(relations, values, hidden)
        fixed = determined(relations, hidden)
        if not fixed.any() or rounds > len(current):
            break
        if not _hide_more(np.flatnonzero(fixed).tolist(), relations, values, hidden):
            break  # pragma: no cover - a fixed cell always has a published constant
    if fixed.any():  # pragma: no cover
        raise RuntimeError("secondary suppression did not converge")
    secondary = hidden & ~primary
    if secondary.any():
        current.loc[secondary, "obs_value"] = np.nan
        current.loc[secondary, "obs_value_text"] = None
        current.loc[secondary, "obs_status"] = SUPPRESSED
        free = secondary & (current["conf_status"].fillna(FREE) == FREE).to_numpy()
        current.loc[free, "conf_status"] = SECONDARY
    return current, rounds


def _exactly_one(
    relations: Sequence[Relation],
    values: np.ndarray[Any, np.dtype[np.float64]],
    hidden: np.ndarray[Any, np.dtype[np.bool_]],
) -> None:
    """sdc's loop: until no relation has exactly one hidden cell (``hidden`` grows).

    As in :func:`sse_stats.accounts.sdc.protect_tables`, relations are visited
    in order and a cell hidden for one is seen by the next (the order matters:
    visiting them in batches hides noticeably more cells).
    """
    members = [[c for c, _ in r] for r in relations]
    # Python lists: relations have a handful of cells, where indexing numpy
    # arrays one by one costs several times more.
    seen: list[bool] = hidden.tolist()
    amounts: list[float] = values.tolist()
    changed = True
    while changed:
        changed = False
        for cells in members:
            if sum(seen[c] for c in cells) != 1:
                continue
            pick = _second_cell(cells, amounts, seen)
            if pick is not None:
                seen[pick] = True
                changed = True
    hidden[:] = seen


def _second_cell(
    members: Sequence[int], values: Sequence[float], hidden: Sequence[bool]
) -> int | None:
    """The smallest non-zero published child; else the total (first); else a 0."""
    parent, children = members[0], members[1:]
    candidates = [c for c in children if not hidden[c] and values[c] > 0]
    if candidates:
        return min(candidates, key=lambda c: (values[c], c))
    if not hidden[parent]:
        return parent
    zeros = [c for c in children if not hidden[c]]
    return zeros[0] if zeros else None


def _hide_more(
    fixed: Sequence[int],
    relations: Sequence[Relation],
    values: np.ndarray[Any, np.dtype[np.float64]],
    hidden: np.ndarray[Any, np.dtype[np.bool_]],
) -> bool:
    """Hide one more cell near each fixed cell not already helped this round."""
    touched: set[int] = set()
    members_of: dict[int, set[int]] = {}
    for relation in relations:
        cells = {c for c, _ in relation}
        for cell in cells:
            members_of.setdefault(cell, set()).update(cells)
    progress = False
    for cell in fixed:
        if members_of.get(cell, set()) & touched:
            continue
        pick = _extra_cell([cell], relations, values, hidden)
        if pick is not None:
            hidden[pick] = True
            touched.add(pick)
            progress = True
    return progress


def _extra_cell(
    cells: Sequence[int],
    relations: Sequence[Relation],
    values: np.ndarray[Any, np.dtype[np.float64]],
    hidden: np.ndarray[Any, np.dtype[np.bool_]],
) -> int | None:
    """The published cell to hide next so that ``cells`` stop being determined.

    The smallest non-zero published cell of a relation holding one of ``cells``
    (a child before a total, a zero last); failing that, of any relation that
    shares a hidden cell with one of them (the published constants that fix them
    are there).
    """
    wanted = set(cells)
    near = [r for r in relations if any(c in wanted for c, _ in r)]
    best = _smallest_published(near, values, hidden)
    if best is not None:
        return best
    linked = {c for r in near for c, _ in r if hidden[c]}
    far = [r for r in relations if any(c in linked for c, _ in r)]
    return _smallest_published(far, values, hidden)


def _smallest_published(
    relations: Sequence[Relation],
    values: np.ndarray[Any, np.dtype[np.float64]],
    hidden: np.ndarray[Any, np.dtype[np.bool_]],
) -> int | None:
    best: tuple[int, int, float, int] | None = None
    for relation in relations:
        parent = relation[0][0]
        for cell, _ in relation:
            if hidden[cell]:
                continue
            value = float(values[cell])
            rank = (int(value == 0), int(cell == parent), value, cell)
            if best is None or rank < best:
                best = rank
    return None if best is None else best[3]
