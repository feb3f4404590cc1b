"""``smartsync scheduler plan | run``: the catalog's batch jobs at their UTC schedules."""

from __future__ import annotations

import logging
import signal
import time
from datetime import UTC, datetime, timedelta
from types import FrameType

import typer
from rich.table import Table

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
) -> None:
    """Show what the scheduler will run, when, and which firings the maintenance window moves."""
    from reconcile.scheduler import plan_firings

    begin = _parse_start(start)
    table = Table("runs at (UTC)", "job", "scheduled for", "note")
    for firing in plan_firings(load_catalog(), begin, begin + timedelta(hours=hours)):
        note = "after the maintenance window" if firing.run_at != firing.scheduled_for else ""
        table.add_row(f"{firing.run_at:%a %Y-%m-%d %H:%M}", firing.job, f"{firing.scheduled_for:%H:%M}", note)
    console.print(table)


@app.command()
@handle_errors
def run(metrics_port: int = typer.Option(9108, help="Port of the /metrics endpoint (0: none)")) -> None:
    """Run the batch jobs at their schedules until stopped (SIGTERM or Ctrl-C finishes the current job)."""
    from prometheus_client import start_http_server

    from reconcile.jobs import run_job
    from reconcile.scheduler import Scheduler, next_firings
    from smartsync.core.settings import load_settings

    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if metrics_port:
        start_http_server(metrics_port)

    def run_one(job: str, scheduled_for: datetime) -> object:
        logging.getLogger("smartsync.scheduler").info("running %s (scheduled %s)", job, scheduled_for.isoformat())
        return run_job(job, settings, scheduled_for=scheduled_for)

    scheduler = Scheduler(load_catalog(), run_one, sleep=time.sleep)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        scheduler.stopped = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    first = next_firings(scheduler.catalog, scheduler.last)[0].run_at
    console.print(f"scheduler running; next job at {first:%Y-%m-%d %H:%M} UTC; metrics on :{metrics_port}")
    scheduler.run_forever()
