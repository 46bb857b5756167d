"""The HTML report shows every finding's cell and never lets submitted text run."""

from __future__ import annotations

from pathlib import Path

from sse_stats.check import check_submission
from sse_stats.validate.html import report_html

ROOT = Path(__file__).resolve().parents[3]
BAD = ROOT / "tests" / "fixtures" / "nso" / "bad"


def test_report_html__formula_injection__escaped_and_located() -> None:
    """The hostile SSE_ENTITY_NAT is shown escaped, with its row, column and rule."""
    report = check_submission(
        BAD / "template__formula_injection.csv", schemas_dir=ROOT / "schemas"
    )
    page = report_html(report)
    assert "<td>54</td><td>SSE_ENTITY_NAT</td>" in page
    assert "sse_entity_nat_registered" in page
    assert '=HYPERLINK("' not in page and "=HYPERLINK(&quot;" in page
    assert "<script" not in page


def test_report_html__sql_text__verbatim_but_inert() -> None:
    """`COOP'; DROP TABLE x;--` appears as text in the findings table."""
    report = check_submission(
        BAD / "template__sql_meta_chars.csv", schemas_dir=ROOT / "schemas"
    )
    assert "COOP&#x27;; DROP TABLE x;--" in report_html(report)
