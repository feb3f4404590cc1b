"""The batch scheduler's plan and loop, with a clock and runner of the test's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconcile.scheduler import Scheduler, plan_firings
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ReconcileError

# 2026-12-06 is the first Sunday of December: the maintenance window is 02:00-04:00 UTC.
FIRST_SUNDAY = datetime(2026, 12, 6, tzinfo=UTC)


def _at(hour: int, minute: int = 0, day: datetime = FIRST_SUNDAY) -> datetime:
    return day.replace(hour=hour, minute=minute)


def test_an_ordinary_day_runs_every_job_at_its_utc_time() -> None:
    day = datetime(2026, 12, 9, tzinfo=UTC)  # a Wednesday
    firings = plan_firings(load_catalog(), day - timedelta(minutes=1), day + timedelta(hours=3, minutes=59))
    runs = [(f.run_at, f.job) for f in firings if f.job != "profile_summary_hourly"]
    assert runs == [
        (_at(0, 0, day), "scheme_master_daily"),
        (_at(0, 30, day), "profile_summary_full"),
        (_at(1, 0, day), "golden_records_daily"),
        (_at(2, 0, day), "user_behavior_daily"),
        (_at(2, 30, day), "feedback_daily"),
    ]
    hourly = [f.run_at for f in firings if f.job == "profile_summary_hourly"]
    assert hourly == [_at(h, 0, day) for h in range(4)]
    assert all(f.run_at == f.scheduled_for for f in firings)


def test_the_maintenance_window_holds_jobs_until_it_ends() -> None:
    firings = plan_firings(load_catalog(), _at(1, 30), _at(4, 30))
    held = [(f.job, f.scheduled_for) for f in firings if f.run_at == _at(4)]
    assert ("user_behavior_daily", _at(2)) in held
    assert ("feedback_daily", _at(2, 30)) in held
    assert ("weekly_reconciliation", _at(3)) in held
    assert all(not (_at(2) <= f.run_at < _at(4)) for f in firings)
    # The hourly job's 02:00 and 03:00 firings fold into one run at the window's end.
    assert [f.run_at for f in firings if f.job == "profile_summary_hourly"] == [_at(4)]


def test_the_weekly_reconciliation_runs_on_sundays_at_three() -> None:
    week = plan_firings(load_catalog(), datetime(2026, 12, 14, tzinfo=UTC), datetime(2026, 12, 21, tzinfo=UTC))
    weekly = [f.run_at for f in week if f.job == "weekly_reconciliation"]
    assert weekly == [datetime(2026, 12, 20, 3, tzinfo=UTC)]


class _Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_jobs_run_one_at_a_time_and_a_failure_does_not_stop_the_rest() -> None:
    clock = _Clock(datetime(2026, 12, 8, 23, 59, tzinfo=UTC))
    ran: list[tuple[str, datetime, datetime]] = []

    def run(job: str, scheduled_for: datetime) -> None:
        ran.append((job, scheduled_for, clock.now))
        clock.now += timedelta(minutes=40)  # every job takes 40 minutes
        if job == "scheme_master_daily":
            msg = "source unreachable"
            raise ReconcileError(msg)

    scheduler = Scheduler(load_catalog(), run, now=clock, sleep=clock.sleep)
    for _ in range(4):
        scheduler.step()
    assert [(j, s.strftime("%H:%M"), t.strftime("%H:%M")) for j, s, t in ran] == [
        ("scheme_master_daily", "00:00", "00:00"),
        ("profile_summary_hourly", "00:00", "00:40"),  # late, runs as soon as the first ends
        ("profile_summary_full", "00:30", "01:20"),
        ("golden_records_daily", "01:00", "02:00"),
    ]
    assert [outcome for _, outcome in scheduler.history] == ["failed", "success", "success", "success"]
    # The hourly job's 01:00 firing passed while it ran (00:40-01:20): it folded into that run.
    assert scheduler.last["profile_summary_hourly"] == datetime(2026, 12, 9, 1, tzinfo=UTC)
    assert scheduler.step() is not None
    assert ran[-1][:2] == ("profile_summary_hourly", datetime(2026, 12, 9, 2, tzinfo=UTC))


def test_stop_ends_the_wait_without_running() -> None:
    clock = _Clock(datetime(2026, 12, 9, 0, 1, tzinfo=UTC))
    ran: list[str] = []
    scheduler = Scheduler(load_catalog(), lambda job, _at: ran.append(job), now=clock)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        scheduler.stopped = True

    scheduler.sleep = sleep
    assert scheduler.step() is None
    assert ran == []
