"""Every batch job of the catalog, runnable now: ``run_job("profile_summary_hourly", settings)``.

The job's schedule mode decides what runs:

- ``full``: diff the whole (filtered) source against the target; upsert and delete;
- ``incremental``: source rows changed since the stored watermark (and at least the
  schedule's look-back), against the target rows of the same keys; upsert only;
- ``append``: new source rows since the watermark; upsert only, never delete;
- ``aggregate``: every UTC day from the last aggregated one to yesterday, recomputed from the
  raw rows and diffed against the target's rows of that day; upsert and delete;
- the weekly reconciliation: a report over every synced pair, fixed when asked.

Each run is recorded in ``smartsync.job_runs`` of the target database and in the Prometheus
metrics; the watermark moves in the same transaction as the run's fix, so a failed run
leaves it where it was and the rerun is complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.postgres.apply import ApplyResult
from reconcile import metrics
from reconcile.compare import compare, compare_and_fix
from reconcile.cron import utc_day
from reconcile.engine import Comparison
from reconcile.model import Report, TableDiff
from reconcile.render import default_report_path, write_report
from reconcile.report import build_report
from reconcile.runs import RunCounts, finish_run, read_watermark, start_run, write_watermark
from reconcile.specs import Window
from smartsync.core.catalog import BatchMode, Catalog, Schedule, Sync, load_catalog
from smartsync.core.errors import ReconcileError, SmartSyncError
from smartsync.core.settings import Settings
from smartsync.core.tables import Database

Step = Callable[[str], None]
# An aggregate run catches up at most this many missed days.
MAX_CATCH_UP_DAYS = 31


@dataclass(frozen=True)
class JobResult:
    job: str
    mode: str
    dry_run: bool
    status: str  # "success", "failed", "dry-run"
    started_at: datetime
    seconds: float
    counts: RunCounts
    skipped_stale: int = 0
    diffs: tuple[TableDiff, ...] = ()
    watermark: datetime | None = None
    report: Report | None = None
    report_path: str | None = None


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
) -> JobResult:
    """Run one job now. ``dry_run`` diffs and reports but writes nothing (no run record either)."""
    catalog = catalog or load_catalog()
    sync, schedule = find_job(catalog, job)
    now = now or datetime.now(UTC)
    step = on_step or (lambda _m: None)
    started, wall = time.perf_counter(), datetime.now(UTC)
    dsn = settings.dsn(record_database(sync))
    what = record_database(sync).value
    run_id = None if dry_run else start_run(dsn, job, scheduled_for, what=what)
    if not dry_run:
        metrics.BATCH_LAST_START.labels(job).set(wall.timestamp())
    out = _Outcome()
    try:
        if sync is None:
            out = _weekly(catalog, settings, dry_run=dry_run, fix=fix, step=step, report_path=report_path)
        elif schedule.mode is BatchMode.FULL:
            out = _full(sync, settings, dry_run=dry_run, step=step)
        elif schedule.mode in (BatchMode.INCREMENTAL, BatchMode.APPEND):
            out = _since_watermark(sync, schedule, settings, dry_run=dry_run, now=now, step=step)
        else:
            out = _aggregate(sync, schedule, settings, dry_run=dry_run, now=now, step=step)
    except SmartSyncError as exc:
        _finish(job, dsn, what, run_id, status="failed", out=out, error=str(exc), started=started)
        raise
    except Exception as exc:
        _finish(job, dsn, what, run_id, status="failed", out=out, error=f"{type(exc).__name__}: {exc}", started=started)
        raise
    status = "dry-run" if dry_run else "success"
    _finish(job, dsn, what, run_id, status=status, out=out, error=None, started=started)
    return JobResult(
        job=job,
        mode=schedule.mode.value if sync is not None else "reconciliation",
        dry_run=dry_run,
        status=status,
        started_at=wall,
        seconds=time.perf_counter() - started,
        counts=_counts(out),
        skipped_stale=out.applied.skipped_stale,
        diffs=tuple(out.diffs),
        watermark=out.watermark,
        report=out.report,
        report_path=out.report_path,
    )


def _counts(out: _Outcome) -> RunCounts:
    return RunCounts(out.read, out.applied.inserted, out.applied.updated, out.applied.deleted)


def _finish(
    job: str, dsn: str, what: str, run_id: int | None, *, status: str, out: _Outcome, error: str | None, started: float
) -> None:
    if run_id is None:
        return
    counts = _counts(out)
    finish_run(dsn, run_id, status, counts, error, what=what)
    metrics.BATCH_DURATION.labels(job).observe(time.perf_counter() - started)
    metrics.BATCH_LAST_STATUS.labels(job).set(1 if status == "success" else 0)
    for kind, value in (
        ("read", counts.read),
        ("inserted", counts.inserted),
        ("updated", counts.updated),
        ("deleted", counts.deleted),
        ("skipped", out.applied.skipped_stale),
    ):
        metrics.BATCH_ROWS.labels(job, kind).inc(value)


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
    )
    return fixed.comparison, fixed.applied or ApplyResult()


def _observe(found: Comparison) -> None:
    diff = found.diff
    metrics.RECONCILE_DRIFT.labels(diff.target, "source_only").set(len(diff.source_only))
    metrics.RECONCILE_DRIFT.labels(diff.target, "target_only").set(len(diff.target_only))
    metrics.RECONCILE_DRIFT.labels(diff.target, "changed").set(len(diff.changed))


def _full(sync: Sync, settings: Settings, *, dry_run: bool, step: Step) -> _Outcome:
    found, applied = _compare_and_fix(sync, settings, dry_run=dry_run, step=step)
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
    sync: Sync, schedule: Schedule, settings: Settings, *, dry_run: bool, now: datetime, step: Step
) -> _Outcome:
    tdsn = settings.dsn(sync.target_database)
    watermark = read_watermark(tdsn, schedule.job, what=sync.target_database.value)
    out = _Outcome()
    for start, end in aggregate_days(watermark, now):
        step(f"aggregate {start.date()}")

        def advance(conn: Any, _found: Comparison, mark: datetime = end) -> None:
            write_watermark(conn, schedule.job, mark)

        found, applied = _compare_and_fix(
            sync, settings, dry_run=dry_run, step=step, days=(start, end), deletes=True, after=advance
        )
        out.diffs.append(found.diff)
        out.read += found.diff.source_rows
        out.watermark = end
        out.applied = out.applied + applied
    return out


def _weekly(
    catalog: Catalog, settings: Settings, *, dry_run: bool, fix: bool, step: Step, report_path: Path | None
) -> _Outcome:
    report = build_report(catalog, settings, scope="weekly", fix=fix and not dry_run, on_step=step)
    out = _Outcome(list(report.diffs), sum(d.source_rows for d in report.diffs))
    for counts in report.fixed.values():
        out.applied = out.applied + ApplyResult(
            counts.get("inserted", 0),
            counts.get("updated", 0),
            counts.get("deleted", 0),
            counts.get("skipped_stale", 0),
        )
    out.report = report
    path = report_path or default_report_path(report)
    write_report(report, path)
    out.report_path = str(path)
    if report.errors:
        failed = "; ".join(f"{name}: {err}" for name, err in report.errors.items())
        msg = f"the reconciliation could not check every pair ({failed})"
        raise ReconcileError(msg, hint=f"see the report {path}")
    return out
