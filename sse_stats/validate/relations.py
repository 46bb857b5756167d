"""Level-1 rules between observations of one submission.

Accounting identities (schema.md §8.5), hierarchies (§8.6, VTL
``check_hierarchy`` in mode ``non_null``), ``sse_not_above_national`` (§8.3),
the plausibility warnings of §8.7 and the disclosure warnings of §10
(``suppressed_cell_derivable``, ``small_cell_not_flagged``). What the
identities and hierarchies are is data (``schemas/harmonised/identities.yaml``
and ``hierarchies.yaml``, read by :mod:`sse_stats.validate.relation_schemas`);
this module evaluates them on the harmonised frame (docs/architecture.md).

Values are compared in base units (``OBS_VALUE × 10^UNIT_MULT``). Every relation
is first judged in floating point, vectorised over the frame; a relation that
fails, or whose difference lies within a hair of its tolerance, is judged again
exactly with :class:`decimal.Decimal` built from ``obs_value_text``, and only
that exact judgement counts. The tolerance is the rounding of the source
(§8.4): ``0.5 × Σ 10^(UNIT_MULT − decimals)`` over the terms.

A cell's state decides how it enters a relation: a value; ``M`` (cannot exist),
which counts as 0 where it is a part; suppressed (``OBS_STATUS Q`` or
``CONF_STATUS`` other than ``F``); or otherwise empty (``K``, ``L``, ``O``,
unreadable). A relation with a term that is absent, suppressed or empty is not
applicable, never failed (§8.1, fixtures README "Skipping, not cascading").
"""

from __future__ import annotations

