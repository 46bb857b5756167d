"""Markdown for run metadata: findings as a table, submitted text escaped.

What it is for: the findings shown in the metadata of Dagster runs and asset
checks (``StagedSubmission.findings_markdown``, ``pipelines/checks.py``).
Submitted text is untrusted: each cell is flattened to one line, pipes,
backticks and HTML are escaped, and long text is cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from sse_stats.errors import Finding


def findings_markdown(findings: Sequence[Finding], *, limit: int = 20) -> str:
    """The first ``limit`` findings as a markdown table; submitted text is escaped.

    Examples:
        >>> print(findings_markdown([]))
        No findings.
    """
    if not findings:
        return "No findings."
    lines = [
        "| row | column | value | rule | severity | message |",
        "|---|---|---|---|---|---|",
    ]
    for f in findings[:limit]:
        cells = [
            "" if f.row is None else str(f.row),
            f.column or "",
            f.value or "",
            f.rule,
            f.severity,
            f.message,
        ]
        lines.append("| " + " | ".join(_md_escape(c) for c in cells) + " |")
    if len(findings) > limit:
        lines.append(f"\n{len(findings) - limit} more findings in the report.")
    return "\n".join(lines)


def _md_escape(text: str, width: int = 200) -> str:
    """One table cell: no newlines, pipes or HTML; long text cut."""
    flat = " ".join(text.split())
    if len(flat) > width:
        flat = flat[: width - 1] + "…"
    return (
        flat.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("`", "\\`")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )
