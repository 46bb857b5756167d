"""Disclosure control of satellite tables (schema.md §10): flags follow values.

Two duties:

* **Flags follow values** (§9.1 rules 4-5, §10 rule 1). A derived cell takes the
  flag of its inputs by the precedence of ``schemas/tables/_common.yaml``
  (:func:`derived_status`); a derived cell with a confidential input is published
  empty with ``OBS_STATUS = Q``, ``CONF_STATUS = S``; a suppressed cell is never
  re-derived from its margins.
* **Secondary suppression** (§10 rules 2-3), :func:`protect_tables`. Every
  relation among the published cells of all tables of one country is examined:
  the hierarchies and identities of ``schemas/harmonised/`` and the formulas of
  the shells. Where a relation has exactly one suppressed cell, a second one is
  suppressed (the smallest non-zero published sibling, never the total unless
  nothing else can hide it), and this repeats until no relation exposes a
  suppressed cell. A cell shared by several tables is suppressed in all of them.

The interim heuristic is **[settled for v1]**; τ-Argus or ``GaussSuppression``
are **[open]** (schema.md §13 #13). Frequency, dominance and p % rules need
contributor data and are not applied here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from sse_stats.accounts.cells import (
    SECONDARY,
    SUPPRESSED_STATUS,
    Cell,
    Key,
    derivation_inputs,
    has_value,
    is_suppressed,
    key_of,
    level_of,
    records_of,
)
from sse_stats.accounts.shells import (
    KEY_COLUMNS,
    LinearDerivation,
    RatioDerivation,
    Relation,
    ShellContext,
    TableShell,
)
from sse_stats.accounts.units import base_value
from sse_stats.errors import UsageError

NOTE_SECONDARY = "Secondary suppression (schema.md §10)"
NOTE_DERIVED_FROM_SUPPRESSED = "Suppressed: computed from a confidential cell"
_DEFAULT_STATUS = "A"


def derived_status(statuses: Iterable[object], precedence: Sequence[str]) -> str:
    """The ``OBS_STATUS`` of a derived cell: its inputs' first flag by precedence.

    Empty statuses read as ``A``; a flag missing from the precedence list ranks
    just before ``A``.

    Examples:
        >>> order = ["Q", "M", "L", "O", "K", "B", "D", "U", "E", "P", "F", "N", "A"]
        >>> derived_status(["A", "P"], order), derived_status(["P", "B"], order)
        ('P', 'B')
    """
    rank = {flag: i for i, flag in enumerate(precedence)}
    last = rank.get(_DEFAULT_STATUS, len(rank))
    best = _DEFAULT_STATUS
    for status in statuses:
        flag = status if isinstance(status, str) and status else _DEFAULT_STATUS
        if rank.get(flag, last - 0.5) < rank.get(best, last - 0.5):
            best = flag
    return best


def add_note(existing: object, note: str) -> str:
    """Append a note to a cell's ``note`` (``; ``-separated, no repeats)."""
    parts = [p for p in str(existing).split("; ") if p] if existing else []
    if note not in parts:
        parts.append(note)
    return "; ".join(parts)


@dataclass(slots=True)
class _State:
    cell: Cell
    base: Decimal | None = None
    suppressed: bool = False
    tables: set[str] = field(default_factory=set)


def protect_tables(
    tables: Mapping[str, pd.DataFrame], shells: Mapping[str, TableShell]
) -> dict[str, pd.DataFrame]:
    """Apply secondary suppression across all tables of each country.

    Args:
        tables: built tables (``build_table`` output), keyed by table name.
        shells: the shells the tables were built from, keyed by name.

    Returns:
        New frames, keyed like ``tables``: cells that would let a suppressed cell
        be recovered from published ones are emptied (``OBS_STATUS = Q``,
        ``CONF_STATUS = S``, a note says why). Primary flags are never changed.

    Raises:
        UsageError: a table has no shell.
    """
    missing = sorted(set(tables) - set(shells))
    if missing:
        raise UsageError(f"no shell for tables {missing}")
    # Only the columns relations read (a dict per cell is most of the cost).
    records = {name: records_of(_read(frame)) for name, frame in tables.items()}
    keys = {name: [key_of(cell) for cell in rows] for name, rows in records.items()}
    by_country: dict[str, dict[Key, _State]] = {}
    for name in sorted(records):
        for key, cell in zip(keys[name], records[name], strict=True):
            states = by_country.setdefault(str(cell.get("ref_area")), {})
            state = states.get(key)
            if state is None:
                state = states[key] = _State(
                    cell=cell,
                    suppressed=is_suppressed(cell),
                    base=base_value(
                        cell.get("obs_value_text"),
                        cell.get("obs_value"),
                        cell.get("unit_mult"),
                    ),
                )
            elif is_suppressed(cell) and not state.suppressed:
                state.suppressed = True
            state.tables.add(name)
    suppressed: dict[Key, str] = {}
    for states in by_country.values():
        context = next(iter(shells.values())).context
        additive, derived = _relations(states, shells, context)
        suppressed.update(_suppress_until_safe(states, additive, derived))
    return {
        name: _suppressed_in(frame, keys[name], suppressed)
        for name, frame in tables.items()
    }


