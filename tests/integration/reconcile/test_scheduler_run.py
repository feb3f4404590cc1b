"""The scheduler runs a real job on the stack and records its scheduled time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from reconcile.jobs import run_job
from reconcile.scheduler import Scheduler
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings
from smartsync.devstack.localstack import StackState


def test_a_scheduled_job_runs_and_is_recorded(stack: StackState) -> None:
    catalog = load_catalog()
    sync = catalog.sync("feedback")
    schedule = sync.schedules[0]
    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn"))
    # Just before the job's firing on an ordinary Wednesday; the fake clock jumps over the wait.
    firing = datetime(2026, 12, 9, 2, 30, tzinfo=UTC)
    clock = [firing - timedelta(seconds=5)]

    def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    scheduler = Scheduler(
        catalog,
        lambda job, at, _late: run_job(job, settings, scheduled_for=at),
        now=lambda: clock[0],
        sleep=sleep,
    )
    ran = scheduler.step()
    assert ran is not None and ran.job == schedule.job and ran.scheduled_for == firing
    assert scheduler.history[-1][1] == "success"
    with psycopg.connect(stack.dsn(sync.target_database)) as conn:
        row = conn.execute(
            "SELECT status, scheduled_for FROM smartsync.job_runs WHERE job = %s ORDER BY run_id DESC LIMIT 1",
            (schedule.job,),
        ).fetchone()
    assert row == ("success", firing)
