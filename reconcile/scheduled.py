"""One run exactly as the scheduler runs it, and the maintenance-window policy of every writing command.

``run_scheduled`` is what the built-in scheduler, ``smartsync scheduler run --once JOB`` and the
rendered Airflow DAGs and Kubernetes CronJobs all call: wait for the maintenance window's end,
take the job's lock, close stale records, skip a firing that already succeeded, run with the
scheduler's policy (the weekly reconciliation fixes, within the guard rails) and flag late runs.
A job that runs into the window waits at its next pair or day (``hold``).

A command that writes outside the scheduler (``batch run``, ``backfill``, ``reconcile diff --fix``,
``reconcile report --fix``) refuses to start inside the window (``refuse_in_window``) unless
``--force``, which is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from reconcile.cron import in_maintenance, maintenance_end, previous_run
from reconcile.jobs import Hold, JobResult, RunOptions, Step, find_job, record_database, run_job
from reconcile.locks import JobBusyError, job_lock
from reconcile.runs import close_stale_runs, last_scheduled
from reconcile.scheduler import resume_points, window_wait
from smartsync.core.catalog import Catalog, MaintenanceWindow
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import Settings
from smartsync.core.tables import Database

log = logging.getLogger("smartsync.scheduler")

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def holder(window: MaintenanceWindow, job: str, *, now: Clock = _utc_now, sleep: Sleep = time.sleep) -> Hold:
    """A ``hold`` that blocks while the window is open (checked before each pair or day a job starts)."""

    def hold() -> None:
        wait = window_wait(window, now())
        if wait > 0:
            log.info("batch job %s waits %.0f s for the end of the maintenance window", job, wait)
        while (wait := window_wait(window, now())) > 0:
            sleep(min(wait, 30.0))

    return hold


def refuse_in_window(window: MaintenanceWindow, *, force: bool, command: str, now: datetime | None = None) -> None:
    """Refuse a writing command inside the maintenance window; with ``force`` run, and log that it did."""
    at = now or _utc_now()
    if not in_maintenance(window, at):
        return
    end = maintenance_end(window, at)
    if force:
        log.warning("%s runs inside the maintenance window (until %s UTC): forced", command, f"{end:%H:%M}")
        return
    msg = f"the monthly maintenance window is in progress (until {end:%H:%M} UTC): {command} writes, so it waits"
    raise ReconcileError(msg, hint="run it after the window, or pass --force (logged)")


def latest_firing(catalog: Catalog, job: str, at: datetime) -> datetime:
    """The firing of ``job`` a run at ``at`` stands for: its cron's last time at or before ``at``."""
    _, schedule = find_job(catalog, job)
    return previous_run(schedule.cron, at)


def run_scheduled(
    job: str,
    settings: Settings,
    *,
    catalog: Catalog,
    scheduled_for: datetime | None = None,
    late: bool = False,
    allow_mass_delete: bool = False,
    now: Clock = _utc_now,
    sleep: Sleep = time.sleep,
    on_step: Step | None = None,
) -> JobResult:
    """Run the job's firing ``scheduled_for`` (default: its latest) with the scheduler's policy."""
    firing = latest_firing(catalog, job, scheduled_for or now())
    hold = holder(catalog.maintenance, job, now=now, sleep=sleep)
    hold()  # a job starts only outside the window
    options = RunOptions(fix=True, late=late, once=True, allow_mass_delete=allow_mass_delete)
    return run_job(job, settings, scheduled_for=firing, catalog=catalog, options=options, hold=hold, on_step=on_step)


def close_all_stale(catalog: Catalog, settings: Settings) -> dict[str, int]:
    """Close every job's stale ``running`` rows (jobs running right now keep theirs); job → rows closed."""
    closed = {}
    for sync, schedule in catalog.jobs():
        database = record_database(sync)
        try:
            with job_lock(settings.dsn(database), schedule.job, what=database.value) as conn:
                count = close_stale_runs(conn, schedule.job)
        except JobBusyError:
            continue
        if count:
            closed[schedule.job] = count
            log.warning("batch job %s: closed %d stale running record(s) as failed", schedule.job, count)
    return closed


def recorded_firings(catalog: Catalog, settings: Settings) -> dict[str, datetime]:
    """The latest firing each job has a run for, read from every record database."""
    by_db: dict[Database, list[str]] = {}
    for sync, schedule in catalog.jobs():
        by_db.setdefault(record_database(sync), []).append(schedule.job)
    found: dict[str, datetime] = {}
    for database, jobs in by_db.items():
        found.update(last_scheduled(settings.dsn(database), jobs, what=database.value))
    return found


def resume(catalog: Catalog, settings: Settings, now: datetime) -> dict[str, datetime]:
    """The scheduler's starting point per job from ``smartsync.job_runs`` (missed firings run once, late)."""
    return resume_points(catalog, recorded_firings(catalog, settings), now)
