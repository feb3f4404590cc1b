"""The batch scheduler: every catalog job at its UTC schedule, one at a time, durable across restarts.

Jobs run sequentially, as the seeds stagger them to spare the databases. A job starts only
outside the monthly maintenance window: a firing inside it, or a job queued behind a long one
that would start inside it, waits for the window's end. When jobs fall behind (a long run, a
restart), each late job runs once as soon as it can: missed firings of the same job fold into
one, since incremental jobs resume from their stored watermark anyway.

Durable: on start the scheduler reads ``smartsync.job_runs`` (``resume_points``), so a firing
missed while it was down runs once, flagged late, instead of being skipped until the next day.
Every run goes through ``run_scheduled`` (also ``smartsync scheduler run --once`` and the
Airflow DAGs): the job's advisory lock (``reconcile.locks``) makes a manual and a scheduled run
exclusive, stale ``running`` rows are closed as failed, and a firing that already succeeded is
not run again (moving between orchestrators never runs a firing twice). The planning is plain
functions over the catalog (the cron arithmetic is ``reconcile.cron``); ``Scheduler`` adds the
clock and the runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from reconcile import metrics
from reconcile.cron import maintenance_end, next_allowed_run, next_run, previous_run
from reconcile.locks import JobBusyError
from smartsync.core.catalog import Catalog, MaintenanceWindow
from smartsync.core.errors import SmartSyncError

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class Firing:
    """One scheduled run of a job: ``run_at`` is when it may start (after any maintenance)."""

    run_at: datetime
    order: int  # the catalog's order breaks ties
    job: str = field(compare=False)
    scheduled_for: datetime = field(compare=False)


def next_firings(catalog: Catalog, last: dict[str, datetime]) -> list[Firing]:
    """Each job's next firing after the last one it had (``last`` holds every job), soonest first."""
    out = []
    for order, (_, schedule) in enumerate(catalog.jobs()):
        fire = next_allowed_run(schedule.cron, last[schedule.job], catalog.maintenance)
        scheduled = next_run(schedule.cron, last[schedule.job])
        out.append(Firing(fire, order, schedule.job, scheduled))
    return sorted(out)


def plan_firings(catalog: Catalog, start: datetime, until: datetime) -> list[Firing]:
    """Every firing from ``start`` to ``until``, in the order the scheduler would run them."""
    last = {schedule.job: start for _, schedule in catalog.jobs()}
    out: list[Firing] = []
    while True:
        first = next_firings(catalog, last)[0]
        if first.run_at > until:
            return out
        out.append(first)
        last[first.job] = after_run(catalog, first.job, first.scheduled_for, first.run_at)


def after_run(catalog: Catalog, job: str, scheduled_for: datetime, now: datetime) -> datetime:
    """The new "last firing" of a job that just ran: firings missed while it ran fold into it."""
    cron = next(s.cron for _, s in catalog.jobs() if s.job == job)
    return max(scheduled_for, previous_run(cron, now))


def resume_points(catalog: Catalog, recorded: dict[str, datetime], now: datetime) -> dict[str, datetime]:
    """Each job's "last firing" for a scheduler starting at ``now``, from the firings ``recorded`` in job_runs.

    A job whose latest firing (at or before ``now``) has no run gets a point just before it,
    so that firing runs at once; older missed firings fold into it. A job never recorded
    starts from ``now`` (a new installation does not replay history).
    """
    points = {}
    for _, schedule in catalog.jobs():
        done = recorded.get(schedule.job)
        due = previous_run(schedule.cron, now)
        if done is None or done >= due:
            points[schedule.job] = now if done is None else max(done, due)
        else:
            points[schedule.job] = due - timedelta(microseconds=1)
    return points


def window_wait(window: MaintenanceWindow, now: datetime) -> float:
    """Seconds until a job may start (0 outside the maintenance window)."""
    end = maintenance_end(window, now)
    return 0.0 if end is None else (end - now).total_seconds()


# The seeds alert when a job starts more than 15 minutes after its schedule: such a run is late.
LATE_AFTER = timedelta(minutes=15)

Runner = Callable[[str, datetime, bool], object]  # run(job, scheduled_for, late)


@dataclass
class Scheduler:
    """Runs the catalog's jobs forever (or until ``stop``), with an injectable clock and runner."""

    catalog: Catalog
    run: Runner  # run(job, scheduled_for, late); raises on failure
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = lambda s: None
    stopped: bool = False
    last: dict[str, datetime] = field(default_factory=dict)
    history: list[tuple[Firing, str]] = field(default_factory=list)

    started_at: datetime | None = None

    def __post_init__(self) -> None:
        start = self.now()
        self.started_at = start
        for _, schedule in self.catalog.jobs():
            self.last.setdefault(schedule.job, start)
        self.export_due()

    def export_due(self) -> None:
        """Each job's next due time as a metric: lateness is measured from it, from the first scrape on."""
        for firing in next_firings(self.catalog, self.last):
            metrics.BATCH_NEXT_DUE.labels(firing.job).set(firing.run_at.timestamp())

    def step(self) -> Firing | None:
        """Wait for the soonest firing (in slices, so ``stop`` is seen) and run it."""
        firing = next_firings(self.catalog, self.last)[0]
        while not self.stopped:
            wait = (firing.run_at - self.now()).total_seconds()
            if wait <= 0:
                break
            self.sleep(min(wait, 30.0))
        # A job queued behind a long one may now be inside the window: it waits for the end.
        while not self.stopped and (wait := window_wait(self.catalog.maintenance, self.now())) > 0:
            self.sleep(min(wait, 30.0))
        if self.stopped:
            return None
        started = self.now()
        missed = self.started_at is not None and firing.scheduled_for < self.started_at
        late = missed or started - firing.scheduled_for > LATE_AFTER
        outcome = "success"
        try:
            self.run(firing.job, firing.scheduled_for, late)
        except JobBusyError as exc:
            outcome = "busy"
            log.warning("batch job %s (scheduled %s) not started: %s", firing.job, firing.scheduled_for, exc)
        except SmartSyncError as exc:
            outcome = "failed"
            log.error("batch job %s (scheduled %s) failed: %s", firing.job, firing.scheduled_for, exc)
        except Exception:
            outcome = "failed"
            log.exception("batch job %s (scheduled %s) failed", firing.job, firing.scheduled_for)
        self.history.append((firing, outcome))
        self.last[firing.job] = after_run(self.catalog, firing.job, firing.scheduled_for, self.now())
        self.export_due()
        return firing

    def run_forever(self) -> None:
        while not self.stopped:
            self.step()
