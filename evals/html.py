"""The static HTML report: metric tables, one bar chart per metric (inline SVG) and failures with trace ids."""

from __future__ import annotations

from html import escape

from evals.metrics import MetricValue
from evals.report import Report

__all__ = ["render_html"]

_STYLE = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}"
          ".bad{color:#b00}.ok{color:#070}svg{display:block;margin:.3em 0 1em}")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def _bars(name: str, groups: dict[str, MetricValue]) -> str:
    """One horizontal bar per group with its Wilson interval as a whisker."""
    rows = [(g, m) for g, m in groups.items() if m.N]
    if not rows:
        return ""
    width, bar_h = 420, 18
    parts = [f'<svg width="{width + 260}" height="{len(rows) * (bar_h + 6) + 6}" role="img" '
             f'aria-label="{escape(name)}">']
    for i, (group, m) in enumerate(rows):
        y = 4 + i * (bar_h + 6)
        w = (m.rate or 0) * width
        lo, hi = (m.ci_low or 0) * width, (m.ci_high or 0) * width
        parts.append(f'<text x="0" y="{y + 13}" font-size="12">{escape(group)[:30]}</text>'
                     f'<rect x="200" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#4a7bd0"/>'
                     f'<line x1="{200 + lo:.1f}" x2="{200 + hi:.1f}" y1="{y + bar_h / 2}" y2="{y + bar_h / 2}" '
                     f'stroke="#222"/><text x="{210 + width}" y="{y + 13}" font-size="12">'
                     f'{m.n}/{m.N} {_pct(m.rate)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Report) -> str:
    """The whole report as one self-contained HTML page."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>jidoka eval</title><style>{_STYLE}</style>"
           f"</head><body><h1>jidoka eval — {escape(report.model)}</h1>"
           f"<p>Suites {escape(', '.join(report.suites))}; policy {escape(report.policy_hash[:16])}; "
           f"started {escape(report.started_at)}; repeat {report.repeat}.</p>",
           "<h2>Metrics</h2><table><tr><th>metric</th><th>n/N</th><th>rate</th><th>95% CI</th></tr>"]
    for name, m in report.metrics.items():
        out.append(f"<tr><td>{name}</td><td>{m.n}/{m.N}</td><td>{_pct(m.rate)}</td>"
                   f"<td>{_pct(m.ci_low)}–{_pct(m.ci_high)}</td></tr>")
    out.append("</table><h2>Thresholds</h2><table><tr><th>suite</th><th>threshold</th><th>measured</th></tr>")
    for t in report.thresholds:
        cls = "ok" if t.ok else "bad"
        out.append(f"<tr class='{cls}'><td>{escape(t.suite)}</td><td>{t.metric} {escape(t.op)} {t.value:g}</td>"
                   f"<td>{_pct(t.rate)} ({t.n}/{t.N})</td></tr>")
    out.append("</table><h2>Charts by split</h2>")
    for name in report.metrics:
        for split, groups in report.splits.items():
            chart = _bars(name, {g: ms[name] for g, ms in groups.items() if name in ms})
            if chart:
                out.append(f"<h3>{name} by {split}</h3>{chart}")
    if report.containment:
        out.append(f"<h2>Containment ({report.containment.get('attempts', 0)} attempts)</h2><table><tr>"
                   "<th>kind</th><th>attempts</th><th>refused</th><th>pending</th><th>contained</th><th>leaked</th>"
                   "<th>unapproved</th></tr>")
        for kind, t in report.containment.get("by_kind", {}).items():
            out.append("<tr><td>" + escape(kind) + "</td>" + "".join(
                f"<td>{t.get(k, 0)}</td>" for k in ("attempts", "refused", "pending", "contained", "leaked",
                                                   "unapproved"))
                + "</tr>")
        out.append("</table>")
    out.append("<h2>Failures</h2><table><tr><th>case</th><th>user</th><th>trace ids</th><th>why</th></tr>")
    for c in report.cases:
        if not c.passed:
            out.append(f"<tr><td>{escape(c.suite)}/{escape(c.case_id)}</td><td>{escape(c.user)}</td>"
                       f"<td>{escape(', '.join(c.trace_ids))}</td><td>{escape('; '.join(c.failures))}</td></tr>")
    out.append("</table><h2>Skipped</h2><ul>")
    out += [f"<li>{escape(s['suite'])}/{escape(s['case'])} ({escape(s['user'])}): {escape(s['reason'])}</li>"
            for s in report.skipped]
    out.append("</ul></body></html>")
    return "".join(out)
