"""Editions (vintages): the current edition of every figure, and the revisions.

What it is for: the two derived views of ``harmonised.observations`` that
schema.md §9.1 rule 1 and §11.2 ask for, with one SQL definition used twice:

- in ``sse.duckdb`` as the views ``harmonised.observations_current`` and
  ``harmonised.revisions`` (listed in ``meta.views``; ``publish.serving``
  creates them in every serving copy);
- run over in-memory frames by ``current_and_revisions`` to write the same
  rows as Parquet tables ``parquet/harmonised/observations_current/`` and
  ``parquet/harmonised/revisions/`` (partitioned by ``ref_area``).

What it is not for: choosing which submissions are published (``publication``)
or the satellite tables (``accounts``).

Rules:

- The **edition used** of a row is its ``edition``; an empty edition is read
  as the UTC date the submission was received (``meta.submissions.
  received_date``; the first receipt when the same bytes came twice).
  Editions compare as text, so ``2024`` < ``2024-03`` < ``2024-03-01`` <
  ``2025``.
- **Current**: for each ``ref_area`` and ``time_period``, the rows of the
  latest edition used (ties: the submission received last). Only accepted
  submissions reach ``harmonised.observations``, so a rejected resubmission
  never becomes current.
- **Revisions**: for each observation key (schema.md §2: the thirteen
  dimensions and ``measure``, plus ``unit_state`` for ``N_UNITS`` and
  ``share_base`` for ``SHARE_NAT``) and year, each edition against the one
  before it, when the published value, its multiplier or a flag changed.
  ``difference`` is ``new_value - old_value`` in the new edition's
  multiplier (``old_value * 10^(old_unit_mult - new_unit_mult)``).

Both views use only SQL that DuckDB 1.4 also reads (the serving copy's
storage version).
"""

from __future__ import annotations

import re

import pandas as pd

from sse_stats.publish.connections import scratch_connection
from sse_stats.schema.key import DIMENSIONS

CURRENT = ("harmonised", "observations_current")
REVISIONS = ("harmonised", "revisions")

KEY_COLUMNS = (*DIMENSIONS, "measure")
"""The observation key, ``measure`` included (schema.md §2)."""

_KEY_EXTRA = (
    "CASE WHEN measure = 'N_UNITS' THEN unit_state END",
    "CASE WHEN measure = 'SHARE_NAT' THEN share_base END",
)
_CHANGED = (
    "obs_value_text",
    "unit_mult",
    "obs_status",
    "obs_status_nat",
    "conf_status",
)
_COMPARED_COLUMNS = (
    "obs_value",
    "obs_value_text",
    "unit_mult",
    "obs_status",
    "obs_status_nat",
    "conf_status",
    "source_file",
    "source_sha256",
    "source_row",
)


_TABLE_NAME = re.compile(r"[a-z_]+(\.[a-z_]+)?")

# The SQL below is assembled from constants of this module and from table
# names checked against _TABLE_NAME (never from submitted data): S608 is
# silenced where the pieces are joined.


def _with_edition(observations: str, submissions: str) -> str:
    """Observations with ``edition_used`` and the submission's receipt time."""
    for name in (observations, submissions):
        if not _TABLE_NAME.fullmatch(name):
            raise ValueError(f"not a table name: {name!r}")
    return (
        "SELECT o.*, coalesce(o.edition, s.received_date) AS edition_used, "  # noqa: S608
        "s.received_at AS received_at__ "
        f"FROM {observations} AS o LEFT JOIN ("
        "SELECT source_sha256, min(received_date) AS received_date, "
        "min(received_at) AS received_at "
        f"FROM {submissions} GROUP BY source_sha256"
        ") AS s ON s.source_sha256 = o.source_sha256"
    )


def current_sql(
    observations: str = "harmonised.observations",
    submissions: str = "meta.submissions",
) -> str:
    """SQL of ``harmonised.observations_current`` over the two named tables.

    Examples:
        >>> "edition_used" in current_sql()
        True
    """
    ranked = (
        "SELECT *, dense_rank() OVER (PARTITION BY ref_area, time_period "  # noqa: S608
        "ORDER BY edition_used DESC NULLS LAST, received_at__ DESC NULLS LAST, "
        "source_sha256 DESC) AS rank__ "
        f"FROM ({_with_edition(observations, submissions)})"
    )
    return f"SELECT * EXCLUDE (rank__, received_at__) FROM ({ranked}) WHERE rank__ = 1"  # noqa: S608


