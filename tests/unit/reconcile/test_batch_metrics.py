"""The batch metrics the alert rules read: label ``batch_job``, due times from the schedule."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from reconcile.scheduler import Scheduler
from smartsync.core.catalog import load_catalog


def _due(job: str) -> float | None:
    return REGISTRY.get_sample_value("smartsync_batch_next_due_timestamp_seconds", {"batch_job": job})


def test_a_started_scheduler_exports_every_jobs_due_time_at_once() -> None:
    """After a restart every job has a due time before any run, so a job that never starts is seen late."""
    catalog = load_catalog()
    now = datetime(2026, 12, 2, 10, 5, tzinfo=UTC)  # a Wednesday
    Scheduler(catalog, run=lambda job, at: None, now=lambda: now)
    for _, schedule in catalog.jobs():
        assert _due(schedule.job) is not None, schedule.job
    assert _due("profile_summary_hourly") == datetime(2026, 12, 2, 11, tzinfo=UTC).timestamp()


def test_a_firing_in_the_maintenance_window_is_due_at_its_end() -> None:
    now = datetime(2026, 12, 6, 1, 30, tzinfo=UTC)  # the first Sunday of December, before the window
    Scheduler(load_catalog(), run=lambda job, at: None, now=lambda: now)
    assert _due("user_behavior_daily") == datetime(2026, 12, 6, 4, tzinfo=UTC).timestamp()
    assert _due("weekly_reconciliation") == datetime(2026, 12, 6, 4, tzinfo=UTC).timestamp()
