"""``smartsync batch list | runs [JOB] | run JOB``, ``smartsync backfill SYNC|--all``: the batch jobs, runnable now."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Column, Table

from smartsync.cli.console import console, err_console, handle_errors
from smartsync.core.errors import ReconcileError

if TYPE_CHECKING:
    from reconcile.jobs import JobResult

app = typer.Typer(
    no_args_is_help=True, help="Batch jobs: full refreshes, incrementals, aggregates, the weekly reconciliation."
)


def freeze_loaded() -> None:
    """Park the objects of every module loaded so far outside the garbage collector.

    A command calls it once it has imported what it runs: the collections during the run,
    and the one the interpreter makes as the process ends, then skip the objects of numpy,
    psycopg, pydantic and the catalog (measured: about 0.1 s off the end of every command).
    """
    gc.freeze()


@contextlib.contextmanager
def steps(title: str) -> Iterator[Callable[[str], None]]:
    """A progress bar on a terminal, nothing otherwise; yields a function that names the current step."""
    if not err_console.is_terminal:
        yield lambda _msg: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console, transient=True
    ) as bar:
        task = bar.add_task(title)
        yield lambda msg: bar.update(task, description=f"{title}: {msg}")


@app.command("list")
@handle_errors
def list_jobs(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List every batch job with its schedule (UTC) and next run."""
    from reconcile.cron import in_maintenance, next_allowed_run
    from smartsync.core.catalog import load_catalog

    catalog = load_catalog()
    now = datetime.now(UTC)
    if as_json:
        w = catalog.maintenance
        jobs = [
            {
                "job": sch.job,
                "sync": sync.name if sync else None,
                "mode": sch.mode.value if sync else "reconcile",
                "cron": sch.cron,
                "next_run": next_allowed_run(sch.cron, now, catalog.maintenance).isoformat(),
                "expected_minutes": sch.expected_minutes,
            }
            for sync, sch in catalog.jobs()
        ]
        window = {**w.model_dump(), "in_progress": in_maintenance(w, now)}
        console.print_json(json.dumps({"jobs": jobs, "maintenance": window}))
        return
    table = Table(
        *(Column(h, no_wrap=True) for h in ("job", "mode", "cron (UTC)", "next run (UTC)", "takes")), box=box.SIMPLE
    )
    for sync, sch in catalog.jobs():
        nxt = next_allowed_run(sch.cron, now, catalog.maintenance)
        table.add_row(
            sch.job,
            sch.mode.value if sync else "reconcile",
            sch.cron,
            f"{nxt:%Y-%m-%d %H:%M}",
            f"{sch.expected_minutes}m",
        )
    console.print(table)
    w = catalog.maintenance
    state = "[yellow]now in progress[/yellow]" if in_maintenance(w, now) else "not now"
    console.print(
        f"maintenance window: day {w.nth_in_month} weekday {w.weekday} (0=Mon) of each month, "
        f"{w.start_hour_utc:02d}:00-{w.end_hour_utc:02d}:00 UTC ({state}): batch jobs pause"
    )


def parse_time(value: str, option: str) -> datetime:
    """An ISO-8601 time (Airflow's ``{{ logical_date }}`` works as is); naive times are UTC."""
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        msg = f"{option} {value!r} is not an ISO-8601 time"
        raise ReconcileError(msg, hint=f"e.g. {option} 2026-12-06T00:00:00+00:00") from None
    return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)


FORCE_HELP = "Run even inside the monthly maintenance window (logged)."
MASS_DELETE_HELP = "Allow a fix to delete more than SMARTSYNC_BATCH_MAX_DELETE_PCT of a target."


