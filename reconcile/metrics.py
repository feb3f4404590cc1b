"""Prometheus metrics of the batch jobs (module level; served by whatever process runs the job).

The label is ``batch_job``, never ``job``: Prometheus owns ``job`` (the scrape job) and renames a
target's own ``job`` label to ``exported_job`` on scrape, which silenced every batch alert.
``kind`` is ``read``, ``inserted``, ``updated``, ``deleted`` or ``skipped`` (a fix that lost to
a newer write of the event path).

Lateness is measured from the schedule: the scheduler exports each job's next due time (its cron
time, moved past the maintenance window) as soon as it starts, so a job that never starts is
seen even right after a scheduler restart; a run exports the time it was scheduled for and the
time it started.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LABEL = "batch_job"

BATCH_NEXT_DUE = Gauge(
    "smartsync_batch_next_due_timestamp_seconds",
    "Unix time the job's next run is due (cron time, after the maintenance window); set by the scheduler",
    [LABEL],
)
BATCH_LAST_SCHEDULED = Gauge(
    "smartsync_batch_last_scheduled_timestamp_seconds", "Unix time the job's last run was scheduled for", [LABEL]
)
BATCH_LAST_START = Gauge("smartsync_batch_last_start_timestamp_seconds", "Unix time the job last started", [LABEL])
BATCH_DURATION = Histogram(
    "smartsync_batch_duration_seconds",
    "Wall time of a batch job run",
    [LABEL],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
BATCH_ROWS = Counter("smartsync_batch_rows_total", "Rows a batch job read or wrote, by kind", [LABEL, "kind"])
BATCH_LAST_STATUS = Gauge(
    "smartsync_batch_last_status",
    "Outcome of the job's last run: 1 success, 0 failure (also when it failed before writing its run record)",
    [LABEL],
)
BATCH_RUNS = Counter("smartsync_batch_runs_total", "Runs of the job that started (dry runs excluded)", [LABEL])
BATCH_FAILURES = Counter(
    "smartsync_batch_failures_total", "Failed runs of the job (including those that could not record a run)", [LABEL]
)
RECONCILE_DRIFT = Gauge(
    "smartsync_reconcile_drift_rows",
    "Rows that differed in the last diff of a pair, by kind (source_only, target_only, changed)",
    ["table", "kind"],
)


def record_failure(job: str) -> None:
    """A run that failed, whether or not it could write its run record (its database may be down)."""
    BATCH_LAST_STATUS.labels(job).set(0)
    BATCH_FAILURES.labels(job).inc()
