"""Every batch job of the catalog, runnable now: ``run_job("profile_summary_hourly", settings)``.

The job's schedule mode decides what runs:

- ``full``: diff the whole (filtered) source against the target; upsert and delete;
- ``incremental``: source rows changed since the stored watermark (and at least the
  schedule's look-back), against the target rows of the same keys; upsert only;
- ``append``: new source rows since the watermark; upsert only, never delete;
- ``aggregate``: every UTC day from the last aggregated one to yesterday, recomputed from the
  raw rows and diffed against the target's rows of that day; upsert and delete;
- the weekly reconciliation: counts, integrity checks and a diff of every synced pair, fixed
  within the guard rails when asked (the scheduler asks); its report is stored in
  ``smartsync.reconciliation_reports`` and delivered (``reconcile.delivery``).

Each run holds the job's advisory lock (``reconcile.locks``: a manual and a scheduled run never
overlap), closes the job's stale ``running`` rows, is recorded in ``smartsync.job_runs`` of the
target database and in the Prometheus metrics; the watermark moves in the same transaction as
the run's fix, so a failed run leaves it where it was and the rerun is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.postgres.apply import ApplyResult
from reconcile import metrics
from reconcile.compare import compare, compare_and_fix
from reconcile.connections import Limits, use_limits
from reconcile.cron import utc_day
from reconcile.delivery import deliver_report
from reconcile.engine import Comparison
from reconcile.history import store_report
from reconcile.locks import job_lock
from reconcile.model import Report, TableDiff
from reconcile.render import write_report
from reconcile.report import build_report
from reconcile.runs import (
    RunCounts,
    close_stale_runs,
    finish_run,
    read_watermark,
    start_run,
    succeeded,
    write_watermark,
)
from reconcile.snapshots import evidence
from reconcile.specs import Window
from smartsync.core.catalog import BatchMode, Catalog, Schedule, Sync, load_catalog
from smartsync.core.errors import ReconcileError, SmartSyncError
from smartsync.core.redact import db_error
from smartsync.core.settings import Settings
from smartsync.core.tables import Database

log = logging.getLogger(__name__)
Step = Callable[[str], None]
Hold = Callable[[], None]  # called before each pair or day a job starts: waits out the maintenance window
# An aggregate run catches up at most this many missed days.
MAX_CATCH_UP_DAYS = 31


@dataclass(frozen=True)
class JobResult:
    job: str
    mode: str
    dry_run: bool
    status: str  # "success", "failed", "dry-run", "skipped" (this firing already succeeded)
    started_at: datetime
    seconds: float
    counts: RunCounts
    skipped_stale: int = 0
    diffs: tuple[TableDiff, ...] = ()
    watermark: datetime | None = None
    report: Report | None = None
    report_path: str | None = None
    run_id: int | None = None
    scheduled_for: datetime | None = None
    late: bool = False
    stale_closed: int = 0


def find_job(catalog: Catalog, job: str) -> tuple[Sync | None, Schedule]:
    for sync, schedule in catalog.jobs():
        if schedule.job == job:
            return sync, schedule
    known = ", ".join(sch.job for _, sch in catalog.jobs())
    msg = f"unknown job {job!r}"
    raise ReconcileError(msg, hint=f"the catalog has: {known}")


def record_database(sync: Sync | None) -> Database:
    return sync.target_database if sync is not None else Database.WAREHOUSE


@dataclass
class _Outcome:
    diffs: list[TableDiff] = field(default_factory=list)
    read: int = 0
    applied: ApplyResult = field(default_factory=ApplyResult)
    watermark: datetime | None = None
    report: Report | None = None
    report_path: str | None = None


@dataclass(frozen=True)
class RunOptions:
    """How one run behaves beyond its job: the policy knobs the CLI, the scheduler and Airflow set."""

    dry_run: bool = False
    fix: bool = False  # the weekly reconciliation repairs what it finds (the scheduler always asks)
    late: bool = False  # the scheduler missed this firing (it was down) or started it late
    once: bool = False  # skip a firing that already succeeded (scheduler, Airflow: never run a firing twice)
    allow_mass_delete: bool = False  # lift the mass-delete guard rail for this run
    deliver: bool = True  # deliver the weekly report (webhook, e-mail)


def limits_of(settings: Settings) -> Limits:
    return Limits(
        statement_timeout_s=settings.batch_statement_timeout_s,
        idle_in_transaction_timeout_s=settings.batch_idle_in_transaction_timeout_s,
    )


def run_job(
    job: str,
    settings: Settings,
    *,
    dry_run: bool = False,
    fix: bool = False,
    now: datetime | None = None,
    scheduled_for: datetime | None = None,
    on_step: Step | None = None,
    report_path: Path | None = None,
    catalog: Catalog | None = None,
    options: RunOptions | None = None,
    hold: Hold | None = None,
) -> JobResult:
    """Run one job now. ``dry_run`` diffs and reports but writes nothing (no run record, no lock).

    ``scheduled_for`` is the firing the run stands for: the job then runs as of that time
    (an aggregate computes the days before it), so a past firing can be run again (backfill).
    """
    opts = options or RunOptions(dry_run=dry_run, fix=fix)
    catalog = catalog or load_catalog()
    sync, schedule = find_job(catalog, job)
    use_limits(limits_of(settings))
    now = now or scheduled_for or datetime.now(UTC)
    run = _Run(catalog, sync, schedule, settings, opts, now, scheduled_for, on_step or (lambda _m: None), report_path)
    if opts.dry_run:
        return _execute(run, hold)
    database = record_database(sync)
    with contextlib.ExitStack() as held:
        try:
            conn = held.enter_context(job_lock(settings.dsn(database), job, what=database.value))
        except Exception:
            metrics.record_failure(job)  # busy or its database is down: no run record can say so
            raise
        stale = close_stale_runs(conn, job)
        if stale:
            log.warning("batch job %s: closed %d stale running record(s) as failed", job, stale)
        if opts.once and scheduled_for is not None and (done := succeeded(conn, job, scheduled_for)) is not None:
            log.info("batch job %s: the firing %s already succeeded (run %d); not run again", job, scheduled_for, done)
            return JobResult(
                job=job,
                mode=schedule.mode.value,
                dry_run=False,
                status="skipped",
                started_at=datetime.now(UTC),
                seconds=0.0,
                counts=RunCounts(),
                run_id=done,
                scheduled_for=scheduled_for,
                stale_closed=stale,
            )
        return dataclasses.replace(_execute(run, hold), stale_closed=stale)


@dataclass(frozen=True)
class _Run:
    catalog: Catalog
    sync: Sync | None
    schedule: Schedule
    settings: Settings
    opts: RunOptions
    now: datetime
    scheduled_for: datetime | None
    step: Step
    report_path: Path | None


def _execute(run: _Run, hold: Hold | None) -> JobResult:
    sync, schedule, settings, opts, step = run.sync, run.schedule, run.settings, run.opts, run.step
    job = schedule.job
    started, wall = time.perf_counter(), datetime.now(UTC)
    database = record_database(sync)
    dsn, what = settings.dsn(database), database.value
    if not opts.dry_run:
        metrics.BATCH_LAST_START.labels(job).set(wall.timestamp())
        metrics.BATCH_LAST_SCHEDULED.labels(job).set((run.scheduled_for or wall).timestamp())
        metrics.BATCH_RUNS.labels(job).inc()
    try:
        run_id = None if opts.dry_run else start_run(dsn, job, run.scheduled_for, what=what, late=opts.late)
    except Exception:
        # Its database is down: no run record can say so, the failure metric must.
        metrics.record_failure(job)
        raise
    out = _Outcome()
    pace = hold or (lambda: None)
    try:
        if sync is None:
            out = _weekly(run, run_id=run_id, hold=pace)
        elif schedule.mode is BatchMode.FULL:
            out = _full(sync, settings, opts, step=step)
        elif schedule.mode in (BatchMode.INCREMENTAL, BatchMode.APPEND):
            out = _since_watermark(sync, schedule, settings, dry_run=opts.dry_run, now=run.now, step=step)
        else:
            out = _aggregate(sync, schedule, settings, opts, now=run.now, step=step, hold=pace)
    except SmartSyncError as exc:
        _finish(job, dsn, what, run_id, status="failed", out=out, error=str(exc), started=started)
        raise
    except Exception as exc:
        _finish(job, dsn, what, run_id, status="failed", out=out, error=db_error(exc), started=started)
        raise
    status = "dry-run" if opts.dry_run else "success"
    _finish(job, dsn, what, run_id, status=status, out=out, error=None, started=started)
    return JobResult(
        job=job,
        mode=schedule.mode.value if sync is not None else "reconciliation",
        dry_run=opts.dry_run,
        status=status,
        started_at=wall,
        seconds=time.perf_counter() - started,
        counts=_counts(out),
        skipped_stale=out.applied.skipped_stale,
        diffs=tuple(out.diffs),
        watermark=out.watermark,
        report=out.report,
        report_path=out.report_path,
        run_id=run_id,
        scheduled_for=run.scheduled_for,
        late=opts.late,
    )


def _counts(out: _Outcome) -> RunCounts:
    return RunCounts(out.read, out.applied.inserted, out.applied.updated, out.applied.deleted)


def _finish(
    job: str, dsn: str, what: str, run_id: int | None, *, status: str, out: _Outcome, error: str | None, started: float
) -> None:
    if run_id is None:
        return
    counts = _counts(out)
    # The metrics first: a run whose database went away cannot write its record, and still counts.
    metrics.BATCH_DURATION.labels(job).observe(time.perf_counter() - started)
    if status == "success":
        metrics.BATCH_LAST_STATUS.labels(job).set(1)
    else:
        metrics.record_failure(job)
    for kind, value in (
        ("read", counts.read),
        ("inserted", counts.inserted),
        ("updated", counts.updated),
        ("deleted", counts.deleted),
        ("skipped", out.applied.skipped_stale),
    ):
        metrics.BATCH_ROWS.labels(job, kind).inc(value)
    finish_run(dsn, run_id, status, counts, error, what=what)


def _compare_and_fix(
    sync: Sync,
    settings: Settings,
    *,
    dry_run: bool,
    step: Step,
    window: Window | None = None,
    days: tuple[datetime, datetime] | None = None,
    restrict_target: bool = False,
    deletes: bool | None = None,
    after: Callable[[Any, Comparison], None] | None = None,
    allow_mass_delete: bool = False,
) -> tuple[Comparison, ApplyResult]:
    """One comparison of a job, fixed unless ``dry_run``; the drift metrics are set before the fix."""
    if dry_run:
        found = compare(sync, settings, window=window, days=days, restrict_target=restrict_target, on_step=step)
        _observe(found)
        return found, ApplyResult()
    fixed = compare_and_fix(
        sync,
        settings,
        window=window,
        days=days,
        restrict_target=restrict_target,
        deletes=deletes,
        on_compared=_observe,
        after=after,
        on_step=step,
        allow_mass_delete=allow_mass_delete,
    )
    return fixed.comparison, fixed.applied or ApplyResult()


def _observe(found: Comparison) -> None:
    diff = found.diff
    metrics.RECONCILE_DRIFT.labels(diff.target, "source_only").set(len(diff.source_only))
    metrics.RECONCILE_DRIFT.labels(diff.target, "target_only").set(len(diff.target_only))
    metrics.RECONCILE_DRIFT.labels(diff.target, "changed").set(len(diff.changed))


def _full(sync: Sync, settings: Settings, opts: RunOptions, *, step: Step) -> _Outcome:
    found, applied = _compare_and_fix(
        sync, settings, dry_run=opts.dry_run, step=step, allow_mass_delete=opts.allow_mass_delete
    )
    return _Outcome([found.diff], found.diff.source_rows, applied)


def incremental_since(watermark: datetime | None, lookback_hours: int, now: datetime) -> datetime | None:
    """The lower bound of an incremental window: the watermark, widened to the look-back floor."""
    floor = now - timedelta(hours=lookback_hours) if lookback_hours else None
    if watermark is None:
        return floor
    return min(watermark, floor) if floor is not None else watermark


def _since_watermark(
    sync: Sync, schedule: Schedule, settings: Settings, *, dry_run: bool, now: datetime, step: Step
) -> _Outcome:
    tdsn = settings.dsn(sync.target_database)
    watermark = read_watermark(tdsn, schedule.job, what=sync.target_database.value)
    since = incremental_since(watermark, schedule.lookback_hours, now)
    window = Window(since=since, column=schedule.watermark_column)

    def advance(conn: Any, found: Comparison) -> None:
        if found.complete_until is not None:
            write_watermark(conn, schedule.job, found.complete_until)

    # A window never proves a row is gone from the source: incrementals do not delete.
    found, applied = _compare_and_fix(
        sync, settings, dry_run=dry_run, step=step, window=window, restrict_target=True, deletes=False, after=advance
    )
    return _Outcome([found.diff], found.diff.source_rows, applied, watermark=found.complete_until)


def aggregate_days(watermark: datetime | None, now: datetime) -> list[tuple[datetime, datetime]]:
    """UTC days to aggregate: from the day after the last complete one (at most a month back) to yesterday."""
    today, _ = utc_day(now)
    yesterday = today - timedelta(days=1)
    first = yesterday
    if watermark is not None:
        first = min(max(utc_day(watermark)[0], today - timedelta(days=MAX_CATCH_UP_DAYS)), yesterday)
    days = []
    day = first
    while day <= yesterday:
        days.append((day, day + timedelta(days=1)))
        day += timedelta(days=1)
    return days


def _aggregate(
    sync: Sync, schedule: Schedule, settings: Settings, opts: RunOptions, *, now: datetime, step: Step, hold: Hold
) -> _Outcome:
    tdsn = settings.dsn(sync.target_database)
    watermark = read_watermark(tdsn, schedule.job, what=sync.target_database.value)
    out = _Outcome()
    for start, end in aggregate_days(watermark, now):
        hold()
        step(f"aggregate {start.date()}")

        def advance(conn: Any, _found: Comparison, mark: datetime = end) -> None:
            write_watermark(conn, schedule.job, mark)

        found, applied = _compare_and_fix(
            sync,
            settings,
            dry_run=opts.dry_run,
            step=step,
            days=(start, end),
            deletes=True,
            after=advance,
            allow_mass_delete=opts.allow_mass_delete,
        )
        out.diffs.append(found.diff)
        out.read += found.diff.source_rows
        out.watermark = end
        out.applied = out.applied + applied
    return out


def _weekly(run: _Run, *, run_id: int | None, hold: Hold) -> _Outcome:
    settings, opts, report_path = run.settings, run.opts, run.report_path
    with evidence(f"weekly run {run_id}"):  # its snapshots are kept past the retention
        report = build_report(
            run.catalog,
            settings,
            scope="weekly",
            fix=opts.fix and not opts.dry_run,
            allow_mass_delete=opts.allow_mass_delete,
            before_pair=hold,
            on_step=run.step,
        )
    out = _Outcome(list(report.diffs), sum(d.source_rows for d in report.diffs))
    for counts in report.fixed.values():
        out.applied = out.applied + ApplyResult(
            counts.get("inserted", 0),
            counts.get("updated", 0),
            counts.get("deleted", 0),
            counts.get("skipped_stale", 0),
        )
    out.report = report
    if report_path is not None:
        write_report(report, report_path)
        out.report_path = str(report_path)
    where = f"the report {report_path}" if report_path else "the report"
    if run_id is not None:
        # Stored before delivery: a failed delivery never loses the report (`smartsync reconcile report --run`).
        store_report(settings.dsn(Database.WAREHOUSE), run_id, run.catalog.reconciliation.job, report)
        where = f"`smartsync reconcile report --run {run_id}`"
        if opts.deliver:
            deliver_report(settings, run_id, report)
    if report.errors:
        failed = "; ".join(f"{name}: {err}" for name, err in report.errors.items())
        msg = f"the reconciliation could not check or fix every pair ({failed})"
        raise ReconcileError(msg, hint=f"see {where}")
    return out


def backfill_job(sync: Sync) -> str:
    """The job name a backfill of ``sync`` is locked and recorded under."""
    return f"backfill.{sync.name}"


def backfill(
    sync: Sync,
    settings: Settings,
    *,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
    on_step: Step | None = None,
) -> JobResult:
    """Go-live backfill of one event sync: a full diff and fix of the pair (``compare_and_fix``).

    Rows that existed before the event path started (Debezium starts with ``snapshot.mode=no_data``)
    are written once, ordered against the event path by the snapshot's source position; the guard
    rails hold (an append log gets its missing events appended; a callback-fed or enriched target
    is never deleted from). Locked and recorded as ``backfill.<sync>`` in the target database.
    """
    use_limits(limits_of(settings))
    job = backfill_job(sync)
    opts = RunOptions(dry_run=dry_run, allow_mass_delete=allow_mass_delete)
    schedule = Schedule(job=job, cron="0 0 1 1 *", mode=BatchMode.FULL, expected_minutes=60, description="backfill")
    now = datetime.now(UTC)
    run = _Run(load_catalog(), sync, schedule, settings, opts, now, None, on_step or (lambda _m: None), None)
    if dry_run:
        return _execute(run, None)
    with job_lock(settings.dsn(sync.target_database), job, what=sync.target_database.value) as conn:
        close_stale_runs(conn, job)
        return _execute(run, None)
