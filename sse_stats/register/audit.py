"""Which suppressed cells the published linear relations still determine.

The published cells of a country and year satisfy linear relations exactly
(register aggregates have no rounding): ``parent = Σ children`` along each
dimension of a breakdown, and the accounting identities (``B1G = P1 − P2``,
``D1 = D11 + D12``). With the published values as constants, the suppressed
cells are the unknowns of ``A_u x = b``. A suppressed cell ``j`` is determined
exactly when the unit vector ``e_j`` lies in the row space of ``A_u``, i.e. when
every vector of the null space of ``A_u`` is 0 at ``j``. :func:`determined`
computes the null space by SVD (numpy).

This is the exact test of "no suppressed cell can be recovered from published
totals"; it does not bound the values (an attacker may still narrow a cell to an
interval with the signs of the values, as τ-Argus's protection intervals do).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

Relation = tuple[tuple[int, int], ...]
"""Terms ``(cell position, coefficient)`` of ``Σ coefficient × cell = 0``."""

TOTAL = "_T"
NOT_APPLICABLE = "_Z"

# Codes read as equal when matching a group with the SSE total (schema.md §4.12:
# the SSE total carries _Z where a whole group carries _T).
ENTITY_EQUIVALENTS: Mapping[str, Mapping[str, str]] = {
    "sse_entity_nat": {TOTAL: NOT_APPLICABLE},
    "coop_type": {TOTAL: NOT_APPLICABLE},
    "coop_level": {TOTAL: NOT_APPLICABLE},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentitySpec:
    """``lhs = Σ coefficient × measure`` among cells equal in every other column."""

    lhs: str
    rhs: tuple[tuple[str, int], ...]


def hierarchy_relations(
    frame: pd.DataFrame,
    key: Sequence[str],
    dimensions: Iterable[str],
    *,
    equivalents: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
) -> list[Relation]:
    """``parent (_T) = Σ every other code`` along each dimension, per group.

    Rows of ``frame`` are cells (positions 0…n-1); ``key`` are the columns that
    identify a cell. Along ``dim``, cells equal in every other key column (after
    ``equivalents[dim]``) form a group; a group with a ``_T`` cell and children
    gives one relation. ``_Z`` is never a child (the dimension does not apply).
    Groups are found with integer codes (``pandas.factorize``), not per cell.
    """
    equivalents = equivalents or {}
    out: list[Relation] = []
    present = [c for c in key if c in frame.columns]
    ints = {c: _factorized(frame[c]) for c in present}
    for dim in dimensions:
        if dim not in frame.columns:
            continue
        others = [c for c in present if c != dim]
        renames = equivalents.get(dim, {})
        table = {
            c: _factorized(_texts(frame[c]).replace(dict(renames[c])))
            if c in renames
            else ints[c]
            for c in others
        }
        codes = _texts(frame[dim]).to_numpy()
        total = codes == TOTAL
        child = ~np.isin(codes, [TOTAL, NOT_APPLICABLE])
        out += _sums(_group_ids([table[c] for c in others]), total, child)
    return out


def _group_ids(
    columns: Sequence[np.ndarray[Any, np.dtype[np.intp]]],
) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Group number of each row, groups in the order of their codes (like
    ``groupby(sort=True).ngroup()``), from one mixed-radix integer per row."""
    if not columns or not len(columns[0]):
        return np.zeros(len(columns[0]) if columns else 0, dtype=np.intp)
    combined = np.zeros(len(columns[0]), dtype=np.int64)
    room = 1
    for codes in columns:
        radix = int(codes.max()) + 1
        room *= radix
        if room >= 1 << 62:  # would overflow: let pandas group the columns
            frame = pd.DataFrame(dict(enumerate(columns)))
            ngroup = frame.groupby(list(frame.columns), sort=True).ngroup()
            return np.asarray(ngroup.to_numpy(), dtype=np.intp)
        combined = combined * radix + codes
    return np.asarray(np.unique(combined, return_inverse=True)[1], dtype=np.intp)


def _sums(
    gid: np.ndarray[Any, np.dtype[np.intp]],
    total: np.ndarray[Any, np.dtype[np.bool_]],
    child: np.ndarray[Any, np.dtype[np.bool_]],
) -> list[Relation]:
    """One relation per group with exactly one total and some children.

    Vectorised (most groups are single cells): groups in key order, children
    in row order.
    """
    count = int(gid.max()) + 1 if len(gid) else 0
    totals = np.bincount(gid[total], minlength=count)
    children = np.bincount(gid[child], minlength=count)
    kept = (totals == 1) & (children > 0)
    rows = np.flatnonzero((total | child) & kept[gid])
    rows = rows[np.argsort(gid[rows], kind="stable")]
    out: list[Relation] = []
    for members in np.split(rows, np.flatnonzero(np.diff(gid[rows])) + 1):
        if not len(members):
            continue
        parent = int(members[total[members]][0])
        out.append(((parent, -1), *((int(p), 1) for p in members[child[members]])))
    return out