@app.command("runs")
@handle_errors
def runs(
    job: str = typer.Argument(None, help="One job (default: every job)"),
    limit: int = typer.Option(20, "--limit", min=1, help="Newest runs to show"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """The run history from smartsync.job_runs (both databases), newest first."""
    from reconcile.job_history import recent_runs
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    records = recent_runs(load_catalog(), load_settings(("warehouse_dsn", "citizen_dsn")), job, limit)
    if as_json:
        console.print_json(json.dumps([r.as_json() for r in records]))
        return
    if not records:
        console.print("no runs recorded yet")
        return
    table = Table(
        Column("run", justify="right"),
        Column("job", no_wrap=True, min_width=max(len(r.job) for r in records)),  # the key: never cut
        Column("scheduled (UTC)", no_wrap=True),
        Column("started (UTC)", no_wrap=True),
        Column("took", justify="right"),
        Column("status", no_wrap=True),
        Column("read / ins / upd / del", justify="right", no_wrap=True),
        Column("error", overflow="fold"),
        box=box.SIMPLE,
    )
    for r in records:
        took = "" if r.seconds is None else f"{r.seconds:.1f}s"
        status = f"{r.status} (late)" if r.late else r.status
        scheduled = "" if r.scheduled_for is None else f"{r.scheduled_for:%Y-%m-%d %H:%M}"
        counts = f"{r.rows_read} / {r.rows_inserted} / {r.rows_updated} / {r.rows_deleted}"
        table.add_row(
            str(r.run_id), r.job, scheduled, f"{r.started_at:%Y-%m-%d %H:%M:%S}", took, status, counts, r.error or ""
        )
    # A pipe or a file gets whole lines; a terminal keeps its width and squeezes the other columns.
    console.print(table, width=None if console.is_terminal else 240)


@app.command("run")
@handle_errors
def run(
    job: str = typer.Argument(..., help="Job name (see `smartsync batch list`)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Diff and report, write nothing."),
    fix: bool = typer.Option(False, "--fix", help="Weekly reconciliation: also repair what it finds."),
    report: Path | None = typer.Option(
        None, "--report", help="Weekly reconciliation: also write the report here (.md/.json/.html)."
    ),
    force: bool = typer.Option(False, "--force", "--ignore-maintenance", help=FORCE_HELP),
    allow_mass_delete: bool = typer.Option(False, "--allow-mass-delete", help=MASS_DELETE_HELP),
    scheduled_for: str | None = typer.Option(
        None, "--scheduled-for", help="Run for this past firing (ISO time; snapped to the job's cron): a backfill."
    ),
) -> None:
    """Run one job now and record it in smartsync.job_runs (a run of the same job elsewhere refuses it)."""
    from reconcile.jobs import RunOptions, find_job, run_job
    from reconcile.scheduled import latest_firing, refuse_in_window
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    freeze_loaded()
    catalog = load_catalog()
    find_job(catalog, job)
    firing = None
    if scheduled_for is not None:
        asked = parse_time(scheduled_for, "--scheduled-for")
        firing = latest_firing(catalog, job, asked)
        if firing != asked:
            console.print(
                f"[dim]--scheduled-for {asked:%Y-%m-%d %H:%M} is the firing of {firing:%Y-%m-%d %H:%M} UTC[/dim]"
            )
    if not dry_run:
        refuse_in_window(catalog.maintenance, force=force, command=f"batch run {job}")
    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn")).for_component("reconciler")
    options = RunOptions(dry_run=dry_run, fix=fix, allow_mass_delete=allow_mass_delete)
    with steps(job) as step:
        result = run_job(
            job, settings, scheduled_for=firing, report_path=report, on_step=step, catalog=catalog, options=options
        )
    print_result(result)


def print_result(result: JobResult) -> None:
    """One job's outcome: its diffs (unless it reported), counts, watermark, where its report went."""
    job, dry_run = result.job, result.dry_run
    if result.status == "skipped":
        console.print(
            f"[green]{job}[/green] firing {result.scheduled_for:%Y-%m-%d %H:%M} UTC already succeeded "
            f"(run {result.run_id}): not run again"
        )
        return
    if result.report is None:
        from reconcile.model import Report
        from reconcile.render import render_table

        render_table(Report(job, result.started_at, result.diffs), console)
    c = result.counts
    verb = "would write" if dry_run else "wrote"
    console.print(
        f"[green]{job}[/green] {result.status} in {result.seconds:.2f}s: read {c.read:,}; {verb} "
        f"{sum(len(d.source_only) + len(d.changed) for d in result.diffs) if dry_run else c.inserted + c.updated:,} "
        "upserts"
        + (
            ""
            if dry_run
            else f" ({c.inserted:,} inserted, {c.updated:,} updated), {c.deleted:,} deleted, "
            f"{result.skipped_stale:,} skipped as older than the target"
        )
    )
    if result.stale_closed:
        console.print(f"[yellow]closed {result.stale_closed} stale running record(s) of {job} as failed[/yellow]")
    if result.watermark is not None:
        console.print(f"watermark: {result.watermark.isoformat()}" + (" (not stored: dry run)" if dry_run else ""))
    if result.report_path:
        console.print(f"report: {result.report_path}")
    if result.report is not None and result.run_id is not None:
        console.print(f"stored report: smartsync reconcile report --run {result.run_id}")


@handle_errors
def backfill(
    sync: str | None = typer.Argument(None, help="Event sync to backfill (see `smartsync batch list`)."),
    all_syncs: bool = typer.Option(False, "--all", help="Every event sync, in dependency order."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Diff and report, write nothing."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    allow_mass_delete: bool = typer.Option(False, "--allow-mass-delete", help=MASS_DELETE_HELP),
) -> None:
    """Go-live backfill: copy the rows that existed before the event path started (full diff and fix)."""
    from reconcile.jobs import backfill as run_backfill
    from reconcile.kinds import fix_order
    from reconcile.scheduled import refuse_in_window
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    freeze_loaded()
    catalog = load_catalog()
    if all_syncs == (sync is not None):
        msg = "give one sync or --all"
        raise ReconcileError(msg, hint="event syncs: " + ", ".join(s.name for s in catalog.event_syncs()))
    syncs = list(catalog.event_syncs()) if all_syncs else [catalog.sync(str(sync))]
    for chosen in syncs:
        if not chosen.has_event_path:
            msg = f"sync {chosen.name!r} has no event path: its batch jobs fill it"
            raise ReconcileError(msg, hint="run `smartsync batch run` with one of its jobs")
    if not dry_run:
        refuse_in_window(catalog.maintenance, force=force, command="backfill")
    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn")).for_component("reconciler")
    for chosen in fix_order(syncs):
        with steps(f"backfill {chosen.name}") as step:
            result = run_backfill(chosen, settings, dry_run=dry_run, allow_mass_delete=allow_mass_delete, on_step=step)
        print_result(result)
