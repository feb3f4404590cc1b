"""``smartsync reconcile diff | report | history``: compare synced pairs (or any two tables), fix, report.

Exit codes: 0 when drift is within ``--max-drift`` (percent of rows; default 0: any
difference counts), 4 when it exceeds it, 1 on an error (nothing applied), 2 on a usage error.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from reconcile.model import TableDiff
from smartsync.cli.batch import FORCE_HELP, MASS_DELETE_HELP, freeze_loaded, steps
from smartsync.cli.console import console, handle_errors
from smartsync.core.errors import ReconcileError
from smartsync.core.files import write_private

app = typer.Typer(no_args_is_help=True, help="Diff synced pairs or any two PostgreSQL tables; fix drift; report.")

# Its own code: 2 is a usage error (click), 3 is `masking scan` finding personal data.
DRIFT_EXIT = 4


def _exit_on_drift(drift_pct: float, max_drift: float) -> None:
    if drift_pct > max_drift:
        raise typer.Exit(DRIFT_EXIT)


@app.command()
@handle_errors
def diff(
    table: str | None = typer.Option(
        None, "--table", help="Synced pair: sync name or target table (e.g. profile_summary)."
    ),
    fix: bool = typer.Option(False, "--fix", help="Apply the difference to the target, then diff again."),
    source: str | None = typer.Option(None, "--source", help="Generic mode: source DSN."),
    target: str | None = typer.Option(None, "--target", help="Generic mode: target DSN."),
    source_table: str | None = typer.Option(None, "--source-table", help="Generic mode: schema.table of the source."),
    target_table: str | None = typer.Option(None, "--target-table", help="Generic mode: schema.table of the target."),
    key: str | None = typer.Option(None, "--key", help="Generic mode: key column(s), comma-separated."),
    columns: str | None = typer.Option(
        None, "--columns", help="Generic mode: compared columns (default: the source's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    max_drift: float = typer.Option(0.0, "--max-drift", help="Exit 4 when more than this percent of rows differ."),
    connections: int | None = typer.Option(
        None, "--connections", help="Generic mode: connections to use (default 4, at most 10)."
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    allow_mass_delete: bool = typer.Option(False, "--allow-mass-delete", help=MASS_DELETE_HELP),
) -> None:
    """Diff one synced pair (--table) or any two tables (--source/--target/--source-table/--target-table/--key)."""
    generic = any(v is not None for v in (source, target, source_table, target_table, key))
    if generic == (table is not None):
        msg = "give either --table NAME, or all of --source --target --source-table --target-table --key"
        raise ReconcileError(msg)
    if generic:
        if fix:
            msg = "--fix works on synced pairs only"
            raise ReconcileError(msg, hint="use --table NAME")
        if None in (source, target, source_table, target_table, key):
            msg = "generic mode needs --source, --target, --source-table, --target-table and --key"
            raise ReconcileError(msg)
        result = _generic(
            str(source), str(target), str(source_table), str(target_table), str(key), columns, connections
        )
        _print_diffs([result], as_json)
        _exit_on_drift(result.drift_pct, max_drift)
        return
    from reconcile.apply import summary
    from reconcile.compare import compare, compare_and_fix
    from reconcile.report import find_sync
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    freeze_loaded()
    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn")).for_component("reconciler")  # no Kafka
    catalog = load_catalog()
    sync = find_sync(catalog, str(table))
    if fix:
        from reconcile.scheduled import refuse_in_window

        refuse_in_window(catalog.maintenance, force=force, command="reconcile diff --fix")
    if not fix:
        with steps(f"diff {sync.name}") as step:
            found = compare(sync, settings, on_step=step).diff
        _print_diffs([found], as_json)
        _exit_on_drift(found.drift_pct, max_drift)
        return
    with steps(f"diff {sync.name}") as step:
        fixed = compare_and_fix(sync, settings, on_step=step, allow_mass_delete=allow_mass_delete)
    if fixed.applied is None:  # a report-only pair
        _print_diffs([fixed.diff], as_json)
        _exit_on_drift(fixed.diff.drift_pct, max_drift)
        return
    with steps(f"verify {sync.name}") as step:
        after = compare(sync, settings, on_step=step).diff
    _print_fixed(fixed.diff, summary(fixed.applied), after, as_json)
    _exit_on_drift(after.drift_pct, max_drift)


def _print_fixed(found: TableDiff, fixed: dict[str, Any], after: TableDiff, as_json: bool) -> None:
    if as_json:
        from reconcile.render import diff_to_json

        print(
            json.dumps(
                {
                    "before": {found.name: diff_to_json(found)},
                    "fixed": fixed,
                    "after": {after.name: diff_to_json(after)},
                },
                indent=2,
                default=str,
            )
        )
    else:
        _print_diffs([found], as_json=False)
        console.print(f"[green]fixed[/green] {found.name}: {fixed}")
        console.print(f"after the fix: {after.differing:,} rows differ")


def _generic(
    source: str,
    target: str,
    source_table: str,
    target_table: str,
    key: str,
    columns: str | None,
    connections: int | None,
) -> TableDiff:
    from reconcile.generic import compare_tables

    freeze_loaded()
    with steps(f"diff {source_table} → {target_table}") as step:
        return compare_tables(
            source_dsn=source,
            target_dsn=target,
            source_table=source_table,
            target_table=target_table,
            key=[k.strip() for k in key.split(",") if k.strip()],
            columns=[c.strip() for c in columns.split(",")] if columns else None,
            connections=connections,
            on_step=step,
        )


def _print_diffs(diffs: list[TableDiff], as_json: bool) -> None:
    from reconcile.model import Report
    from reconcile.render import render, render_table

    report = Report("diff", datetime.now(UTC), tuple(diffs))
    if as_json:
        sys.stdout.write(render(report, "json"))
    else:
        render_table(report, console)


@app.command()
@handle_errors
def report(
    scope: str = typer.Option("daily", "--scope", help="hourly | daily | weekly (weekly adds integrity checks)."),
    fmt: str = typer.Option("table", "--format", help="table | json | markdown | html"),
    output: Path | None = typer.Option(None, "--output", help="Write the report to this file instead of stdout."),
    fix: bool = typer.Option(False, "--fix", help="Repair what the diffs find."),
    table: list[str] | None = typer.Option(None, "--table", help="Only these pairs (repeatable)."),
    max_drift: float = typer.Option(0.0, "--max-drift", help="Exit 4 when a pair differs by more than this percent."),
    run: int | None = typer.Option(None, "--run", help="Render the stored report of this run (`reconcile history`)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    allow_mass_delete: bool = typer.Option(False, "--allow-mass-delete", help=MASS_DELETE_HELP),
) -> None:
    """Diff every pair of a scope and report, or render a stored report (--run ID); exit 4 above --max-drift."""
    if run is not None:
        _stored(run, fmt, output, max_drift)
        return
    from reconcile.render import FORMATS, render, render_table
    from reconcile.report import SCOPES, build_report
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    freeze_loaded()
    if scope not in SCOPES:
        msg = f"unknown scope {scope!r}"
        raise ReconcileError(msg, hint=f"use one of: {', '.join(SCOPES)}")
    if fmt not in FORMATS:
        msg = f"unknown format {fmt!r}"
        raise ReconcileError(msg, hint=f"use one of: {', '.join(FORMATS)}")
    settings = load_settings().for_component("reconciler")
    catalog = load_catalog()
    if fix:
        from reconcile.scheduled import refuse_in_window

        refuse_in_window(catalog.maintenance, force=force, command="reconcile report --fix")
    with steps(f"report {scope}") as step:
        rep = build_report(
            catalog,
            settings,
            scope=scope,
            fix=fix,
            tables=table or None,
            on_step=step,
            allow_mass_delete=allow_mass_delete,
        )
    if output is not None:
        write_private(output, render(rep, fmt))
        console.print(f"report written to {output}")
    elif fmt == "table":
        render_table(rep, console)
    else:
        sys.stdout.write(render(rep, fmt))
    if rep.errors:
        raise typer.Exit(1)
    _exit_on_drift(rep.max_drift_pct, max_drift)


def _stored(run_id: int, fmt: str, output: Path | None, max_drift: float) -> None:
    from reconcile.history import load_report
    from reconcile.stored import FORMATS, render, render_table
    from smartsync.core.settings import load_settings
    from smartsync.core.tables import Database

    if fmt not in FORMATS:
        msg = f"unknown format {fmt!r}"
        raise ReconcileError(msg, hint=f"use one of: {', '.join(FORMATS)}")
    settings = load_settings(needs=("warehouse_dsn",))
    stored = load_report(settings.dsn(Database.WAREHOUSE), run_id)
    if output is not None:
        write_private(output, render(stored, fmt))
        console.print(f"report written to {output}")
    elif fmt == "table":
        render_table(stored, console)
    else:
        sys.stdout.write(render(stored, fmt))
    _exit_on_drift(float(stored.doc.get("max_drift_pct", 0.0)), max_drift)


@app.command()
@handle_errors
def history(
    limit: int = typer.Option(20, "--limit", help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the stored weekly reconciliation runs with their drift (render one: `reconcile report --run ID`)."""
    from dataclasses import asdict

    from rich.table import Table

    from reconcile.history import list_runs
    from smartsync.core.settings import load_settings
    from smartsync.core.tables import Database

    settings = load_settings(needs=("warehouse_dsn",))
    runs = list_runs(settings.dsn(Database.WAREHOUSE), limit=limit)
    if as_json:
        print(json.dumps([asdict(r) for r in runs], indent=2, default=str))
        return
    out = Table("run", "job", "at (UTC)", "status", "pairs", "differing rows", "max drift", "fixed rows", "errors")
    for r in runs:
        out.add_row(
            str(r.run_id),
            r.job,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            r.status + (" (late)" if r.late else ""),
            str(r.pairs),
            f"{r.differing:,}",
            f"{r.max_drift_pct:.2f}%",
            f"{r.fixed:,}",
            str(r.errors),
            style="red" if r.errors or r.status == "failed" else None,
        )
    console.print(out)


