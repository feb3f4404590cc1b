"""Renderings of a stored report (``reconcile.history.StoredReport``) with each pair's drift over time.

Pure functions of the stored JSON: a table (with a text sparkline per pair), JSON (the report
plus the series), Markdown and HTML (an inline SVG chart per pair, no scripts, no external files).
"""

from __future__ import annotations

import html
import io
import json
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from reconcile.history import StoredReport
from smartsync.core.errors import ReconcileError

FORMATS = ("table", "json", "markdown", "html")
_BARS = "▁▂▃▄▅▆▇█"
_HEAD = ["pair", "source rows", "target rows", "source-only", "target-only", "changed", "drift", "fixed", "trend"]


def sparkline(values: list[int]) -> str:
    """Differing rows per run as block characters (the highest run is the tallest bar)."""
    top = max(values, default=0)
    if top == 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(len(_BARS) - 1, round(v * (len(_BARS) - 1) / top))] for v in values)


def _fixed(counts: dict[str, int] | None) -> str:
    if not counts:
        return ""
    return ", ".join(f"{k} {v:,}" for k, v in counts.items() if v)


def _rows(stored: StoredReport) -> list[list[str]]:
    out = []
    fixed = stored.doc.get("fixed", {})
    for name, t in stored.doc.get("tables", {}).items():
        trend = sparkline([n for _, n, _ in stored.series.get(name, [])])
        out.append(
            [
                name,
                f"{t['source_rows']:,}",
                f"{t['target_rows']:,}",
                f"{t['source_only']:,}",
                f"{t['target_only']:,}",
                f"{t['changed']:,}",
                f"{float(t['drift_pct']):.2f}%",
                _fixed(fixed.get(name)),
                trend,
            ]
        )
    return out


def _title(stored: StoredReport) -> str:
    return f"reconciliation run {stored.run_id} ({stored.doc.get('scope', '?')}) {stored.created_at:%Y-%m-%d %H:%M} UTC"


def _extras(stored: StoredReport) -> tuple[list[dict[str, Any]], dict[str, str]]:
    return list(stored.doc.get("integrity", [])), dict(stored.doc.get("errors", {}))


def render_table(stored: StoredReport, console: Console) -> None:
    table = RichTable(*_HEAD, title=_title(stored), box=box.SIMPLE)
    for row in _rows(stored):
        table.add_row(*row, style="red" if row[6] != "0.00%" else None)
    console.print(table)
    integrity, errors = _extras(stored)
    for check in integrity:
        if check["offenders"]:
            console.print(f"[red]{check['table']}: {check['check']}: {check['offenders']}[/red] {check['detail']}")
    for name, err in errors.items():
        console.print(f"[red]{name}: {err}[/red]")


def render_markdown(stored: StoredReport) -> str:
    out = [f"# {_title(stored)}", "", "| " + " | ".join(_HEAD) + " |", "|" + " --- |" * len(_HEAD)]
    out.extend("| " + " | ".join(r) + " |" for r in _rows(stored))
    integrity, errors = _extras(stored)
    if integrity:
        out += ["", "## Integrity", "", "| table | check | offenders | detail |", "| --- | --- | --- | --- |"]
        out.extend(f"| {c['table']} | {c['check']} | {c['offenders']} | {c['detail']} |" for c in integrity)
    if errors:
        out += ["", "## Errors", ""] + [f"- {n}: {e}" for n, e in errors.items()]
    return "\n".join(out) + "\n"


def svg_chart(points: list[tuple[str, int]], *, width: int = 360, height: int = 90) -> str:
    """A line of differing rows per run, labelled with the first and last run's dates."""
    esc = html.escape
    pad = 24
    top = max((v for _, v in points), default=0) or 1
    n = len(points)
    step = (width - 2 * pad) / max(1, n - 1)
    xy = [(pad + i * step, height - pad - (v / top) * (height - 2 * pad)) for i, (_, v) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.5'><title>{esc(lbl)}: {v:,}</title></circle>"
        for (x, y), (lbl, v) in zip(xy, points, strict=True)
    )
    labels = ""
    if points:
        labels = (
            f"<text x='{pad}' y='{height - 6}' font-size='10'>{esc(points[0][0])}</text>"
            f"<text x='{width - pad}' y='{height - 6}' font-size='10' text-anchor='end'>{esc(points[-1][0])}</text>"
            f"<text x='2' y='{pad - 6}' font-size='10'>max {top:,}</text>"
        )
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
        f"aria-label='differing rows per run'><polyline fill='none' stroke='#c33' stroke-width='2' points='{line}'/>"
        f"{dots}{labels}</svg>"
    )


def render_html(stored: StoredReport) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>SmartSync reconciliation</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        ".drift{background:#fdd}</style></head><body>",
        f"<h1>{esc(_title(stored))}</h1>",
        "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in _HEAD[:-1]) + "</tr>",
    ]
    for row in _rows(stored):
        cls = " class='drift'" if row[6] != "0.00%" else ""
        parts.append(f"<tr{cls}>" + "".join(f"<td>{esc(v)}</td>" for v in row[:-1]) + "</tr>")
    parts.append("</table><h2>Drift over time (differing rows per run)</h2>")
    for name, series in stored.series.items():
        points = [(f"{at:%Y-%m-%d}", n) for at, n, _ in series]
        parts.append(f"<h3>{esc(name)}</h3>{svg_chart(points)}")
    integrity, errors = _extras(stored)
    if integrity:
        parts.append("<h2>Integrity</h2><table><tr><th>table</th><th>check</th><th>offenders</th><th>detail</th></tr>")
        parts.extend(
            f"<tr><td>{esc(c['table'])}</td><td>{esc(c['check'])}</td><td>{c['offenders']}</td>"
            f"<td>{esc(c['detail'])}</td></tr>"
            for c in integrity
        )
        parts.append("</table>")
    if errors:
        parts.append("<h2>Errors</h2><ul>" + "".join(f"<li>{esc(n)}: {esc(e)}</li>" for n, e in errors.items()))
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_markdown_doc(run_id: int | None, created_at: datetime, doc: dict[str, Any]) -> str:
    """Markdown of a report that is not stored yet (or without history): no trend column data."""
    return render_markdown(StoredReport(run_id or 0, created_at, doc, {}))


def render(stored: StoredReport, fmt: str) -> str:
    if fmt == "json":
        series = {
            name: [{"at": at.isoformat(), "differing": n, "drift_pct": pct} for at, n, pct in points]
            for name, points in stored.series.items()
        }
        return json.dumps({"run_id": stored.run_id, "report": stored.doc, "drift_over_time": series}, indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(stored)
    if fmt == "html":
        return render_html(stored)
    if fmt == "table":
        buf = io.StringIO()
        render_table(stored, Console(file=buf, width=160, no_color=True))
        return buf.getvalue()
    msg = f"unknown format {fmt!r}"
    raise ReconcileError(msg, hint=f"use one of: {', '.join(FORMATS)}")