import dataclasses
import decimal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from sse_stats.errors import Finding
from sse_stats.schema.key import DIMENSIONS
from sse_stats.validate.catalogue import RuleCatalogue
from sse_stats.validate.relation_schemas import (
    FIXED,
    Hierarchy,
    HierarchyRelation,
    Identity,
    RelationSchemas,
    Tolerance,
    cached_relation_schemas,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

_ATTRIBUTES = (
    "obs_status",
    "conf_status",
    "unit_measure",
    "currency",
    "valuation_method",
)

# Cell states.
VALUE, ZERO, SUPPRESSED, EMPTY = 0, 1, 2, 3
_ABSENT = 4

PLAUSIBILITY_RULES = (
    "fte_not_above_persons",
    "members_not_above_memberships",
    "active_not_above_registered",
    "avg_compensation_plausible",
    "nonmarket_surplus_near_cfc",
    "secondary_coop_members_are_coops",
    "coop_work_category_outside_coops",
    "volunteer_value_has_method",
)
OTHER_RULES = (
    "parts_not_above_total",
    "distinct_count_bounds",
    "sse_not_above_national",
    "units_differ",
    "suppressed_cell_derivable",
    "small_cell_not_flagged",
)
_EXACT = decimal.Context(prec=80)
_UNSURE = (
    1e-9  # relative margin around the tolerance inside which floats are not trusted
)


# --------------------------------------------------------------------------------------
# The frame, prepared once
# --------------------------------------------------------------------------------------


class _Cells:
    """Column arrays, cell states, base values and rounding units of a frame."""

    def __init__(self, frame: pd.DataFrame, schemas: RelationSchemas) -> None:
        self.n = n = len(frame)
        self.col: dict[str, ObjArray] = {}
        for name in (*FIXED, *_ATTRIBUTES):
            series = (
                frame[name]
                if name in frame.columns
                else pd.Series([""] * n, dtype=object)
            )
            self.col[name] = series.fillna("").astype(str).to_numpy(dtype=object)
        self._codes: dict[str, tuple[IntArray, list[str]]] = {}
        number = pd.to_numeric(frame["obs_value"], errors="coerce").to_numpy(
            dtype=float
        )
        text = frame["obs_value_text"]
        mult = pd.array(frame["unit_mult"], dtype="Int64")
        mult_ok = ~np.asarray(mult.isna(), dtype=bool)
        self.mult: IntArray = np.asarray(mult.fillna(0), dtype=np.int64)
        self.text: ObjArray = (
            text.astype(object).where(text.notna(), None).to_numpy(dtype=object)
        )
        has = ~np.isnan(number) & text.notna().to_numpy(dtype=bool) & mult_ok
        state = np.full(n, EMPTY, dtype=np.int64)
        state[has] = VALUE
        state[self.isin("obs_status", ("K", "L", "O"))] = EMPTY
        state[self.eq("obs_status", "Q") | ~self.isin("conf_status", ("", "F"))] = (
            SUPPRESSED
        )
        state[self.eq("obs_status", "M")] = ZERO
        self.state = state
        plain = text.fillna("").astype(str)
        dot = plain.str.find(".").to_numpy(dtype=np.int64)
        decimals = np.where(
            dot >= 0, plain.str.len().to_numpy(dtype=np.int64) - dot - 1, 0
        )
        scale = np.power(10.0, self.mult.astype(float))
        is_value = state == VALUE
        self.base: FloatArray = np.where(is_value, np.nan_to_num(number) * scale, 0.0)
        self.ulp: FloatArray = np.where(
            is_value, np.power(10.0, (self.mult - decimals).astype(float)), 0.0
        )
        self.decimals: IntArray = decimals.astype(np.int64)
        unit, currency = self.col["unit_measure"], self.col["currency"]
        effective = np.where((unit == "XDC") & (currency != ""), currency, unit)
        codes, uniques = pd.factorize(effective)
        aliased = [schemas.unit_alias.get(str(u), str(u)) for u in uniques]
        self.unit_text: ObjArray = effective.astype(object)
        self.unit: IntArray = pd.factorize(np.array(aliased, dtype=object))[0][codes]
        self.row: IntArray = frame["source_row"].to_numpy(dtype=np.int64)
        column = frame["source_column"]
        self.column: ObjArray = (
            column.astype(object).where(column.notna(), None).to_numpy(dtype=object)
        )

    # ---- grouping --------------------------------------------------------------------
    def codes(self, name: str) -> tuple[IntArray, list[str]]:
        if name not in self._codes:
            codes, uniques = pd.factorize(self.col[name])
            self._codes[name] = (codes.astype(np.int64), [str(u) for u in uniques])
        return self._codes[name]

    def key(
        self,
        columns: Iterable[str],
        equivalents: Mapping[str, Mapping[str, str]] | None = None,
    ) -> IntArray:
        """A group number per row: rows equal on ``columns`` share it."""
        key = np.zeros(self.n, dtype=np.int64)
        for name in columns:
            codes, uniques = self.codes(name)
            eq = (equivalents or {}).get(name)
            if eq:
                lookup = {u: i for i, u in enumerate(uniques)}
                codes = codes.copy()
                for src, dst in eq.items():
                    if src in lookup:
                        codes[codes == lookup[src]] = lookup.get(dst, len(uniques))
            width = int(codes.max()) + 1 if self.n else 1
            if self.n and int(key.max()) >= (2**62) // max(width, 1):
                key = pd.factorize(key)[0].astype(np.int64)
            key = key * width + codes
        return pd.factorize(key)[0].astype(np.int64) if self.n else key

    def isin(self, name: str, values: Iterable[str]) -> BoolArray:
        """Rows whose ``name`` is one of ``values`` (through the column's codes)."""
        codes, uniques = self.codes(name)
        wanted = set(values)
        hit = np.array([u in wanted for u in uniques] + [False], dtype=bool)
        return np.asarray(hit[codes], dtype=bool)

    def eq(self, name: str, value: str) -> BoolArray:
        return self.isin(name, (value,))

    # ---- exact arithmetic ------------------------------------------------------------
    def exact(self, i: int) -> Decimal:
        """The cell in base units, exactly (0 for M)."""
        if self.state[i] != VALUE:
            return Decimal(0)
        return Decimal(str(self.text[i])).scaleb(int(self.mult[i]), _EXACT)

    def exact_ulp(self, i: int) -> Decimal:
        if self.state[i] != VALUE:
            return Decimal(0)
        return Decimal(1).scaleb(int(self.mult[i] - self.decimals[i]), _EXACT)


def _index(groups: IntArray, rows: IntArray, size: int) -> IntArray:
    """For each group, its first row among ``rows`` (−1 where none)."""
    out = np.full(size, -1, dtype=np.int64)
    keys, first = np.unique(groups[rows], return_index=True)
    out[keys] = rows[first]
    return out


@lru_cache(maxsize=8192)
def region_level(code: str) -> int:
    """1, 2, 3 … for a region code's level; 0 for special codes.

    ISO 3166-2 codes (``KE-30``) by their parents in ``pycountry``; NUTS codes
    by length (``PT1`` level 1, ``PT11`` level 2).

    Examples:
        >>> region_level("FR-ARA"), region_level("FR-01"), region_level("PT11")
        (1, 2, 2)
    """
    if code in ("", "_T", "_Z", "_U"):
        return 0
    if "-" not in code:
        return max(len(code) - 2, 1)
    import pycountry  # loaded only when ISO 3166-2 codes are present

    subdivisions: Any = pycountry.subdivisions
    depth, seen = 1, {code}
    sub = subdivisions.get(code=code)
    while sub is not None and getattr(sub, "parent_code", None) not in (None, *seen):
        seen.add(sub.parent_code)
        depth += 1
        sub = subdivisions.get(code=sub.parent_code)
    return depth


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelationsResult:
    """Findings (fails only) and, per rule, (passes, fails, not_applicable)."""

    findings: list[Finding]
    outcomes: dict[str, tuple[int, int, int]]
    crashed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Judged:
    """The exact outcome of one comparison, in base units."""

    ok: bool
    lhs: Decimal
    rhs: Decimal
    tolerance: Decimal


class _Run:
    """One evaluation: the prepared cells, the schemas, findings and counts."""

    def __init__(
        self,
        cells: _Cells,
        schemas: RelationSchemas,
        catalogue: RuleCatalogue,
        file: str,
        origins: Mapping[str, str],
    ) -> None:
        self.c, self.s, self.cat, self.file, self.origins = (
            cells,
            schemas,
            catalogue,
            file,
            origins,
        )
        self.findings: list[Finding] = []
        self.counts: dict[str, list[int]] = {}
        self.derivable: set[int] = set()

    # ---- bookkeeping -----------------------------------------------------------------
    def count(self, rule: str, passes: int = 0, fails: int = 0, na: int = 0) -> None:
        tally = self.counts.setdefault(rule, [0, 0, 0])
        tally[0] += int(passes)
        tally[1] += int(fails)
        tally[2] += int(na)

    def fail(
        self,
        rule: str,
        i: int,
        detail: str,
        *,
        column: str | None = None,
        value: str | None = None,
        on_value: bool = True,
    ) -> None:
        """A finding on row ``i``: on its value, or on ``column``/``value``."""
        c = self.c
        self.findings.append(
            self.cat.finding(
                rule,
                file=self.file,
                row=int(c.row[i]),
                column=c.column[i] if on_value else column,
                value=c.text[i] if on_value else value,
                detail=detail,
            )
        )
        self.count(rule, fails=1)

    def kwarg(self, rule: str, name: str, default: str) -> Decimal:
        return Decimal(str(self.cat[rule].kwargs.get(name, default)))

    # ---- text ------------------------------------------------------------------------
    def show(self, d: Decimal, anchor: int) -> str:
        """``d`` (base units) in the anchor cell's multiplier, with at least as
        many decimals as the anchor was published with."""
        value = d.scaleb(-int(self.c.mult[anchor]), _EXACT)
        text = format(value.normalize(_EXACT), "f")
        places = int(self.c.decimals[anchor])
        shown = len(text.partition(".")[2])
        if shown < places:
            text += ("" if shown else ".") + "0" * (places - shown)
        return text

    def rows_text(self, rows: Iterable[int]) -> str:
        lines = sorted({int(self.c.row[r]) for r in rows})
        if not lines:
            return "no other row"
        return ("row " if len(lines) == 1 else "rows ") + ", ".join(map(str, lines))

    def scale_note(self, anchor: int, terms: Iterable[int]) -> str:
        """Say so when the terms were published with other multipliers."""
        m = int(self.c.mult[anchor])
        if {int(self.c.mult[t]) for t in terms if self.c.state[t] == VALUE} <= {m}:
            return ""
        return f"; values shown with UNIT_MULT {m}"

    def term(self, i: int, dim: str | None) -> str:
        c = self.c
        label = c.col[dim][i] if dim else c.col["measure"][i]
        return f"{label} in {c.unit_text[i] or '(no unit)'}"

    # ---- judging ---------------------------------------------------------------------
    def exact(
        self,
        lhs: Sequence[int],
        rhs: Sequence[tuple[int, int]],
        tol: Tolerance,
        anchor: int,
        two_sided: bool,
        factor: Decimal = Decimal(1),
    ) -> _Judged:
        """Judge ``Σ lhs = Σ rhs`` (or ``≤``) exactly, in base units.

        ``rhs`` holds (row, ±1); the tolerance covers every term (§8.4).
        """
        c = self.c
        left = sum((c.exact(i) for i in lhs), Decimal(0))
        right = factor * sum((k * c.exact(i) for i, k in rhs), Decimal(0))
        units = sum((c.exact_ulp(i) for i in lhs), Decimal(0)) + factor * sum(
            (c.exact_ulp(i) for i, _ in rhs), Decimal(0)
        )
        bound = tol.rounding * units + tol.relative * abs(c.exact(anchor))
        diff = left - right
        return _Judged(
            abs(diff) <= bound if two_sided else diff <= bound, left, right, bound
        )

    @staticmethod
    def clear(
        diff: FloatArray, tol: FloatArray, size: FloatArray, two_sided: bool
    ) -> BoolArray:
        """Clear passes in floating point; everything else is judged exactly."""
        d = np.abs(diff) if two_sided else diff
        margin = _UNSURE * (np.abs(size) + np.abs(tol)) + 1e-300
        return np.asarray(d <= tol - margin, dtype=bool)

    def units_differ(
        self, anchor: int, terms: Iterable[int], rule: str, dim: str | None = None
    ) -> None:
        c = self.c
        other = [
            t for t in terms if c.state[t] == VALUE and c.unit[t] != c.unit[anchor]
        ]
        listed = ", ".join(self.term(t, dim) for t in other[:5])
        self.fail(
            "units_differ",
            anchor,
            f"{self.term(anchor, dim)} but {listed} ({self.rows_text(other)}): "
            f"{rule} is not applicable",
        )

    def mark_derivable(self, cell: int, relation: str, others: Iterable[int]) -> None:
        """Warn once per suppressed cell that a relation exposes (§10 rule 4)."""
        if cell in self.derivable:
            self.count("suppressed_cell_derivable", fails=1)
            return
        self.derivable.add(cell)
        c = self.c
        self.fail(
            "suppressed_cell_derivable",
            cell,
            f"{c.col['measure'][cell]} is suppressed (OBS_STATUS "
            f"{c.col['obs_status'][cell] or '-'}, CONF_STATUS "
            f"{c.col['conf_status'][cell] or '-'})"
            f" but is the only empty term of {relation}, whose other terms are "
            f"published ({self.rows_text(others)}): it can be derived; suppress a "
            "second cell",
        )

    # ---- identities (§8.5) -----------------------------------------------------------
    def identity(self, ident: Identity) -> None:
        c = self.c
        measures = [ident.lhs, *(m for m, _ in ident.rhs)]
        scope = c.isin("measure", measures)
        if not scope.any():
            return
        gk = c.key([f for f in FIXED if f != "measure"])
        size = int(gk.max()) + 1
        idx = {
            m: _index(gk, np.flatnonzero(scope & (c.col["measure"] == m)), size)
            for m in measures
        }
        has_rhs = np.any([idx[m] >= 0 for m, _ in ident.rhs], axis=0)
        items = np.flatnonzero((idx[ident.lhs] >= 0) & has_rhs)
        if not len(items):
            return
        li = idx[ident.lhs][items]
        ri = [(idx[m][items], k) for m, k in ident.rhs]
        safe = [np.maximum(r, 0) for r, _ in ri]
        st = [
            np.where(r >= 0, c.state[s], _ABSENT)
            for (r, _), s in zip(ri, safe, strict=True)
        ]
        lst = c.state[li]
        exempt = np.zeros(len(items), dtype=bool)
        for exc in ident.known_exceptions:
            hit = np.ones(len(items), dtype=bool)
            for col, codes in exc.items():
                hit &= np.isin(c.col[col][li], list(codes))
            exempt |= hit
        rhs_ok = np.all([(s == VALUE) | (s == ZERO) for s in st], axis=0)
        ready = (lst == VALUE) & rhs_ok & ~exempt
        mism = np.any(
            [
                (s == VALUE) & (c.unit[x] != c.unit[li])
                for s, x in zip(st, safe, strict=True)
            ],
            axis=0,
        )
        evaluate = ready & ~mism
        for k in np.flatnonzero(ready & mism):
            self.units_differ(
                int(li[k]), [int(r[k]) for r, _ in ri if r[k] >= 0], ident.name
            )
        self.count("units_differ", passes=int(evaluate.sum()))

        # suppressed_cell_derivable: one suppressed term, every other term published
        n_supp = (lst == SUPPRESSED).astype(int) + np.sum(
            [s == SUPPRESSED for s in st], axis=0
        )
        n_known = (lst == VALUE).astype(int) + np.sum(
            [(s == VALUE) | (s == ZERO) for s in st], axis=0
        )
        derivable = (n_supp == 1) & (n_known == len(measures) - 1) & ~exempt & ~mism
        self.count(
            "suppressed_cell_derivable", passes=int(((n_supp > 0) & ~derivable).sum())
        )
        for k in np.flatnonzero(derivable):
            cells = [int(li[k]), *(int(r[k]) for r, _ in ri)]
            cell = next(t for t in cells if c.state[t] == SUPPRESSED)
            self.mark_derivable(
                cell,
                f"{ident.name} ({self.identity_text(ident)})",
                [t for t in cells if t != cell],
            )

        diff = c.base[li] - np.sum(
            [
                k * np.where(r >= 0, c.base[x], 0.0)
                for (r, k), x in zip(ri, safe, strict=True)
            ],
            axis=0,
        )
        units = c.ulp[li] + np.sum(
            [
                np.where(r >= 0, c.ulp[x], 0.0)
                for (r, _), x in zip(ri, safe, strict=True)
            ],
            axis=0,
        )
        magnitude = np.abs(c.base[li]) + np.sum(
            [
                np.abs(np.where(r >= 0, c.base[x], 0.0))
                for (r, _), x in zip(ri, safe, strict=True)
            ],
            axis=0,
        )
        tol = float(ident.tolerance.rounding) * units + float(
            ident.tolerance.relative
        ) * np.abs(c.base[li])
        clear = self.clear(diff, tol, magnitude, two_sided=True)
        self.count(
            ident.name, passes=int((evaluate & clear).sum()), na=int((~evaluate).sum())
        )
        for k in np.flatnonzero(evaluate & ~clear):
            anchor = int(li[k])
            terms = [(int(r[k]), kk) for r, kk in ri if r[k] >= 0]
            judged = self.exact(
                [anchor], terms, ident.tolerance, anchor, two_sided=True
            )
            if judged.ok:
                self.count(ident.name, passes=1)
                continue
            others = [t for t, _ in terms]
            self.fail(
                ident.name,
                anchor,
                f"{ident.lhs} {self.show(judged.lhs, anchor)} ≠ "
                f"{self.identity_text(ident, rhs_only=True)} = "
                f"{self.show(judged.rhs, anchor)} ({self.rows_text(others)}; "
                "difference "
                f"{self.show(judged.lhs - judged.rhs, anchor)}, tolerance "
                f"{self.show(judged.tolerance, anchor)}"
                f"{self.scale_note(anchor, others)})",
            )

    @staticmethod
    def identity_text(ident: Identity, rhs_only: bool = False) -> str:
        """``P1 − P2`` (or ``B1G = P1 − P2``)."""
        parts = []
        for j, (m, k) in enumerate(ident.rhs):
            sign = "− " if k < 0 else ("" if j == 0 else "+ ")
            parts.append(f"{sign}{m}")
        rhs = " ".join(parts)
        return rhs if rhs_only else f"{ident.lhs} = {rhs}"

    # ---- hierarchies (§8.6) ----------------------------------------------------------
    def hierarchy(self, h: Hierarchy) -> None:
        c = self.c
        checked = c.isin(
            "measure", (self.s.additive | self.s.distinct) - self.s.not_checked
        )
        if h.measures is not None:
            checked &= c.isin("measure", h.measures)
        if not checked.any():
            return
        gk = c.key([f for f in FIXED if f != h.dimension], h.key_equivalents)
        values = c.col[h.dimension]
        for rel in h.relations:
            if rel.children_from == "present_codes":
                # one level at a time, so that NUTS 1 and NUTS 2 are never summed
                # together
                codes, uniques = c.codes(h.dimension)
                level = np.array([region_level(u) for u in uniques], dtype=np.int64)[
                    codes
                ]
                shared = (values == rel.parent) | (level == 0)
                for lv in np.unique(level[checked & (level > 0)]):
                    self.relation(
                        h, rel, rel.children, checked & (shared | (level == lv)), gk
                    )
            elif rel.if_absent_code is None:
                self.relation(h, rel, rel.children, checked, gk)
            else:
                has = np.zeros(int(gk.max()) + 1, dtype=bool)
                has[gk[checked & (values == rel.if_absent_code)]] = True
                present = has[gk]
                self.relation(h, rel, rel.children, checked & present, gk)
                plain = dataclasses.replace(rel, children_from=None)
                self.relation(h, plain, rel.if_absent_children, checked & ~present, gk)

    def children_of(
        self,
        h: Hierarchy,
        rel: HierarchyRelation,
        children: Sequence[str],
        scope: BoolArray,
    ) -> tuple[BoolArray, BoolArray, IntArray, BoolArray]:
        """Child rows, the required ones among them, and per row the number of
        required children and whether equality may be checked at all."""
        c = self.c
        values = c.col[h.dimension]
        n = c.n
        if rel.children_from == "registered_subgroups":
            area, group = c.col["ref_area"], c.col["sse_entity"]
            pair = pd.Series(area + "\x1f" + group, dtype=object)
            registered = {
                f"{g.ref_area}\x1f{g.group}\x1f{g.id}" for g in self.s.subgroups
            }
            child = scope & (pair + "\x1f" + values).isin(registered).to_numpy(
                dtype=bool
            )
            per_group: dict[str, int] = {}
            exhaustive: dict[str, bool] = {}
            for g in self.s.subgroups:
                key = f"{g.ref_area}\x1f{g.group}"
                per_group[key] = per_group.get(key, 0) + 1
                exhaustive[key] = exhaustive.get(key, True) and g.exhaustive
            n_req = pair.map(per_group).fillna(0).to_numpy(dtype=np.int64)
            allowed = pair.map(exhaustive).fillna(False).to_numpy(dtype=bool)
            return child, child.copy(), n_req, allowed
        zero_codes = {z.code for z in h.zero_if_absent}
        if rel.children_from == "present_codes":
            child = scope & ~c.isin(h.dimension, (rel.parent, "_Z", ""))
            required = np.zeros(n, dtype=bool)
            n_req = np.zeros(n, dtype=np.int64)
            allowed = np.zeros(n, dtype=bool)
            area = c.col["ref_area"]
            for ref_area, codes in h.complete_regions.items():
                here = area == ref_area
                needed = codes - zero_codes
                allowed |= here
                n_req[here] = len(needed)
                required |= here & c.isin(h.dimension, needed)
            return child, required & child, n_req, allowed
        child = scope & c.isin(h.dimension, children)
        required = child.copy()
        n_req = np.full(n, len(children), dtype=np.int64)
        for z in h.zero_if_absent:
            if z.code not in children:
                continue
            zero_here = (
                z.applies(c.col[z.column]) if z.column else np.ones(n, dtype=bool)
            )
            n_req -= zero_here.astype(np.int64)
            required &= ~(zero_here & (values == z.code))
        return child, required, n_req, np.ones(n, dtype=bool)

    def relation(
        self,
        h: Hierarchy,
        rel: HierarchyRelation,
        children: Sequence[str],
        scope: BoolArray,
        gk: IntArray,
    ) -> None:
        """One parent and its children, for every combination of the fixed "
        "components."""
        c = self.c
        dim, parent = h.dimension, rel.parent
        values = c.col[dim]
        size = int(gk.max()) + 1
        is_parent = scope & c.eq(dim, parent)
        if not is_parent.any():
            return
        child, required, n_req_rows, allowed_rows = self.children_of(
            h, rel, children, scope
        )
        ci = np.flatnonzero(child)
        if not len(ci):
            return
        cg = gk[ci]
        cst = c.state[ci]
        ok = (cst == VALUE) | (cst == ZERO)
        parent_rows = _index(gk, np.flatnonzero(is_parent), size)
        parent_unit = np.where(parent_rows >= 0, c.unit[np.maximum(parent_rows, 0)], -1)

        def tally(weights: npt.ArrayLike | None = None) -> FloatArray:
            return np.bincount(cg, weights=weights, minlength=size).astype(float)

        n_rows, n_ok, n_value = tally(), tally(ok), tally(cst == VALUE)
        n_req_ok = tally(ok & required[ci])
        n_block, n_supp = tally(~ok), tally(cst == SUPPRESSED)
        n_req_supp = tally((cst == SUPPRESSED) & required[ci])
        total, units = tally(c.base[ci]), tally(c.ulp[ci])
        size_sum = tally(np.abs(c.base[ci]))
        mism = tally((cst == VALUE) & (c.unit[ci] != parent_unit[cg]))
        biggest = np.full(size, -1, dtype=np.int64)  # the child with the largest value
        valued = ci[cst == VALUE]
        if len(valued):
            ordered = valued[np.lexsort((-c.base[valued], gk[valued]))]
            biggest = _index(gk, ordered, size)

        groups = np.flatnonzero((parent_rows >= 0) & (n_rows > 0))
        if not len(groups):
            return
        pi = parent_rows[groups]
        pst = c.state[pi]
        n_req = n_req_rows[pi]
        allowed = allowed_rows[pi]
        complete = (
            allowed & (n_req > 0) & (n_req_ok[groups] == n_req) & (n_block[groups] == 0)
        )
        measure = c.col["measure"][pi]
        bounds = np.isin(measure, list(self.s.distinct)) & (
            dim not in self.s.distinct_equal_across
        )
        equality = ~bounds
        non_negative = np.isin(measure, list(self.s.non_negative))
        bad_units = mism[groups] > 0
        tol = self.s.hierarchy_tolerance
        rounding, relative = float(tol.rounding), float(tol.relative)
        sorter = np.argsort(cg, kind="stable")
        sorted_groups = cg[sorter]

        def members(k: int) -> list[int]:
            lo, hi = np.searchsorted(sorted_groups, [groups[k], groups[k] + 1])
            return [int(i) for i in ci[sorter[lo:hi]]]

        compared = (pst == VALUE) & (n_value[groups] > 0)
        for k in np.flatnonzero(compared & bad_units):
            self.units_differ(int(pi[k]), members(int(k)), h.name, dim)
        self.count("units_differ", passes=int((compared & ~bad_units).sum()))

        # equality: additive measures, and distinct counts along SEX and MEMBER_TYPE
        evaluate = equality & (pst == VALUE) & complete & ~bad_units
        diff = c.base[pi] - total[groups]
        tol_all = rounding * (c.ulp[pi] + units[groups]) + relative * np.abs(c.base[pi])
        magnitude = np.abs(c.base[pi]) + size_sum[groups]
        clear = self.clear(diff, tol_all, magnitude, two_sided=True)
        self.count(
            h.name,
            passes=int((evaluate & clear).sum()),
            na=int((equality & ~evaluate).sum()),
        )
        for k in np.flatnonzero(evaluate & ~clear):
            anchor, kids = int(pi[k]), members(int(k))
            judged = self.exact(
                [anchor], [(i, 1) for i in kids], tol, anchor, two_sided=True
            )
            if judged.ok:
                self.count(h.name, passes=1)
            else:
                self.hierarchy_fail(h.name, dim, anchor, kids, judged, "≠", "")

        # suppressed_cell_derivable: the parent, or one child, is the only empty term
        from_parent = equality & (pst == SUPPRESSED) & complete & ~bad_units
        from_child = (
            equality
            & (pst == VALUE)
            & allowed
            & (n_req > 0)
            & ~bad_units
            & (n_block[groups] == 1)
            & (n_supp[groups] == 1)
            & (n_req_ok[groups] + n_req_supp[groups] == n_req)
        )
        with_supp = (pst == SUPPRESSED) | (n_supp[groups] > 0)
        self.count(
            "suppressed_cell_derivable",
            passes=int((with_supp & ~from_parent & ~from_child).sum()),
        )
        for k in np.flatnonzero(from_parent | from_child):
            anchor, kids = int(pi[k]), members(int(k))
            cell = (
                anchor
                if from_parent[k]
                else next(i for i in kids if c.state[i] == SUPPRESSED)
            )
            names = " + ".join(str(values[i]) for i in kids)
            self.mark_derivable(
                cell,
                f"{h.name} ({measure[k]}: {dim.upper()} {parent} = {names})",
                [t for t in (anchor, *kids) if t != cell],
            )

        # parts_not_above_total, where equality was not checked
        parts_scope = equality & ~evaluate & non_negative & h.parts
        parts = parts_scope & (pst == VALUE) & (n_ok[groups] > 0) & ~bad_units
        clear = self.clear(
            total[groups] - c.base[pi], tol_all, magnitude, two_sided=False
        )
        self.count(
            "parts_not_above_total",
            passes=int((parts & clear).sum()),
            na=int((parts_scope & ~parts).sum()),
        )
        for k in np.flatnonzero(parts & ~clear):
            anchor = int(pi[k])
            kids = [i for i in members(int(k)) if c.state[i] in (VALUE, ZERO)]
            judged = self.exact(kids, [(anchor, 1)], tol, anchor, two_sided=False)
            if judged.ok:
                self.count("parts_not_above_total", passes=1)
            else:
                swapped = _Judged(False, judged.rhs, judged.lhs, judged.tolerance)
                self.hierarchy_fail(
                    "parts_not_above_total",
                    dim,
                    anchor,
                    kids,
                    swapped,
                    "<",
                    " (the children present)",
                )

        # distinct_count_bounds: max(child) ≤ parent (always) ≤ Σ children (when
        # complete)
        lower = bounds & (pst == VALUE) & (n_value[groups] > 0) & ~bad_units
        top = np.maximum(biggest[groups], 0)
        tol_top = rounding * (c.ulp[pi] + c.ulp[top]) + relative * np.abs(c.base[pi])
        low_clear = self.clear(
            c.base[top] - c.base[pi],
            tol_top,
            np.abs(c.base[pi]) + np.abs(c.base[top]),
            two_sided=False,
        )
        upper = lower & complete
        up_clear = self.clear(diff, tol_all, magnitude, two_sided=False)
        clear_both = lower & low_clear & (~upper | up_clear)
        self.count(
            "distinct_count_bounds",
            passes=int(clear_both.sum()),
            na=int((bounds & ~lower).sum()),
        )
        for k in np.flatnonzero(lower & ~clear_both):
            anchor, kids, big = int(pi[k]), members(int(k)), int(top[k])
            judged = self.exact([big], [(anchor, 1)], tol, anchor, two_sided=False)
            if not judged.ok:
                self.fail(
                    "distinct_count_bounds",
                    anchor,
                    f"{measure[k]}, {dim.upper()} {parent} "
                    f"{self.show(judged.rhs, anchor)}"
                    f" < {values[big]} {self.show(judged.lhs, anchor)}: a distinct "
                    "count "
                    f"is at least its largest part ({self.rows_text([big])}; "
                    "difference "
                    f"{self.show(judged.rhs - judged.lhs, anchor)}, tolerance "
                    f"{self.show(judged.tolerance, anchor)})",
                )
                continue
            if upper[k]:
                judged = self.exact(
                    [anchor], [(i, 1) for i in kids], tol, anchor, False
                )
                if not judged.ok:
                    self.hierarchy_fail(
                        "distinct_count_bounds",
                        dim,
                        anchor,
                        kids,
                        judged,
                        ">",
                        ": a distinct count is at most the sum of its parts",
                    )
                    continue
            self.count("distinct_count_bounds", passes=1)

    def hierarchy_fail(
        self,
        rule: str,
        dim: str,
        anchor: int,
        kids: Sequence[int],
        judged: _Judged,
        sign: str,
        note: str,
    ) -> None:
        c = self.c
        names = [
            str(c.col[dim][i]) + (" (M)" if c.state[i] == ZERO else "") for i in kids
        ]
        self.fail(
            rule,
            anchor,
            f"{c.col['measure'][anchor]}, {dim.upper()} {c.col[dim][anchor]} "
            f"{self.show(judged.lhs, anchor)} {sign} {' + '.join(names)} = "
            f"{self.show(judged.rhs, anchor)}{note} ({self.rows_text(kids)}; "
            "difference "
            f"{self.show(judged.lhs - judged.rhs, anchor)}, tolerance "
            f"{self.show(judged.tolerance, anchor)}{self.scale_note(anchor, kids)})",
        )

    # ---- pairs of cells --------------------------------------------------------------
    def pairs(
        self,
        rule: str,
        ai: IntArray,
        bi: IntArray,
        *,
        factor: Decimal = Decimal(1),
        rounding: bool = True,
        check_units: bool = True,
        describe: Callable[[int, int, _Judged], str],
    ) -> None:
        """``a ≤ factor × b`` for matched rows (finding on ``a``); ``bi`` −1 = no "
        "partner."""
        c = self.c
        ai, bi = ai[bi >= 0], bi[bi >= 0]
        if not len(ai):
            return
        ready = (c.state[ai] == VALUE) & (c.state[bi] == VALUE)
        bad_units = (
            ready & (c.unit[ai] != c.unit[bi])
            if check_units
            else np.zeros(len(ai), dtype=bool)
        )
        for k in np.flatnonzero(bad_units):
            self.units_differ(int(ai[k]), [int(bi[k])], rule)
        evaluate = ready & ~bad_units
        if check_units:
            self.count("units_differ", passes=int(evaluate.sum()))
        f = float(factor)
        tol = Tolerance(Decimal("0.5") if rounding else Decimal(0), Decimal(0))
        band = float(tol.rounding) * (c.ulp[ai] + f * c.ulp[bi])
        clear = self.clear(
            c.base[ai] - f * c.base[bi],
            band,
            np.abs(c.base[ai]) + f * np.abs(c.base[bi]),
            two_sided=False,
        )
        self.count(
            rule, passes=int((evaluate & clear).sum()), na=int((~evaluate).sum())
        )
        for k in np.flatnonzero(evaluate & ~clear):
            a, b = int(ai[k]), int(bi[k])
            judged = self.exact([a], [(b, 1)], tol, a, two_sided=False, factor=factor)
            if judged.ok:
                self.count(rule, passes=1)
            else:
                self.fail(rule, a, describe(a, b, judged))

    def partner(
        self, part: BoolArray, whole: BoolArray, columns: Sequence[str]
    ) -> tuple[IntArray, IntArray]:
        """Rows of ``part`` and, for each, the ``whole`` row equal on ``columns``."""
        gk = self.c.key(columns)
        wi = _index(gk, np.flatnonzero(whole), int(gk.max()) + 1)
        ai = np.flatnonzero(part)
        return ai, wi[gk[ai]]

    # ---- sse_not_above_national (§8.3) -----------------------------------------------
    def sse_not_above_national(self) -> None:
        c = self.c
        scope = c.isin("measure", self.s.non_negative)
        entity = c.col["sse_entity"]
        columns = [
            f
            for f in FIXED
            if f not in ("sse_entity", "sse_entity_nat", "coop_type", "coop_level")
        ]

        def describe(a: int, b: int, j: _Judged) -> str:
            nat = c.col["sse_entity_nat"][a]
            who = entity[a] + (f" {nat}" if nat not in ("_T", "_Z", "") else "")
            return (
                f"{c.col['measure'][a]} {self.show(j.lhs, a)} of {who} is above the "
                f"national economy's {self.show(j.rhs, a)} (NATECON, "
                f"{self.rows_text([b])};"
                f" difference {self.show(j.lhs - j.rhs, a)}, tolerance "
                f"{self.show(j.tolerance, a)})"
            )

        national = c.eq("sse_entity", "NATECON")
        ai, bi = self.partner(
            scope & ~national & ~c.eq("sse_entity", ""), scope & national, columns
        )
        self.pairs("sse_not_above_national", ai, bi, describe=describe)

    # ---- plausibility (§8.7) ---------------------------------------------------------
    def fte_not_above_persons(self) -> None:
        c = self.c
        rule = "fte_not_above_persons"
        ratio = self.kwarg(rule, "ratio", "1.1")
        measure = c.col["measure"]
        gk = c.key([f for f in FIXED if f != "measure"])
        size = int(gk.max()) + 1
        valued = c.state == VALUE

        def first(m: str, only_valued: bool) -> IntArray:
            return _index(
                gk, np.flatnonzero((measure == m) & (valued | ~only_valued)), size
            )

        # EMP_FTE against EMP_PS, or EMP_JOBS where EMP_PS has no value; VOL_FTE
        # against VOL_PS
        emp = first("EMP_PS", True)
        for fallback in (first("EMP_JOBS", True), first("EMP_PS", False)):
            emp = np.where(emp >= 0, emp, fallback)
        vol = first("VOL_PS", False)

        def describe(a: int, b: int, j: _Judged) -> str:
            what = "jobs" if measure[b] == "EMP_JOBS" else "persons"
            return (
                f"{measure[a]} {self.show(j.lhs, a)} > {ratio} × {measure[b]} "
                f"{c.text[b]} = {self.show(j.rhs, a)} ({self.rows_text([b])}): "
                f"more full-time equivalents than {ratio} × {what} is unusual"
            )

        for fte, partner in (("EMP_FTE", emp), ("VOL_FTE", vol)):
            ai = np.flatnonzero(measure == fte)
            self.pairs(
                rule,
                ai,
                partner[gk[ai]],
                factor=ratio,
                rounding=False,
                check_units=False,
                describe=describe,
            )

    def members_not_above_memberships(self) -> None:
        c = self.c

        def describe(a: int, b: int, j: _Judged) -> str:
            return (
                f"N_MEMBERS {self.show(j.lhs, a)} > N_MEMBERSHIPS "
                f"{self.show(j.rhs, a)} "
                f"({self.rows_text([b])}; difference {self.show(j.lhs - j.rhs, a)}, "
                f"tolerance {self.show(j.tolerance, a)}): every member holds a "
                "membership"
            )

        ai, bi = self.partner(
            c.eq("measure", "N_MEMBERS"),
            c.eq("measure", "N_MEMBERSHIPS"),
            [f for f in FIXED if f != "measure"],
        )
        self.pairs("members_not_above_memberships", ai, bi, describe=describe)

    def active_not_above_registered(self) -> None:
        c = self.c
        units = c.eq("measure", "N_UNITS")

        def describe(a: int, b: int, j: _Judged) -> str:
            return (
                f"N_UNITS ACTIVE {self.show(j.lhs, a)} > REGISTERED "
                f"{self.show(j.rhs, a)} "
                f"({self.rows_text([b])}; difference {self.show(j.lhs - j.rhs, a)}, "
                f"tolerance {self.show(j.tolerance, a)})"
            )

        ai, bi = self.partner(
            units & c.eq("unit_state", "ACTIVE"),
            units & c.eq("unit_state", "REGISTERED"),
            [f for f in FIXED if f != "unit_state"],
        )
        self.pairs("active_not_above_registered", ai, bi, describe=describe)

    def avg_compensation_plausible(self) -> None:
        c = self.c
        rule = "avg_compensation_plausible"
        low, high = (
            float(self.kwarg(rule, "low", "0.3")),
            float(self.kwarg(rule, "high", "2.0")),
        )
        measure, sex, work = c.col["measure"], c.col["sex"], c.col["work_cat"]
        gk = c.key([f for f in FIXED if f not in ("measure", "sex", "work_cat")])
        size = int(gk.max()) + 1
        d1 = _index(gk, np.flatnonzero(measure == "D1"), size)
        fte = np.full(size, -1, dtype=np.int64)
        for cat_code in (
            "EMP",
            "_T",
        ):  # paid employment; total employment if no EMP row
            rows = np.flatnonzero(
                (measure == "EMP_FTE") & (sex == "_T") & (work == cat_code)
            )
            fte = np.where(fte >= 0, fte, _index(gk, rows, size))
        groups = np.flatnonzero((d1 >= 0) & (fte >= 0))
        if not len(groups):
            return
        di, fi = d1[groups], fte[groups]
        valid = (c.state[di] == VALUE) & (c.state[fi] == VALUE) & (c.base[fi] > 0)
        ratio = np.full(len(groups), np.nan)
        ratio[valid] = c.base[di[valid]] / c.base[fi[valid]]
        national = c.key(
            (
                "ref_area",
                "region",
                "time_period",
                "freq",
                "activity",
                "inst_sector",
                "edition",
            )
        )
        nk = national[di]
        is_nat = c.col["sse_entity"][di] == "NATECON"
        nat_pos = _index(nk, np.flatnonzero(is_nat), int(national.max()) + 1)
        items = np.flatnonzero(~is_nat & (nat_pos[nk] >= 0))
        if not len(items):
            return
        npos = nat_pos[nk[items]]
        own, nat_ratio = ratio[items], ratio[npos]
        ready = np.isfinite(own) & np.isfinite(nat_ratio) & (nat_ratio > 0)
        bad_units = ready & (c.unit[di[items]] != c.unit[di[npos]])
        for k in np.flatnonzero(bad_units):
            self.units_differ(int(di[items[k]]), [int(di[npos[k]])], rule)
        evaluate = ready & ~bad_units
        self.count("units_differ", passes=int(evaluate.sum()))
        share = np.ones(len(items))
        share[evaluate] = own[evaluate] / nat_ratio[evaluate]
        inside = (share >= low) & (share <= high)
        self.count(
            rule, passes=int((evaluate & inside).sum()), na=int((~evaluate).sum())
        )
        for k in np.flatnonzero(evaluate & ~inside):
            g, ng = items[k], npos[k]
            self.fail(
                rule,
                int(di[g]),
                f"D1 / EMP_FTE (WORK_CAT {work[fi[g]]}) = {own[k]:,.0f} "
                f"{c.unit_text[di[g]]} per FTE is {share[k]:.0%} of the national "
                f"economy's {nat_ratio[k]:,.0f} "
                f"({self.rows_text([int(fi[g]), int(di[ng]), int(fi[ng])])}), outside "
                f"{low:.0%}–{high:.0%}",
            )

    def nonmarket_surplus_near_cfc(self) -> None:
        c = self.c
        rule = "nonmarket_surplus_near_cfc"
        share = self.kwarg(rule, "nonmarket_share", "0.5")
        threshold = self.kwarg(rule, "threshold", "0.05")
        measure = c.col["measure"]
        gk = c.key([f for f in FIXED if f != "measure"])
        size = int(gk.max()) + 1
        idx = {
            m: _index(gk, np.flatnonzero(measure == m), size)
            for m in ("B2G_B3G", "P51C", "P1", "P13")
        }
        groups = np.flatnonzero(
            (idx["B2G_B3G"] >= 0) & (idx["P1"] >= 0) & (idx["P13"] >= 0)
        )
        if not len(groups):
            return
        b2, p1, p13, cfc = (idx[m][groups] for m in ("B2G_B3G", "P1", "P13", "P51C"))
        cfc_safe = np.maximum(cfc, 0)
        terms = (b2, p1, p13, cfc_safe)
        ready = np.all([c.state[t] == VALUE for t in terms], axis=0) & (cfc >= 0)
        same = np.all([c.unit[t] == c.unit[b2] for t in terms], axis=0)
        for k in np.flatnonzero(ready & ~same):
            self.units_differ(int(b2[k]), [int(t[k]) for t in terms[1:]], rule)
        self.count("units_differ", passes=int((ready & same).sum()))
        nonmarket = c.base[p13] > float(share) * c.base[p1]
        evaluate = ready & same & nonmarket
        near = np.abs(c.base[b2] - c.base[cfc_safe]) <= float(threshold) * np.abs(
            c.base[p1]
        )
        self.count(rule, passes=int((evaluate & near).sum()), na=int((~evaluate).sum()))
        for k in np.flatnonzero(evaluate & ~near):
            a = int(b2[k])
            gap = abs(c.exact(a) - c.exact(int(cfc[k])))
            limit = threshold * abs(c.exact(int(p1[k])))
            self.fail(
                rule,
                a,
                f"P13 is {c.base[p13[k]] / c.base[p1[k]]:.0%} of P1 (non-market "
                "output, "
                f"valued at cost), but |B2G_B3G − P51C| = {self.show(gap, a)} is above "
                f"{threshold} × P1 = {self.show(limit, a)} "
                f"({self.rows_text([int(t[k]) for t in terms[1:]])})",
            )

    def secondary_coop_members_are_coops(self) -> None:
        c = self.c
        rule = "secondary_coop_members_are_coops"
        scope = c.isin("measure", ("N_MEMBERS", "N_MEMBERSHIPS")) & c.isin(
            "coop_level", ("SECONDARY", "TERTIARY")
        )
        person = scope & c.eq("member_type", "PERSON")
        known = (c.state == VALUE) | (c.state == ZERO)
        bad = person & (c.state == VALUE) & (c.base > 0)
        self.count(
            rule,
            passes=int((scope & ~bad & (known | ~person)).sum()),
            na=int((person & ~known).sum()),
        )
        for i in np.flatnonzero(bad):
            self.fail(
                rule,
                int(i),
                f"{c.col['coop_level'][i]} cooperatives report {c.text[i]} "
                f"{c.col['measure'][i]} of MEMBER_TYPE PERSON; the members of "
                "secondary "
                "and tertiary cooperatives are cooperatives (MEMBER_TYPE COOP)",
            )

    def coop_work_category_outside_coops(self) -> None:
        c = self.c
        rule = "coop_work_category_outside_coops"
        scope = c.isin(
            "work_cat",
            ("WORKER_MEMBER", "PRODUCER_MEMBER_SCOPE", "DEP_CONTRACTOR_SCOPE"),
        )
        bad = scope & ~c.isin("sse_entity", ("COOP", "_T"))
        self.count(rule, passes=int((scope & ~bad).sum()))
        column = self.origins.get("WORK_CAT", "WORK_CAT")
        for i in np.flatnonzero(bad):
            self.fail(
                rule,
                int(i),
                f"WORK_CAT {c.col['work_cat'][i]} is a cooperative work category but "
                f"SSE_ENTITY is {c.col['sse_entity'][i]} (only COOP or _T)",
                column=column,
                value=str(c.col["work_cat"][i]),
                on_value=False,
            )

    def volunteer_value_has_method(self) -> None:
        c = self.c
        rule = "volunteer_value_has_method"
        scope = c.eq("measure", "VOL_VALUE") & (c.state == VALUE)
        bad = scope & c.eq("valuation_method", "")
        self.count(rule, passes=int((scope & ~bad).sum()))
        column = self.origins.get("VALUATION_METHOD", "VALUATION_METHOD")
        for i in np.flatnonzero(bad):
            self.fail(
                rule,
                int(i),
                f"VOL_VALUE {c.text[i]} has no VALUATION_METHOD (e.g. "
                "REPLACEMENT_COST)",
                column=column,
                value=None,
                on_value=False,
            )

    # ---- disclosure (§10) ------------------------------------------------------------
    def small_cell_not_flagged(self) -> None:
        """A published magnitude cell with N_UNITS of 1 or 2 in the same cell."""
        c = self.c
        rule = "small_cell_not_flagged"
        spec = self.cat[rule].kwargs
        below = float(spec.get("sensitive_below", 3))
        count = str(spec.get("count_measure", "N_UNITS"))
        cell = [str(x) for x in spec.get("cell", DIMENSIONS[:10])]
        ignored = [str(x) for x in spec.get("ignore_unit_states", ["INACTIVE"])]
        not_magnitude = [
            str(m) for m in spec.get("not_magnitudes", [count, "SHARE_NAT"])
        ]
        gk = c.key([*cell, "edition"])
        size = int(gk.max()) + 1
        counted = c.eq("measure", count) & (c.state == VALUE)
        counted &= ~c.isin("unit_state", ignored)
        has_units = np.zeros(size, dtype=bool)
        has_units[gk[counted]] = True
        few = counted & (c.base >= 1) & (c.base < below)
        small = _index(gk, np.flatnonzero(few), size)
        items = ~c.isin("measure", not_magnitude) & (c.state == VALUE) & has_units[gk]
        bad = items & (small[gk] >= 0)
        self.count(rule, passes=int((items & ~bad).sum()))
        for i in np.flatnonzero(bad):
            u = int(small[gk[i]])
            state = f" {c.col['unit_state'][u]}" if c.col["unit_state"][u] else ""
            self.fail(
                rule,
                int(i),
                f"{c.col['measure'][i]} {c.text[i]} is published (CONF_STATUS "
                f"{c.col['conf_status'][i] or 'F'}) but the cell has "
                f"{c.text[u]}{state} units ({count}, {self.rows_text([u])}); a cell "
                "of fewer than "
                f"{below:.0f} units discloses them",
            )


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def relation_rules(schemas: RelationSchemas) -> tuple[str, ...]:
    """Every rule :func:`check_relations` counts, in a stable order."""
    return (
        *(i.name for i in schemas.identities),
        *(h.name for h in schemas.hierarchies),
        *OTHER_RULES,
        *PLAUSIBILITY_RULES,
    )


def check_relations(
    frame: pd.DataFrame,
    *,
    catalogue: RuleCatalogue,
    schemas_dir: Path,
    file: str,
    origins: Mapping[str, str] | None = None,
) -> RelationsResult:
    """Evaluate every rule spanning several observations of one harmonised frame.

    Args:
        frame: the harmonised frame of one submission (docs/architecture.md).
        catalogue: the rule catalogue; every finding is built through it.
        schemas_dir: the ``schemas/`` folder (identities, hierarchies, the
            registered national subgroups).
        file: the submitted file's name, for the findings.
        origins: template component → the submitted column it came from, for
            findings about a component other than the value (default: the
            template IDs).

    Returns:
        The findings (fails only, sorted by row) and, for each rule, the
        counts (passes, fails, not_applicable). A rule that crashes becomes an
        error finding on that rule (row null); the other rules still run.

    Raises:
        SchemaFileError: a schema file is missing or malformed.

    Examples:
        >>> from sse_stats.settings import PROJECT_ROOT
        >>> from sse_stats.validate.catalogue import load_rules
        >>> empty = pd.DataFrame(columns=[*FIXED, "obs_value", "obs_value_text",
        ...     "unit_mult", "source_row", "source_column", "obs_status", "conf_status",
        ...     "unit_measure", "currency", "valuation_method"])
        >>> schemas = PROJECT_ROOT / "schemas"
        >>> rules = load_rules(schemas / "rules")
        >>> check_relations(empty, catalogue=rules, schemas_dir=schemas,
        ...                 file="x.csv").findings
        []
    """
    schemas = cached_relation_schemas(schemas_dir)
    run = _Run(_Cells(frame, schemas), schemas, catalogue, file, origins or {})
    for rule in relation_rules(schemas):
        run.count(rule)
    if run.c.n == 0:
        return RelationsResult(
            [], {k: (v[0], v[1], v[2]) for k, v in run.counts.items()}
        )
    steps: list[tuple[str, Callable[[], None]]] = [
        *((i.name, _bind(run.identity, i)) for i in schemas.identities),
        *((h.name, _bind(run.hierarchy, h)) for h in schemas.hierarchies),
        ("sse_not_above_national", run.sse_not_above_national),
        *((name, getattr(run, name)) for name in PLAUSIBILITY_RULES),
        ("small_cell_not_flagged", run.small_cell_not_flagged),
    ]
    crashed: list[str] = []
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # a crashing rule is a finding; the others still run
            crashed.append(name)
            finding = catalogue.finding(
                name,
                file=file,
                row=None,
                column=None,
                value=None,
                detail=f"the rule could not be evaluated ({type(exc).__name__}: {exc})",
            )
            run.findings.append(dataclasses.replace(finding, severity="error"))
    findings = sorted(run.findings, key=lambda f: (f.row is None, f.row or 0, f.rule))
    outcomes = {k: (v[0], v[1], v[2]) for k, v in run.counts.items()}
    return RelationsResult(findings, outcomes, crashed)


def _bind(method: Callable[[Any], None], arg: Any) -> Callable[[], None]:
    return lambda: method(arg)