@app.command()
@handle_errors
def changes(
    sync: str = typer.Option(..., "--sync", help="Sync name (e.g. profile_summary)."),
    since: str | None = typer.Option(None, "--since", help="A kept run (see --list) or an ISO time."),
    side: str = typer.Option("target", "--side", help="target | source"),
    list_runs: bool = typer.Option(False, "--list", help="List the kept snapshots of the sync."),
    limit: int = typer.Option(20, "--limit", help="Keys shown per kind."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a summary."),
) -> None:
    """What changed on one side of a sync between a kept snapshot and the newest one (reads files only)."""
    from reconcile.snapshots import SnapshotPolicy, pick_since, snapshots_of
    from reconcile.snapshots import changes as diff_snapshots
    from smartsync.core.errors import ReconcileError
    from smartsync.core.settings import load_settings

    if side not in ("source", "target"):
        msg = f"--side {side!r} is neither source nor target"
        raise ReconcileError(msg, hint="give --side target or --side source")
    settings = load_settings()
    snaps = snapshots_of(SnapshotPolicy.of(settings), sync)
    if list_runs or since is None:
        rows = [{"run": s.run, "taken_at": s.taken_at.isoformat(), "evidence": s.meta.get("evidence")} for s in snaps]
        print(json.dumps(rows, indent=2) if as_json else "\n".join(f"{r['run']}  {r['evidence'] or ''}" for r in rows))
        return
    if len(snaps) < 2:
        msg = f"{sync}: {len(snaps)} snapshot(s) kept under {settings.snapshot_dir}, two are needed"
        raise ReconcileError(msg, hint="run a full diff or batch job of the sync first")
    old, new = pick_since(snaps[:-1], since), snaps[-1]
    found = diff_snapshots(old, new, side, memory_limit=settings.batch_memory_limit)
    if as_json:
        print(json.dumps(found.as_json(limit), indent=2))
        return
    key = "key hash" if found.key_is_hashed else "key"
    console.print(f"{sync} ({side}) from {found.since} to {found.until}:")
    console.print(f"  inserted {len(found.inserted):,}, deleted {len(found.deleted):,}, changed {len(found.changed):,}")
    for col, n in found.by_column.items():
        console.print(f"    {col}: {n:,}")
    for label, keys in (("inserted", found.inserted), ("deleted", found.deleted), ("changed", list(found.changed))):
        if keys:
            console.print(f"  {label} ({key}): {', '.join(map(str, keys[:limit]))}{' …' if len(keys) > limit else ''}")
