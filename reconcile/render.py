"""Renderings of a reconciliation ``Report``: pure functions of the report, and writing one to a file.

A Rich table for terminals, JSON for machines (per table: ``source_only``, ``target_only``,
``changed``, ``unchanged`` counts plus samples), Markdown and HTML.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Column as RichColumn
from rich.table import Table as RichTable

from reconcile.model import Report, TableDiff
from smartsync.core.errors import ReconcileError
from smartsync.core.files import write_private

FORMATS = ("table", "json", "markdown", "html")
SAMPLE = 20


def _key_str(key: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in key) if len(key) != 1 else str(key[0])


def diff_to_json(diff: TableDiff) -> dict[str, Any]:
    return {
        "source": diff.source,
        "target": diff.target,
        "key": list(diff.key),
        "source_rows": diff.source_rows,
        "target_rows": diff.target_rows,
        "source_only": len(diff.source_only),
        "target_only": len(diff.target_only),
        "changed": len(diff.changed),
        "unchanged": diff.unchanged,
        "drift_pct": round(diff.drift_pct, 4),
        "changed_columns": diff.changed_by_column(),
        "null_keys": {"source": diff.source_null_keys, "target": diff.target_null_keys},
        "schema": {
            "missing_in_source": list(diff.schema.missing_in_source),
            "missing_in_target": list(diff.schema.missing_in_target),
            "retyped": [{"column": c, "source": s, "target": t} for c, s, t in diff.schema.retyped],
        },
        "samples": {
            "source_only": [list(k) for k in diff.source_only[:SAMPLE]],
            "target_only": [list(k) for k in diff.target_only[:SAMPLE]],
            "changed": [{"key": list(c.key), "columns": list(c.columns)} for c in diff.changed[:SAMPLE]],
        },
        "seconds": round(diff.seconds, 3),
        "note": diff.note,
    }


def report_to_json(report: Report) -> dict[str, Any]:
    return {
        "scope": report.scope,
        "generated_at": report.generated_at.isoformat(),
        "max_drift_pct": round(report.max_drift_pct, 4),
        "tables": {d.name: diff_to_json(d) for d in report.diffs},
        "integrity": [
            {"table": c.table, "check": c.check, "offenders": c.offenders, "detail": c.detail} for c in report.integrity
        ],
        "fixed": report.fixed,
        "errors": report.errors,
    }


def _rows(report: Report) -> list[list[str]]:
    rows = []
    for d in report.diffs:
        rows.append(
            [
                d.name,
                d.source,
                d.target,
                f"{d.source_rows:,}",
                f"{d.target_rows:,}",
                f"{len(d.source_only):,}",
                f"{len(d.target_only):,}",
                f"{len(d.changed):,}",
                f"{d.unchanged:,}",
                f"{d.drift_pct:.2f}%",
            ]
        )
    return rows


_HEAD = [
    "pair",
    "source",
    "target",
    "source rows",
    "target rows",
    "source-only",
    "target-only",
    "changed",
    "unchanged",
    "drift",
]


def _compact(n: int) -> str:
    """Large counts in millions on a terminal (``1.234M``); exact counts are in the JSON."""
    return f"{n / 1e6:.3f}M" if n >= 1_000_000 else f"{n:,}"


def render_table(report: Report, console: Console) -> None:
    heads = ["pair", "source", "target", "src-only", "tgt-only", "changed", "same", "drift"]
    cols = [RichColumn(heads[0], overflow="fold", min_width=12)] + [
        RichColumn(h, justify="right", no_wrap=True) for h in heads[1:]
    ]
    table = RichTable(
        *cols,
        title=f"reconciliation ({report.scope}) {report.generated_at:%Y-%m-%d %H:%M UTC}",
        box=box.SIMPLE,
        pad_edge=False,
        padding=(0, 1),
    )
    for row, d in zip(_rows(report), report.diffs, strict=True):
        style = "red" if d.differing else None
        big = (_compact(d.source_rows), _compact(d.target_rows))
        table.add_row(row[0], *big, *row[5:8], _compact(d.unchanged), row[9], style=style)
    console.print(table)
    for d in report.diffs:
        console.print(f"[dim]{d.name}: {d.source} → {d.target}{'; ' + d.note if d.note else ''}[/dim]")
    for d in report.diffs:
        if not d.schema.empty:
            console.print(f"[yellow]{d.name}: schema differs[/yellow] {diff_to_json(d)['schema']}")
        if d.changed:
            console.print(f"{d.name}: changed columns {d.changed_by_column()}")
    if report.integrity:
        it = RichTable("table", "check", "offenders", "detail", title="integrity")
        for c in report.integrity:
            it.add_row(c.table, c.check, str(c.offenders), c.detail, style="red" if c.offenders else None)
        console.print(it)
    for name, counts in report.fixed.items():
        console.print(f"[green]fixed {name}[/green]: {counts}")
    for name, err in report.errors.items():
        console.print(f"[red]{name}: {err}[/red]")


def render_markdown(report: Report) -> str:  # noqa: C901 — one flat document
    out = [
        f"# Reconciliation report ({report.scope})",
        "",
        f"Generated {report.generated_at:%Y-%m-%d %H:%M:%S} UTC.",
        "",
    ]
    out.append("| " + " | ".join(_HEAD) + " |")
    out.append("|" + " --- |" * len(_HEAD))
    out.extend("| " + " | ".join(r) + " |" for r in _rows(report))
    for d in report.diffs:
        if d.differing or not d.schema.empty or d.note:
            out += ["", f"## {d.name}", ""]
            if d.note:
                out.append(f"- {d.note}")
            if not d.schema.empty:
                out.append(f"- schema: {diff_to_json(d)['schema']}")
            if d.changed:
                out.append(f"- changed columns: {d.changed_by_column()}")
            for label, keys in (("source-only", d.source_only), ("target-only", d.target_only)):
                if keys:
                    out.append(f"- {label} keys (first {SAMPLE}): " + "; ".join(_key_str(k) for k in keys[:SAMPLE]))
    if report.integrity:
        out += ["", "## Integrity", "", "| table | check | offenders | detail |", "| --- | --- | --- | --- |"]
        out.extend(f"| {c.table} | {c.check} | {c.offenders} | {c.detail} |" for c in report.integrity)
    if report.fixed:
        out += ["", "## Fixed", ""] + [f"- {n}: {c}" for n, c in report.fixed.items()]
    if report.errors:
        out += ["", "## Errors", ""] + [f"- {n}: {e}" for n, e in report.errors.items()]
    return "\n".join(out) + "\n"


def render_html(report: Report) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>SmartSync reconciliation</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        ".drift{background:#fdd}</style></head><body>",
        f"<h1>Reconciliation report ({esc(report.scope)})</h1><p>Generated {report.generated_at:%Y-%m-%d %H:%M:%S} "
        "UTC.</p>",
        "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in _HEAD) + "</tr>",
    ]
    for row, d in zip(_rows(report), report.diffs, strict=True):
        cls = " class='drift'" if d.differing else ""
        parts.append(f"<tr{cls}>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>")
    parts.append("</table>")
    if report.integrity:
        parts.append("<h2>Integrity</h2><table><tr><th>table</th><th>check</th><th>offenders</th><th>detail</th></tr>")
        for c in report.integrity:
            cls = " class='drift'" if c.offenders else ""
            parts.append(
                f"<tr{cls}><td>{esc(c.table)}</td><td>{esc(c.check)}</td><td>{c.offenders}</td><td>{esc(c.detail)}</td></tr>"
            )
        parts.append("</table>")
    if report.fixed:
        parts.append(
            "<h2>Fixed</h2><ul>"
            + "".join(f"<li>{esc(n)}: {esc(str(c))}</li>" for n, c in report.fixed.items())
            + "</ul>"
        )
    if report.errors:
        parts.append(
            "<h2>Errors</h2><ul>" + "".join(f"<li>{esc(n)}: {esc(e)}</li>" for n, e in report.errors.items()) + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(report: Report, fmt: str) -> str:
    """The report as text in one of ``FORMATS`` (``table`` renders the Rich tables as plain text)."""
    if fmt == "json":
        return json.dumps(report_to_json(report), indent=2, default=str) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    if fmt == "table":
        buf = io.StringIO()
        render_table(report, Console(file=buf, width=160, no_color=True))
        return buf.getvalue()
    msg = f"unknown format {fmt!r}"
    raise ReconcileError(msg, hint=f"use one of: {', '.join(FORMATS)}")


def default_report_path(report: Report) -> Path:
    return Path(".smartsync") / "reports" / f"reconciliation-{report.scope}-{report.generated_at:%Y%m%dT%H%M%SZ}.md"


def write_report(report: Report, path: Path) -> None:
    fmt = {".json": "json", ".html": "html", ".md": "markdown", ".txt": "table"}.get(path.suffix, "markdown")
    write_private(path, render(report, fmt))  # 0600: a report names tables, keys and counts
