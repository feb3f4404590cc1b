"""Reconciliation reports: which pairs a scope covers, integrity checks, and the renderings.

Building a report reads the databases; rendering (``render``) is a pure function of the
``Report``: a Rich table for terminals, JSON for machines (per table: ``source_only``,
``target_only``, ``changed``, ``unchanged`` counts plus samples), Markdown and HTML.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Column as RichColumn
from rich.table import Table as RichTable

from connectors.postgres.apply import ApplyResult
from reconcile.apply import apply_plan, plan_changes, summary
from reconcile.diff import quote_ident, quote_table
from reconcile.engine import connect, has_unique_key
from reconcile.model import IntegrityCheck, Report, TableDiff
from reconcile.pairing import Kind, deletes_on_fix, fix_order, fixable, kind_of, run_diff
from reconcile.schedule import next_run, utc_day
from smartsync.core.catalog import Catalog, Direction, Sync
from smartsync.core.errors import ReconcileError, SmartSyncError
from smartsync.core.settings import Settings
from smartsync.core.tables import SCHEMA, Database

SCOPES = ("hourly", "daily", "weekly")
FORMATS = ("table", "json", "markdown", "html")
SAMPLE = 20
# The weekly reconciliation recomputes this many complete days of an aggregate sync.
AGGREGATE_DAYS = {"daily": 1, "weekly": 7, "hourly": 1}

Step = Callable[[str], None]


def _interval_hours(cron: str) -> float:
    base = datetime(2026, 1, 5, tzinfo=UTC)
    first = next_run(cron, base)
    return (next_run(cron, first) - first).total_seconds() / 3600


def syncs_in_scope(catalog: Catalog, scope: str) -> list[Sync]:
    """hourly: syncs with an hourly job; daily: with a daily (or hourly) job; weekly: every sync."""
    if scope not in SCOPES:
        msg = f"unknown scope {scope!r}"
        raise ReconcileError(msg, hint=f"use one of: {', '.join(SCOPES)}")
    if scope == "weekly":
        return list(catalog.syncs)
    limit = 1.0 if scope == "hourly" else 24.0
    return [s for s in catalog.syncs if any(_interval_hours(sch.cron) <= limit for sch in s.schedules)]


def find_sync(catalog: Catalog, name: str) -> Sync:
    """A sync by its name or by its target (or source) table name."""
    for sync in catalog.syncs:
        if name in (sync.name, sync.target, sync.target.split(".", 1)[1]):
            return sync
    for sync in catalog.syncs:
        if name in (sync.source, sync.source.split(".", 1)[1]):
            return sync
    known = ", ".join(s.name for s in catalog.syncs)
    msg = f"unknown table or sync {name!r}"
    raise ReconcileError(msg, hint=f"synced pairs: {known}")


def aggregate_window(scope: str, now: datetime) -> tuple[datetime, datetime]:
    today, _ = utc_day(now)
    return today - timedelta(days=AGGREGATE_DAYS.get(scope, 1)), today


def diff_sync(
    sync: Sync, settings: Settings, *, scope: str = "weekly", fix: bool = False, now: datetime | None = None,
    on_step: Step | None = None,
) -> tuple[TableDiff, dict[str, int] | None]:
    """Diff one synced pair (how depends on its kind); fix it when asked and fixable."""
    now = now or datetime.now(UTC)
    kind = kind_of(sync)
    days = aggregate_window(scope, now) if kind is Kind.AGGREGATE else None
    outcome, kind, _ = run_diff(sync, settings, days=days, keep_rows=fix, on_step=on_step)
    if not fix or not fixable(kind):
        return outcome.diff, None
    diff = outcome.diff
    if diff.schema.missing_in_target or diff.schema.missing_in_source:
        msg = f"{sync.name}: cannot fix while the tables differ in shape"
        raise ReconcileError(
            msg, hint="run `smartsync db migrate`; nothing was applied"
        )
    table = SCHEMA.table(sync.target_database, sync.target)
    result = apply_plan(
        settings.dsn(sync.target_database), table, plan_changes(outcome, deletes=deletes_on_fix(kind, sync)),
        what=sync.target_database.value,
    )
    return diff, summary(result)


# ── integrity checks ────────────────────────────────────────────────────────────────────


def citizen_registries(catalog: Catalog) -> dict[Database, str]:
    """The table of record for citizens in each database: both ends of the citizen profile sync."""
    found: dict[Database, str] = {}
    for sync in catalog.syncs:
        if sync.direction is Direction.CITIZEN_TO_WAREHOUSE and sync.key == ("citizen_id",) and sync.has_event_path:
            found[sync.source_database] = sync.source
            found[sync.target_database] = sync.target
    return found


def integrity_checks(catalog: Catalog, settings: Settings, syncs: Iterable[Sync], diffs: dict[str, TableDiff]) -> list[IntegrityCheck]:
    """Null keys, duplicate keys and orphaned citizen references of every table of the pairs."""
    checks: list[IntegrityCheck] = []
    registries = citizen_registries(catalog)
    seen: set[tuple[Database, str]] = set()
    for sync in syncs:
        diff = diffs.get(sync.name)
        for database, name, is_target in ((sync.source_database, sync.source, False), (sync.target_database, sync.target, True)):
            if (database, name) in seen:
                continue
            seen.add((database, name))
            table = SCHEMA.table(database, name)
            label = f"{database.value}.{name}"
            conn = connect(settings.dsn(database), what=database.value)
            try:
                key = table.primary_key
                nulls = _count(conn, f"SELECT count(*) FROM {quote_table(name)} WHERE " + " OR ".join(f"{quote_ident(k)} IS NULL" for k in key))
                if diff is not None and is_target:
                    nulls = max(nulls, diff.target_null_keys)
                checks.append(IntegrityCheck(label, "null keys", nulls, f"key {list(key)}"))
                dups = 0
                if not has_unique_key(conn, name, list(key)):
                    cols = ", ".join(quote_ident(k) for k in key)
                    dups = _count(conn, f"SELECT count(*) FROM (SELECT 1 FROM {quote_table(name)} GROUP BY {cols} HAVING count(*) > 1) d")
                checks.append(IntegrityCheck(label, "duplicate keys", dups, "unique index present" if not dups else ""))
                registry = registries.get(database)
                if registry and registry != name and "citizen_id" in table.column_names:
                    orphans = _count(
                        conn,
                        f"SELECT count(*) FROM {quote_table(name)} x WHERE NOT EXISTS "
                        f"(SELECT 1 FROM {quote_table(registry)} r WHERE r.citizen_id = x.citizen_id)",
                    )
                    checks.append(IntegrityCheck(label, "orphans: citizen_id", orphans, f"not in {registry}"))
            finally:
                conn.close()
    return checks


def _count(conn: Any, query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def build_report(
    catalog: Catalog, settings: Settings, *, scope: str, fix: bool = False, tables: Iterable[str] | None = None,
    now: datetime | None = None, on_step: Step | None = None,
) -> Report:
    """Diff every pair of the scope (fix when asked); the weekly scope adds integrity checks."""
    step = on_step or (lambda _m: None)
    syncs = fix_order([find_sync(catalog, t) for t in tables] if tables else syncs_in_scope(catalog, scope))
    diffs: dict[str, TableDiff] = {}
    fixed: dict[str, dict[str, int]] = {}
    errors: dict[str, str] = {}
    for sync in syncs:
        step(f"diff {sync.name}")
        try:
            diff, result = diff_sync(sync, settings, scope=scope, fix=fix, now=now)
        except SmartSyncError as exc:
            errors[sync.name] = str(exc)
            continue
        diffs[sync.name] = diff
        if result is not None:
            fixed[sync.name] = result
    integrity: list[IntegrityCheck] = []
    if scope == "weekly":
        step("integrity checks")
        try:
            integrity = integrity_checks(catalog, settings, syncs, diffs)
        except SmartSyncError as exc:
            errors["integrity"] = str(exc)
    return Report(scope, now or datetime.now(UTC), tuple(diffs.values()), tuple(integrity), fixed, errors)


def total_fixed(report: Report) -> ApplyResult:
    total = ApplyResult()
    for c in report.fixed.values():
        total = total + ApplyResult(c["inserted"], c["updated"], c["deleted"], c["skipped_stale"])
    return total


# ── rendering ───────────────────────────────────────────────────────────────────────────


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
        rows.append([
            d.name, d.source, d.target, f"{d.source_rows:,}", f"{d.target_rows:,}", f"{len(d.source_only):,}",
            f"{len(d.target_only):,}", f"{len(d.changed):,}", f"{d.unchanged:,}", f"{d.drift_pct:.2f}%",
        ])
    return rows


_HEAD = ["pair", "source", "target", "source rows", "target rows", "source-only", "target-only", "changed", "unchanged", "drift"]


def _compact(n: int) -> str:
    """Large counts in millions on a terminal (``1.234M``); exact counts are in the JSON."""
    return f"{n / 1e6:.3f}M" if n >= 1_000_000 else f"{n:,}"


def render_table(report: Report, console: Console) -> None:
    heads = ["pair", "source", "target", "src-only", "tgt-only", "changed", "same", "drift"]
    cols = [RichColumn(heads[0], overflow="fold", min_width=12)] + [
        RichColumn(h, justify="right", no_wrap=True) for h in heads[1:]
    ]
    table = RichTable(
        *cols, title=f"reconciliation ({report.scope}) {report.generated_at:%Y-%m-%d %H:%M UTC}", box=box.SIMPLE,
        pad_edge=False, padding=(0, 1),
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
    out = [f"# Reconciliation report ({report.scope})", "", f"Generated {report.generated_at:%Y-%m-%d %H:%M:%S} UTC.", ""]
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
        f"<h1>Reconciliation report ({esc(report.scope)})</h1><p>Generated {report.generated_at:%Y-%m-%d %H:%M:%S} UTC.</p>",
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
            parts.append(f"<tr{cls}><td>{esc(c.table)}</td><td>{esc(c.check)}</td><td>{c.offenders}</td><td>{esc(c.detail)}</td></tr>")
        parts.append("</table>")
    if report.fixed:
        parts.append("<h2>Fixed</h2><ul>" + "".join(f"<li>{esc(n)}: {esc(str(c))}</li>" for n, c in report.fixed.items()) + "</ul>")
    if report.errors:
        parts.append("<h2>Errors</h2><ul>" + "".join(f"<li>{esc(n)}: {esc(e)}</li>" for n, e in report.errors.items()) + "</ul>")
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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, fmt))
