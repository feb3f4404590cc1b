"""Prometheus metrics of the batch jobs (module level; served by whatever process runs the job).

``job`` is the catalog's job name; ``kind`` is ``read``, ``inserted``, ``updated``,
``deleted`` or ``skipped`` (a fix that lost to a newer write of the event path).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BATCH_LAST_START = Gauge("smartsync_batch_last_start_timestamp_seconds", "Unix time the job last started", ["job"])
BATCH_DURATION = Histogram(
    "smartsync_batch_duration_seconds",
    "Wall time of a batch job run",
    ["job"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)
BATCH_ROWS = Counter("smartsync_batch_rows_total", "Rows a batch job read or wrote, by kind", ["job", "kind"])
BATCH_LAST_STATUS = Gauge("smartsync_batch_last_status", "Outcome of the job's last run: 1 success, 0 failure", ["job"])
RECONCILE_DRIFT = Gauge(
    "smartsync_reconcile_drift_rows",
    "Rows that differed in the last diff of a pair, by kind (source_only, target_only, changed)",
    ["table", "kind"],
)