def revisions_sql(
    observations: str = "harmonised.observations",
    submissions: str = "meta.submissions",
) -> str:
    """SQL of ``harmonised.revisions`` over the two named tables.

    Examples:
        >>> "old_edition" in revisions_sql()
        True
    """
    key = [*KEY_COLUMNS, *_KEY_EXTRA]
    order = "edition_used, received_at__ NULLS FIRST, source_sha256"
    window = f"PARTITION BY {', '.join(key)} ORDER BY {order}"
    lagged = ", ".join(
        [f"lag(edition_used) OVER ({window}) AS old_edition"]
        + [f"lag({c}) OVER ({window}) AS old_{c}" for c in _COMPARED_COLUMNS]
    )
    paired = f"SELECT *, {lagged} FROM ({_with_edition(observations, submissions)})"  # noqa: S608
    changed = " OR ".join(f"old_{c} IS DISTINCT FROM {c}" for c in _CHANGED)
    columns = [
        *KEY_COLUMNS,
        f"{_KEY_EXTRA[0]} AS unit_state",
        f"{_KEY_EXTRA[1]} AS share_base",
        "unit_measure",
        "old_edition",
        "edition_used AS new_edition",
        "old_obs_value AS old_value",
        "obs_value AS new_value",
        "old_unit_mult",
        "unit_mult AS new_unit_mult",
        "obs_value - old_obs_value * power(10, old_unit_mult - unit_mult) "
        "AS difference",
        "old_obs_value_text AS old_value_text",
        "obs_value_text AS new_value_text",
        "old_obs_status",
        "obs_status AS new_obs_status",
        "old_obs_status_nat",
        "obs_status_nat AS new_obs_status_nat",
        "old_conf_status",
        "conf_status AS new_conf_status",
        "old_source_file",
        "source_file AS new_source_file",
        "old_source_sha256",
        "source_sha256 AS new_source_sha256",
        "old_source_row",
        "source_row AS new_source_row",
    ]
    return (
        f"SELECT {', '.join(columns)} FROM ({paired}) "  # noqa: S608
        f"WHERE old_edition IS NOT NULL AND ({changed})"
    )


def view_definitions() -> pd.DataFrame:
    """Rows of ``meta.views`` for the two views (schema, name, SQL).

    Examples:
        >>> list(view_definitions()["view_name"])
        ['observations_current', 'revisions']
    """
    return pd.DataFrame(
        {
            "view_schema": [CURRENT[0], REVISIONS[0]],
            "view_name": [CURRENT[1], REVISIONS[1]],
            "sql": [current_sql(), revisions_sql()],
            "description": [
                "latest accepted edition per ref_area and time_period "
                "(schema.md §9.1 rule 1); edition_used is the edition, or the "
                "date received when it is empty",
                "each edition against the previous one of the same key and "
                "year, where the value, multiplier or a flag changed",
            ],
        }
    ).astype("str")


def current_and_revisions(
    observations: pd.DataFrame, submissions: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run both views over frames (for the Parquet tables).

    Args:
        observations: Rows of ``harmonised.observations`` (every edition of
            the ref areas concerned).
        submissions: At least ``source_sha256``, ``received_at`` and
            ``received_date`` of the submissions those rows come from.

    Returns:
        ``(current, revisions)``, with the columns the views have.

    Examples:
        >>> obs = pd.DataFrame({c: ["PRT"] * 2 for c in KEY_COLUMNS} | {
        ...     "time_period": ["2020", "2020"], "obs_value": [1.0, 2.0],
        ...     "obs_value_text": ["1.0", "2.0"], "unit_mult": [6, 6],
        ...     "unit_measure": ["XDC"] * 2, "obs_status": ["A", "A"],
        ...     "obs_status_nat": [None, None], "conf_status": ["F", "F"],
        ...     "unit_state": [None, None], "share_base": [None, None],
        ...     "edition": ["2024-01-01", "2025-01-01"],
        ...     "source_file": ["a.csv", "b.csv"], "source_sha256": ["a", "b"],
        ...     "source_row": [2, 2]})
        >>> subs = pd.DataFrame({"source_sha256": ["a", "b"],
        ...     "received_at": pd.to_datetime(["2024-02-01", "2025-02-01"], utc=True),
        ...     "received_date": ["2024-02-01", "2025-02-01"]})
        >>> current, revisions = current_and_revisions(obs, subs)
        >>> list(current["edition_used"]), list(revisions["difference"])
        (['2025-01-01'], [1.0])
    """
    with scratch_connection() as con:
        con.register("observations__", observations)
        con.register("submissions__", submissions)
        current = con.sql(current_sql("observations__", "submissions__")).df()
        revisions = con.sql(revisions_sql("observations__", "submissions__")).df()
    return _text(current), _text(revisions)


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns (text, or all NULL) as the string dtype."""
    text = [c for c in frame.columns if frame[c].dtype == object]
    return frame.astype(dict.fromkeys(text, "str")) if text else frame
