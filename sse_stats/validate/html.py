"""A readable HTML page of one validation report (beside its JSON in reports/).

Every submitted text is escaped: a hostile label is shown, never run. The page
is self-contained (no scripts, no external resources).
"""

from __future__ import annotations

from html import escape

from sse_stats.validate.report import ValidationReport

_STYLE = """body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eee}.error{color:#a00}.warning{color:#a60}
.info{color:#555}.status{font-size:1.2em;font-weight:bold}"""


def _cell(value: object) -> str:
    return "" if value is None else escape(str(value))


def report_html(report: ValidationReport, *, limit: int = 500) -> str:
    """The report as an HTML page: status, per-rule summary, then the findings.

    Examples:
        >>> r = ValidationReport(file="<a>.csv", sha256=None, size=0, findings=())
        >>> "&lt;a&gt;.csv" in report_html(r)
        True
    """
    counts = report.counts
    layout = report.mapping_file or "canonical template"
    summary_rows = "".join(
        f"<tr><td>{_cell(s['rule'])}</td><td>{s['level']}</td>"
        f"<td class='{s['severity']}'>{s['severity']}</td><td>{s['items']}</td>"
        f"<td>{s['passes']}</td><td>{s['fails']}</td><td>{s['not_applicable']}</td></tr>"
        for s in report.summary()
    )
    finding_rows = "".join(
        f"<tr><td>{_cell(f.row)}</td><td>{_cell(f.column)}</td><td>{_cell(f.value)}</td>"
        f"<td>{_cell(f.rule)}</td><td>{f.level}</td>"
        f"<td class='{f.severity}'>{f.severity}</td><td>{_cell(f.message)}</td></tr>"
        for f in report.findings[:limit]
    )
    more = (
        f"<p>{len(report.findings) - limit} more findings in the JSON report.</p>"
        if len(report.findings) > limit
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_cell(report.file)}</title>
<style>{_STYLE}</style></head><body>
<h1>Validation of {_cell(report.file)}</h1>
<p class="status">{_cell(report.status)}: {counts["error"]} errors,
{counts["warning"]} warnings, {counts["info"]} infos</p>
<p>SHA-256 {_cell(report.sha256)}; layout {_cell(layout)}</p>
<h2>Rules</h2>
<table><tr><th>rule</th><th>level</th><th>severity</th><th>items</th><th>passes</th>
<th>fails</th><th>not applicable</th></tr>{summary_rows}</table>
<h2>Findings</h2>
<table><tr><th>row</th><th>column</th><th>value</th><th>rule</th><th>level</th>
<th>severity</th><th>message</th></tr>{finding_rows}</table>{more}
</body></html>
"""