def _texts(column: pd.Series) -> pd.Series:
    """Codes as text, empty (None, NaN, NA) as ``""``."""
    values = column.astype(object)
    return values.where(values.notna(), "").astype(str)


def _factorized(column: pd.Series) -> np.ndarray[Any, np.dtype[np.intp]]:
    codes, _ = pd.factorize(_texts(column))
    return np.asarray(codes, dtype=np.intp)


def identity_relations(
    frame: pd.DataFrame, key: Sequence[str], identities: Iterable[IdentitySpec]
) -> list[Relation]:
    """``lhs − Σ k × rhs = 0`` where every term is a cell (same other codes).

    Groups of cells equal in every other key column are numbered in key order
    (:func:`_group_ids`); relations come group by group, identities in their
    order. Vectorised: one array per measure gives the cell of each group.
    """
    others = [c for c in key if c != "measure" and c in frame.columns]
    gid = _group_ids([_factorized(frame[c]) for c in others])
    count = int(gid.max()) + 1 if len(gid) else 0
    measures = _texts(frame["measure"]).to_numpy()
    rows = np.arange(len(frame))
    cell_of: dict[str, np.ndarray[Any, np.dtype[np.intp]]] = {}

    def cells(measure: str) -> np.ndarray[Any, np.dtype[np.intp]]:
        """Per group, the (last) row of ``measure``; -1 where the group has none."""
        if measure not in cell_of:
            found = np.full(count, -1, dtype=np.intp)
            mine = measures == measure
            np.maximum.at(found, gid[mine], rows[mine])
            cell_of[measure] = found
        return cell_of[measure]

    found: list[tuple[int, int, Relation]] = []
    for order, identity in enumerate(identities):
        terms = [(identity.lhs, -1), *identity.rhs]
        positions = [cells(measure) for measure, _ in terms]
        complete = np.flatnonzero(np.logical_and.reduce([p >= 0 for p in positions]))
        for group in complete.tolist():
            relation = tuple(
                (int(p[group]), k) for p, (_, k) in zip(positions, terms, strict=True)
            )
            found.append((group, order, relation))
    found.sort(key=lambda item: (item[0], item[1]))
    return [relation for _, _, relation in found]


def determined(
    relations: Sequence[Relation], suppressed: np.ndarray[Any, np.dtype[np.bool_]]
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """For each cell, whether it is suppressed yet fixed by the relations.

    The suppressed cells are split into groups linked by relations (relations
    of different countries or breakdowns never share an unknown), and each group
    is solved on its own: with ``V`` the right singular vectors of the group's
    matrix for its nonzero singular values, ``e_j`` is in the row space exactly
    when ``‖Vᵀ e_j‖ = 1``.

    Examples:
        >>> rel = [((0, -1), (1, 1), (2, 1))]          # c0 = c1 + c2
        >>> determined(rel, np.array([False, True, False])).tolist()
        [False, True, False]
        >>> determined(rel, np.array([False, True, True])).tolist()
        [False, False, False]
    """
    out = np.zeros(len(suppressed), dtype=bool)
    rows = [
        [(c, k) for c, k in r if suppressed[c]]
        for r in relations
        if any(suppressed[c] for c, _ in r)
    ]
    if not rows:
        return out
    for component in _components(rows):
        cells = sorted({c for i in component for c, _ in rows[i]})
        column = {c: j for j, c in enumerate(cells)}
        matrix = np.zeros((len(component), len(cells)))
        for i, index in enumerate(component):
            for cell, coefficient in rows[index]:
                matrix[i, column[cell]] += coefficient
        _, sing, vt = np.linalg.svd(matrix, full_matrices=False)
        tol = max(matrix.shape) * np.finfo(float).eps * (sing[0] if sing.size else 0.0)
        rank = int(np.sum(sing > max(tol, 1e-9)))
        reach = np.sum(vt[:rank] ** 2, axis=0)
        fixed = np.abs(reach - 1.0) < 1e-9
        out[np.array(cells)[fixed]] = True
    return out


def _components(rows: Sequence[Sequence[tuple[int, int]]]) -> list[list[int]]:
    """Groups of rows that share an unknown cell (union-find over cells)."""
    parent: dict[int, int] = {}

    def find(cell: int) -> int:
        root = cell
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[cell] != root:
            parent[cell], cell = root, parent[cell]
        return root

    for row in rows:
        first = find(row[0][0])
        for cell, _ in row[1:]:
            other = find(cell)
            if other != first:
                parent[other] = first
    groups: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(find(row[0][0]), []).append(i)
    return [groups[k] for k in sorted(groups)]


def exposed_relations(
    relations: Sequence[Relation], suppressed: np.ndarray[Any, np.dtype[np.bool_]]
) -> list[Relation]:
    """Relations with exactly one suppressed cell (the first thing to avoid)."""
    return [r for r in relations if sum(bool(suppressed[c]) for c, _ in r) == 1]
