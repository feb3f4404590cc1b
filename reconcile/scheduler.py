"""The batch scheduler: every catalog job at its UTC schedule, one at a time.

Jobs run sequentially, as the seeds stagger them to spare the databases; a firing inside the
monthly maintenance window waits for the window's end. When jobs fall behind (a long run, a
restart), each late job runs once as soon as it can: missed firings of the same job fold
into one, since incremental jobs resume from their stored watermark anyway. The planning is
plain functions over the catalog (the cron arithmetic is ``reconcile.cron``); ``Scheduler``
adds the clock and the runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconcile.cron import next_allowed_run, next_run, previous_run
from smartsync.core.catalog import Catalog
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


Runner = Callable[[str, datetime], object]


@dataclass
class Scheduler:
    """Runs the catalog's jobs forever (or until ``stop``), with an injectable clock and runner."""

    catalog: Catalog
    run: Runner  # run(job, scheduled_for); raises on failure
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] = lambda s: None
    stopped: bool = False
    last: dict[str, datetime] = field(default_factory=dict)
    history: list[tuple[Firing, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        start = self.now()
        for _, schedule in self.catalog.jobs():
            self.last.setdefault(schedule.job, start)

    def step(self) -> Firing | None:
        """Wait for the soonest firing (in slices, so ``stop`` is seen) and run it."""
        firing = next_firings(self.catalog, self.last)[0]
        while not self.stopped:
            wait = (firing.run_at - self.now()).total_seconds()
            if wait <= 0:
                break
            self.sleep(min(wait, 30.0))
        if self.stopped:
            return None
        outcome = "success"
        try:
            self.run(firing.job, firing.scheduled_for)
        except SmartSyncError as exc:
            outcome = "failed"
            log.error("batch job %s (scheduled %s) failed: %s", firing.job, firing.scheduled_for, exc)
        except Exception:
            outcome = "failed"
            log.exception("batch job %s (scheduled %s) failed", firing.job, firing.scheduled_for)
        self.history.append((firing, outcome))
        self.last[firing.job] = after_run(self.catalog, firing.job, firing.scheduled_for, self.now())
        return firing

    def run_forever(self) -> None:
        while not self.stopped:
            self.step()
