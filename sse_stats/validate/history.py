"""Level-2 rules: a submission against its own years and earlier editions.

These need history, so they run in the pipeline only (schema.md §8.1) and give
warnings and infos, never errors. ``history`` is the curated harmonised
observations of the same country (other submissions, all editions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

from sse_stats.errors import Finding
from sse_stats.schema.key import DIMENSIONS
from sse_stats.validate.catalogue import RuleCatalogue

# The observation key without TIME_PERIOD (schema.md §2).
SERIES_KEY = [
    *(d for d in DIMENSIONS if d != "time_period"),
    "measure",
    "unit_state_key",
    "share_base_key",
]
_NOT_GROWTH = {"SHARE_NAT"}


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """Findings and (passes, fails, not_applicable) per rule."""

    findings: list[Finding] = field(default_factory=list)
    outcomes: dict[str, tuple[int, int, int]] = field(default_factory=dict)


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["unit_state_key"] = (
        out["unit_state"].where(out["measure"] == "N_UNITS", "").fillna("")
    )
    out["share_base_key"] = (
        out["share_base"].where(out["measure"] == "SHARE_NAT", "").fillna("")
    )
    out["base_value"] = [
        float(Decimal(t) * (Decimal(10) ** int(m)))
        if isinstance(t, str) and v == v
        else None
        for t, v, m in zip(
            out["obs_value_text"],
            out["obs_value"],
            out["unit_mult"].fillna(0),
            strict=True,
        )
    ]
    return out


def _money(measures: pd.Series, money_measures: Sequence[str]) -> pd.Series:
    return measures.isin(list(money_measures))


def check_growth(
    frame: pd.DataFrame,
    history: pd.DataFrame,
    *,
    catalogue: RuleCatalogue,
    file: str,
    money_measures: Sequence[str],
) -> tuple[list[Finding], tuple[int, int, int]]:
    """Year-on-year change of each series, the previous year taken from this
    submission or else from the latest earlier edition in ``history``."""
    rule = catalogue["growth_within_threshold"]
    limits = {
        "count": float(rule.tolerance.get("count", 0.30)),
        "money": float(rule.tolerance.get("money", 0.50)),
    }
    current = _keyed(frame)
    current = current[~current["measure"].isin(_NOT_GROWTH)]
    earlier = _keyed(history) if len(history) else current.iloc[0:0]
    if len(earlier):
        earlier = earlier.sort_values("edition", na_position="first").drop_duplicates(
            [*SERIES_KEY, "time_period"], keep="last"
        )
    pool = pd.concat(
        [
            earlier[
                ~earlier.set_index([*SERIES_KEY, "time_period"]).index.isin(
                    current.set_index([*SERIES_KEY, "time_period"]).index
                )
            ],
            current,
        ],
        ignore_index=True,
    )
    pool = pool.assign(year=pd.to_numeric(pool["time_period"], errors="coerce"))
    previous = pool.assign(year=pool["year"] + 1)[
        [
            *SERIES_KEY,
            "year",
            "base_value",
            "obs_status",
            "obs_value_text",
            "time_period",
        ]
    ]
    current = current.assign(
        year=pd.to_numeric(current["time_period"], errors="coerce")
    )
    pairs = current.merge(
        previous, on=[*SERIES_KEY, "year"], how="left", suffixes=("", "_prev")
    )
    findings: list[Finding] = []
    passes = not_applicable = 0
    for row in pairs.itertuples(index=False):
        if (
            pd.isna(row.base_value)
            or pd.isna(row.base_value_prev)
            or row.base_value_prev == 0
        ):
            not_applicable += 1
            continue
        if "B" in (row.obs_status, row.obs_status_prev):
            passes += 1  # a flagged break explains the jump
            continue
        change = row.base_value / row.base_value_prev - 1
        limit = limits["money"] if row.measure in money_measures else limits["count"]
        if abs(change) <= limit:
            passes += 1
            continue
        findings.append(
            catalogue.finding(
                "growth_within_threshold",
                file=file,
                row=row.source_row,
                column=row.source_column,
                value=row.obs_value_text,
                detail=f"{row.measure} "
                f"{row.time_period_prev}→{row.time_period}: "
                f"{change:+.1%} "
                f"({row.obs_value_text_prev} → {row.obs_value_text}), beyond "
                f"±{limit:.0%} "
                "with no break flag (OBS_STATUS B)",
            )
        )
    return findings, (passes, len(findings), not_applicable)


def check_revisions(
    frame: pd.DataFrame, history: pd.DataFrame, *, catalogue: RuleCatalogue, file: str
) -> tuple[list[Finding], tuple[int, int, int]]:
    """Cells whose value differs from the same key in an earlier edition."""
    if not len(history):
        return [], (0, 0, len(frame))
    current = _keyed(frame)
    earlier = _keyed(history)
    key = [*SERIES_KEY, "time_period"]
    merged = current.merge(
        earlier[[*key, "edition", "base_value", "obs_value_text", "unit_mult"]],
        on=key,
        how="left",
        suffixes=("", "_old"),
    )
    merged = merged[merged["edition_old"].fillna("") < merged["edition"].fillna("")]
    merged = merged.sort_values("edition_old").drop_duplicates(
        ["source_row", "source_column", "measure", *key], keep="last"
    )
    findings: list[Finding] = []
    same = 0
    for row in merged.itertuples(index=False):
        if row.base_value == row.base_value_old or (
            pd.isna(row.base_value) and pd.isna(row.base_value_old)
        ):
            same += 1
            continue
        change = ""
        if (
            not pd.isna(row.base_value)
            and not pd.isna(row.base_value_old)
            and row.base_value_old
        ):
            change = f", {row.base_value / row.base_value_old - 1:+.1%}"
        findings.append(
            catalogue.finding(
                "revision_reported",
                file=file,
                row=row.source_row,
                column=row.source_column,
                value=row.obs_value_text,
                detail=f"{row.measure} {row.time_period} revised from "
                f"{row.obs_value_text_old} "
                f"(edition {row.edition_old}) to {row.obs_value_text} (edition "
                f"{row.edition}){change}",
            )
        )
    return findings, (same, len(findings), len(frame) - same - len(findings))


def check_history(
    frame: pd.DataFrame,
    history: pd.DataFrame | None,
    *,
    catalogue: RuleCatalogue,
    file: str,
    money_measures: Sequence[str],
) -> HistoryResult:
    """All level-2 rules of one submission against its country's history."""
    past = history if history is not None else frame.iloc[0:0]
    past = (
        past[past["source_sha256"] != frame["source_sha256"].iloc[0]]
        if len(frame) and len(past)
        else past
    )
    growth, growth_counts = check_growth(
        frame, past, catalogue=catalogue, file=file, money_measures=money_measures
    )
    revisions, revision_counts = check_revisions(
        frame, past, catalogue=catalogue, file=file
    )
    return HistoryResult(
        findings=[*growth, *revisions],
        outcomes={
            "growth_within_threshold": growth_counts,
            "revision_reported": revision_counts,
        },
    )