_READ_COLUMNS = tuple(
    dict.fromkeys(
        (
            *KEY_COLUMNS,
            "obs_value",
            "obs_value_text",
            "unit_mult",
            "conf_status",
            "is_derived",
            "derivation",
        )
    )
)


def _read(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of a table that relations and suppression read."""
    return frame[[c for c in _READ_COLUMNS if c in frame.columns]]


def _suppressed_in(
    frame: pd.DataFrame, keys: list[Key], suppressed: Mapping[Key, str]
) -> pd.DataFrame:
    """A copy of ``frame`` with the cells in ``suppressed`` emptied.

    Emptied for secondary confidentiality: no value (``obs_value_published``
    too), ``OBS_STATUS = Q``, ``CONF_STATUS = S`` where it was free, the reason
    added to ``note``. ``keys`` are the keys of the frame's rows, in order. Only
    cells with a value are emptied; a cell shared by several tables is emptied
    in each.
    """
    out = frame.copy()
    if not suppressed or out.empty:
        return out
    notes = [suppressed.get(key) for key in keys]
    hit = [
        i
        for i, (note, valued) in enumerate(
            zip(notes, out["obs_value"].notna().to_numpy(), strict=True)
        )
        if note is not None and valued
    ]
    if not hit:
        return out
    column = out.columns.get_loc
    out.iloc[hit, column("obs_value")] = math.nan
    out.iloc[hit, column("obs_value_text")] = None
    if "obs_value_published" in out.columns:
        out.iloc[hit, column("obs_value_published")] = math.nan
    out.iloc[hit, column("obs_status")] = SUPPRESSED_STATUS
    conf = out["conf_status"].iloc[hit]
    out.iloc[hit, column("conf_status")] = [
        SECONDARY if status is None or status != status or status == "F" else status
        for status in conf.tolist()
    ]
    if "note" in out.columns:  # a frame without notes gets none (as before)
        old = out["note"].iloc[hit].tolist()
        out.iloc[hit, column("note")] = [
            add_note(None if text is None or text != text else text, str(notes[i]))
            for text, i in zip(old, hit, strict=True)
        ]
    return out


# ------------------------------------------------------------- relations

AdditiveRelation = tuple[Key, tuple[Key, ...]]


def _relations(
    states: Mapping[Key, _State],
    shells: Mapping[str, TableShell],
    context: ShellContext,
) -> tuple[list[AdditiveRelation], list[AdditiveRelation]]:
    """Parts-sum-to-total relations and derived-from relations among the cells."""
    additive: dict[AdditiveRelation, None] = {}
    derived: dict[AdditiveRelation, None] = {}
    # Each state is keyed by key_of(its cell): reuse the keys (a hot path).
    keyed = [(k, states[k].cell) for k in sorted(states, key=_sort_key)]
    for relation in context.relations:
        for parent, children in _hierarchy_relations(relation, keyed, context):
            additive[(parent, children)] = None
    for identity in context.identities:
        for key, cell in keyed:
            if cell.get("measure") != identity.lhs:
                continue
            terms = tuple(key_of({**cell, "measure": m}) for m, _ in identity.rhs)
            present = tuple(k for k in terms if k in states)
            if present:
                additive[(key, present)] = None
    for key, cell in keyed:
        for derivation, inputs in _formulas(cell, states[key], shells, context):
            present = tuple(k for k in inputs if k in states)
            if not present:
                continue
            derived[(key, present)] = None
            if isinstance(derivation, LinearDerivation):
                additive[(key, present)] = None
    return list(additive), list(derived)


def _formulas(
    cell: Cell, state: _State, shells: Mapping[str, TableShell], context: ShellContext
) -> list[tuple[Any, list[Key]]]:
    out: list[tuple[Any, list[Key]]] = []
    derivation_text = cell.get("derivation")
    if cell.get("is_derived") and isinstance(derivation_text, str):
        derivation_id = derivation_text.split(":", 1)[0]
        for name in sorted(state.tables):
            try:
                derivation = shells[name].derivation(derivation_id)
            except KeyError:
                continue
            inputs = [
                key_of(c) for c, _ in derivation_inputs(derivation, cell, context)
            ]
            out.append((derivation, inputs))
            break
        return out
    # A submitted share is a formula too: with its denominator published it
    # reveals its numerator (and the other way round).
    for name in sorted(state.tables):
        for derivation in shells[name].derivations:
            if (
                isinstance(derivation, RatioDerivation)
                and derivation.measure == cell.get("measure")
                and level_of(cell).get("measure") in derivation.numerator.measures
            ):
                inputs = [
                    key_of(c) for c, _ in derivation_inputs(derivation, cell, context)
                ]
                return [(derivation, inputs)]
    return out


def _hierarchy_relations(
    relation: Relation,
    keyed: list[tuple[Key, Cell]],
    context: ShellContext,
) -> Iterable[AdditiveRelation]:
    dim = relation.dimension
    if relation.children_from == "present_codes":
        # Regions add up only where the complete set is known; none is in v1
        # (hierarchies.yaml complete_regions), so no region relation reveals a cell.
        return []
    groups: dict[Key, dict[object, Key]] = {}
    at = KEY_COLUMNS.index(dim)
    # The key without ``dim``, equivalent codes read as one (positions in it).
    position = {c: i for i, c in enumerate(c for c in KEY_COLUMNS if c != dim)}
    equivalents = [
        (position[column], codes)
        for column, codes in relation.key_equivalents.items()
        if column in position
    ]
    # Eligibility depends on the measure alone: judged once per measure.
    measure_at = KEY_COLUMNS.index("measure")
    eligible = {
        measure: _eligible(relation, measure, context)
        for measure in {key[measure_at] for key, _ in keyed}
    }
    for key, _cell in keyed:
        if not eligible[key[measure_at]]:
            continue
        rest = list(key[:at] + key[at + 1 :])
        for i, codes in equivalents:
            rest[i] = codes.get(str(rest[i]), rest[i])
        groups.setdefault(tuple(rest), {})[key[at]] = key
    out = []
    for norm, members in groups.items():
        if relation.parent not in members:
            continue
        children: tuple[str, ...] = relation.children
        if relation.children_from == "registered_subgroups":
            children = context.exhaustive_subgroups(
                str(norm[position["ref_area"]]), str(norm[position["sse_entity"]])
            )
        if relation.if_absent is not None and relation.if_absent[0] not in members:
            children = relation.if_absent[1]
        present = tuple(members[c] for c in children if c in members)
        if present:
            out.append((members[relation.parent], present))
    return out


def _eligible(relation: Relation, measure: object, context: ShellContext) -> bool:
    """Whether cells of ``measure`` add up along the relation's dimension."""
    if relation.measures is not None:
        return measure in relation.measures
    if measure in context.additive_measures:
        return True
    return (
        measure in context.distinct_measures
        and relation.dimension in context.distinct_equal_across
    )


# ------------------------------------------------------------- the loop


def _suppress_until_safe(
    states: dict[Key, _State],
    additive: list[AdditiveRelation],
    derived: list[AdditiveRelation],
) -> dict[Key, str]:
    newly: dict[Key, str] = {}

    def mark(key: Key, note: str) -> None:
        states[key].suppressed = True
        newly[key] = note

    changed = True
    while changed:
        changed = False
        for output, inputs in derived:
            if (
                not states[output].suppressed
                and has_value(states[output].cell)
                and any(states[k].suppressed for k in inputs)
            ):
                mark(output, NOTE_DERIVED_FROM_SUPPRESSED)
                changed = True
        for parent, children in additive:
            members = (parent, *children)
            if sum(states[k].suppressed for k in members) != 1:
                continue
            pick = _second_cell(states, parent, children)
            if pick is not None:
                mark(pick, NOTE_SECONDARY)
                changed = True
    return newly


def _second_cell(
    states: Mapping[Key, _State], parent: Key, children: tuple[Key, ...]
) -> Key | None:
    """The smallest non-zero published sibling; the total only as a last resort."""
    candidates = [
        k
        for k in children
        if not states[k].suppressed
        and has_value(states[k].cell)
        and states[k].base not in (None, Decimal(0))
    ]
    if candidates:
        return min(
            candidates, key=lambda k: (abs(states[k].base or Decimal(0)), _sort_key(k))
        )
    if not states[parent].suppressed and has_value(states[parent].cell):
        return parent
    return None


def _sort_key(key: Key) -> tuple[str, ...]:
    return tuple("" if part is None else str(part) for part in key)
