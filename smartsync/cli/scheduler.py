"""``smartsync scheduler plan | run [--once JOB]``: the catalog's batch jobs at their UTC schedules."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from types import FrameType

import typer
from rich.table import Table

from smartsync.cli.batch import MASS_DELETE_HELP, parse_time, print_result, steps
from smartsync.cli.console import console, handle_errors
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ConfigurationError

app = typer.Typer(no_args_is_help=True, help="The batch scheduler: every job at its UTC schedule, one at a time.")


def _parse_start(start: str | None) -> datetime:
    if start is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(start)
    except ValueError:
        msg = f"--start {start!r} is not an ISO-8601 time"
        raise ConfigurationError(msg, hint="e.g. --start 2026-12-06T00:00:00+00:00") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@app.command()
@handle_errors
def plan(
    hours: float = typer.Option(24, help="How far ahead to look"),
    start: str | None = typer.Option(None, help="Plan from this UTC time (default: now)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show what the scheduler will run, when, and which firings the maintenance window moves."""
    from reconcile.scheduler import plan_firings

    begin = _parse_start(start)
    firings = plan_firings(load_catalog(), begin, begin + timedelta(hours=hours))
    if as_json:
        rows = [
            {
                "run_at": f.run_at.isoformat(),
                "job": f.job,
                "scheduled_for": f.scheduled_for.isoformat(),
                "note": "after the maintenance window" if f.run_at != f.scheduled_for else "",
            }
            for f in firings
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    # Job names are keys an operator copies into `--once JOB`: never cut or wrapped, whatever the width.
    table = Table("runs at (UTC)", "job", "scheduled for", "note")
    table.columns[1].no_wrap = True
    table.columns[1].min_width = max((len(f.job) for f in firings), default=3)
    for firing in firings:
        note = "after the maintenance window" if firing.run_at != firing.scheduled_for else ""
        table.add_row(f"{firing.run_at:%a %Y-%m-%d %H:%M}", firing.job, f"{firing.scheduled_for:%H:%M}", note)
    console.print(table)


@app.command()
@handle_errors
def run(
    metrics_port: int = typer.Option(9108, help="Port of the /metrics endpoint (0: none)"),
    once: str | None = typer.Option(
        None, "--once", metavar="JOB", help="Run this one job exactly as the scheduler would, then exit."
    ),
    scheduled_for: str | None = typer.Option(
        None, "--scheduled-for", help="With --once: the firing to run (ISO time, e.g. Airflow's logical date)."
    ),
    allow_mass_delete: bool = typer.Option(False, "--allow-mass-delete", help=MASS_DELETE_HELP),
) -> None:
    """Run the batch jobs at their schedules until stopped (SIGTERM or Ctrl-C finishes the current job).

    On start it reads smartsync.job_runs: a firing missed while it was down runs once, flagged
    late; stale running records are closed as failed. With --once JOB it runs one firing with
    the same policy (window, lock, fix, no second run of a firing that succeeded) and exits.
    """
    from reconcile.scheduled import close_all_stale, resume, run_scheduled
    from reconcile.scheduler import Scheduler, next_firings
    from smartsync.core.settings import load_settings

    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn")).for_component("reconciler")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    catalog = load_catalog()
    if once is not None:
        firing = parse_time(scheduled_for, "--scheduled-for") if scheduled_for else None
        with steps(once) as step:
            result = run_scheduled(
                once, settings, catalog=catalog, scheduled_for=firing, allow_mass_delete=allow_mass_delete, on_step=step
            )
        print_result(result)
        return
    if scheduled_for is not None:
        msg = "--scheduled-for needs --once JOB"
        raise ConfigurationError(msg, hint="the scheduler loop runs each job at its own firings")
    from prometheus_client import start_http_server

    if metrics_port:
        start_http_server(metrics_port)
    log = logging.getLogger("smartsync.scheduler")

    def run_one(job: str, at: datetime, late: bool) -> object:
        log.info("running %s (scheduled %s%s)", job, at.isoformat(), ", late" if late else "")
        return run_scheduled(job, settings, catalog=catalog, scheduled_for=at, late=late)

    close_all_stale(catalog, settings)
    now = datetime.now(UTC)
    scheduler = Scheduler(catalog, run_one, sleep=time.sleep, last=resume(catalog, settings, now))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.stopped = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    first = next_firings(scheduler.catalog, scheduler.last)[0]
    console.print(
        f"scheduler running; next job {first.job} at {max(first.run_at, now):%Y-%m-%d %H:%M} UTC; "
        f"metrics on :{metrics_port}"
    )
    scheduler.run_forever()


@app.command()
@handle_errors
def window() -> None:
    """Exit 0 outside the monthly maintenance window, 1 inside it (orchestrators' gate before a job)."""
    from reconcile.cron import in_maintenance, maintenance_end

    catalog = load_catalog()
    now = datetime.now(UTC)
    if in_maintenance(catalog.maintenance, now):
        end = maintenance_end(catalog.maintenance, now)
        console.print(f"inside the maintenance window until {end:%Y-%m-%d %H:%M} UTC: batch jobs wait")
        raise typer.Exit(1)
    console.print("outside the maintenance window")
