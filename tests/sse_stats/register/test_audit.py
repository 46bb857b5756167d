"""The relation finder and solver of register disclosure control (audit.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sse_stats.register.audit import (
    IdentitySpec,
    _group_ids,
    determined,
    hierarchy_relations,
    identity_relations,
)


@pytest.mark.parametrize("radix", [3, 2**40])  # mixed radix, then pandas fallback
def test_group_ids__numbered_like_a_sorted_groupby(radix: int) -> None:
    rng = np.random.default_rng(5)
    columns = [rng.integers(0, 3, 500), rng.integers(0, 4, 500)]
    columns.append(np.where(rng.random(500) < 0.5, 0, radix - 1))
    expected = (
        pd.DataFrame(dict(enumerate(columns)))
        .groupby([0, 1, 2], sort=True)
        .ngroup()
        .to_numpy()
    )
    assert _group_ids([c.astype(np.intp) for c in columns]).tolist() == (
        expected.tolist()
    )


def test_hierarchy_relations__one_per_group_with_total_and_children() -> None:
    frame = pd.DataFrame(
        {
            "ref_area": ["PRT"] * 5 + ["ESP"] * 2,
            "sex": ["_T", "F", "M", "_T", "_T", "_T", "F"],
            "measure": ["MEM", "MEM", "MEM", "EMP", "N", "MEM", "MEM"],
        }
    )
    relations = hierarchy_relations(frame, ["ref_area", "sex", "measure"], ["sex"])
    # PRT MEM: _T = F + M; ESP MEM: _T = F; PRT EMP and N have no children.
    # Groups come in the order codes first appear (PRT before ESP).
    assert relations == [((0, -1), (1, 1), (2, 1)), ((5, -1), (6, 1))]
    hidden = np.array([False, True, False, False, False, False, False])
    assert determined(relations, hidden).tolist() == [
        False, True, False, False, False, False, False,
    ]  # fmt: skip


def test_identity_relations__complete_groups_in_order_last_row_per_measure() -> None:
    """B1G = P1 − P2 and D1 = D11 + D12 per group of equal other codes.

    Groups come in the order their codes first appear, identities in their
    order within a group; a group missing a term has no relation; a measure
    repeated in a group is read from its last row.
    """
    frame = pd.DataFrame(
        {
            "ref_area": ["PRT"] * 7 + ["ESP"] * 4,
            "measure": ["D1", "D11", "D12", "B1G", "P1", "P2", "P1",
                        "B1G", "P1", "D1", "D11"],
        }
    )  # fmt: skip
    identities = [
        IdentitySpec(lhs="B1G", rhs=(("P1", 1), ("P2", -1))),
        IdentitySpec(lhs="D1", rhs=(("D11", 1), ("D12", 1))),
    ]
    relations = identity_relations(frame, ["ref_area", "measure"], identities)
    # PRT: both identities (P1 read from row 6, its last row); ESP: neither.
    assert relations == [
        ((3, -1), (6, 1), (5, -1)),
        ((0, -1), (1, 1), (2, 1)),
    ]
