"""The batch scheduler's plan and loop, with a clock and runner of the test's own."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import pytest

from reconcile.cron import next_run, previous_run
from reconcile.locks import LOCK_CLASS, JobBusyError, lock_key
from reconcile.scheduled import holder, latest_firing, refuse_in_window
from reconcile.scheduler import Scheduler, plan_firings, resume_points, window_wait
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

    def run(job: str, scheduled_for: datetime, _late: bool) -> None:
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
    scheduler = Scheduler(load_catalog(), lambda job, _at, _late: ran.append(job), now=clock)

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        scheduler.stopped = True

    scheduler.sleep = sleep
    assert scheduler.step() is None
    assert ran == []


# ── durable: resume from smartsync.job_runs, late runs, the window at start ─────────────────


def test_a_restart_after_a_firing_runs_that_firing_once_flagged_late() -> None:
    # The scheduler was down over 00:00; it restarts at 00:05 (issue 13's first finding).
    catalog = load_catalog()
    restart = datetime(2026, 12, 9, 0, 5, tzinfo=UTC)
    # Every job ran its firings up to 23:59, the hourly job its 00:00 one too; scheme master's 00:00 was missed.
    recorded = {s.job: previous_run(s.cron, datetime(2026, 12, 8, 23, 59, tzinfo=UTC)) for _, s in catalog.jobs()}
    recorded["profile_summary_hourly"] = datetime(2026, 12, 9, 0, 0, tzinfo=UTC)
    clock = _Clock(restart)
    ran: list[tuple[str, datetime, bool]] = []

    def run(job: str, at: datetime, late: bool) -> None:
        ran.append((job, at, late))

    last = resume_points(catalog, recorded, restart)
    scheduler = Scheduler(catalog, run, now=clock, sleep=clock.sleep, last=last)
    scheduler.step()
    assert ran == [("scheme_master_daily", datetime(2026, 12, 9, tzinfo=UTC), True)]
    scheduler.step()  # then the 00:30 job on time; 00:00 is not run twice
    assert ran[-1] == ("profile_summary_full", datetime(2026, 12, 9, 0, 30, tzinfo=UTC), False)
    assert [j for j, _, _ in ran].count("scheme_master_daily") == 1


def test_many_missed_firings_fold_into_one_late_run() -> None:
    catalog = load_catalog()
    now = datetime(2026, 12, 9, 5, 10, tzinfo=UTC)
    points = resume_points(catalog, {"profile_summary_hourly": datetime(2026, 12, 8, 20, tzinfo=UTC)}, now)
    cron = next(s.cron for _, s in catalog.jobs() if s.job == "profile_summary_hourly")
    assert next_run(cron, points["profile_summary_hourly"]) == datetime(2026, 12, 9, 5, tzinfo=UTC)
    assert points["scheme_master_daily"] == now  # never recorded: a new installation replays nothing


def test_a_job_queued_into_the_window_waits_for_its_end() -> None:
    # profile_summary_full runs long: the jobs queued behind it would start at 02:10, inside the window.
    clock = _Clock(_at(0, 29))
    started: list[tuple[str, datetime]] = []

    def run(job: str, _at_: datetime, _late: bool) -> None:
        started.append((job, clock.now))
        clock.now += timedelta(hours=1, minutes=40) if job == "profile_summary_full" else timedelta(minutes=1)

    scheduler = Scheduler(load_catalog(), run, now=clock, sleep=clock.sleep)
    scheduler.step()
    assert started == [("profile_summary_full", _at(0, 30))]
    assert clock.now == _at(2, 10)
    scheduler.step()
    assert started[-1][1] == _at(4)  # held until the window's end, not started at 02:10


def test_a_busy_job_is_logged_and_the_scheduler_goes_on() -> None:
    clock = _Clock(datetime(2026, 12, 8, 23, 59, tzinfo=UTC))

    def run(job: str, _at_: datetime, _late: bool) -> None:
        msg = f"job {job} is already running"
        raise JobBusyError(msg)

    scheduler = Scheduler(load_catalog(), run, now=clock, sleep=clock.sleep)
    scheduler.step()
    assert scheduler.history[-1][1] == "busy"


def test_window_wait_is_zero_outside_and_the_rest_inside() -> None:
    window = load_catalog().maintenance
    assert window_wait(window, _at(1, 59)) == 0
    assert window_wait(window, _at(3, 30)) == 30 * 60


def test_writing_commands_refuse_the_window_unless_forced(caplog: pytest.LogCaptureFixture) -> None:
    window = load_catalog().maintenance
    with pytest.raises(ReconcileError, match="maintenance window is in progress"):
        refuse_in_window(window, force=False, command="reconcile diff --fix", now=_at(2, 15))
    refuse_in_window(window, force=False, command="reconcile diff --fix", now=_at(4, 0))
    refuse_in_window(window, force=True, command="reconcile diff --fix", now=_at(2, 15))
    assert "forced" in caplog.text


def test_a_hold_sleeps_until_the_window_ends() -> None:
    clock = _Clock(_at(3, 0))
    holder(load_catalog().maintenance, "weekly_reconciliation", now=clock, sleep=clock.sleep)()
    assert clock.now == _at(4)


def test_a_run_stands_for_its_latest_firing() -> None:
    catalog = load_catalog()
    assert latest_firing(catalog, "scheme_master_daily", datetime(2026, 12, 9, 0, 0, 7, tzinfo=UTC)) == datetime(
        2026, 12, 9, tzinfo=UTC
    )
    assert latest_firing(catalog, "weekly_reconciliation", _at(3)) == _at(3)


def test_job_locks_are_stable_and_distinct() -> None:
    keys = {lock_key(s.job) for _, s in load_catalog().jobs()}
    assert len(keys) == len(load_catalog().jobs())
    assert lock_key("scheme_master_daily") == (LOCK_CLASS, lock_key("scheme_master_daily")[1])
    assert all(-(1 << 31) <= k < (1 << 31) for pair in keys for k in pair)
    assert lock_key("weekly_reconciliation")[1] % (1 << 32) == zlib.crc32(b"weekly_reconciliation")
