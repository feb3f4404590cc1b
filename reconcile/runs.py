"""The job-run table and the watermarks (``smartsync.job_runs``, ``smartsync.watermarks``).

Runs are recorded in the target database of the job's sync (the weekly reconciliation, which
has no sync, in smart_warehouse). A watermark is written in the same transaction as the fix it
belongs to, so it advances only when the run's writes committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from reconcile.connections import connect
from smartsync.core.redact import safe_error_text


@dataclass(frozen=True)
class RunCounts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def start_run(dsn: str, job: str, scheduled_for: datetime | None, *, what: str, late: bool = False) -> int:
    conn = connect(dsn, what=what)
    try:
        row = conn.execute(
            "INSERT INTO smartsync.job_runs (job, scheduled_for, started_at, status, late) "
            "VALUES (%s, %s, clock_timestamp(), 'running', %s) RETURNING run_id",
            (job, scheduled_for, late),
        ).fetchone()
    finally:
        conn.close()
    assert row is not None  # noqa: S101
    return int(row[0])


def finish_run(dsn: str, run_id: int, status: str, counts: RunCounts, error: str | None, *, what: str) -> None:
    error = None if error is None else safe_error_text(error)  # job records are read widely: no values, no secrets
    conn = connect(dsn, what=what)
    try:
        conn.execute(
            "UPDATE smartsync.job_runs SET finished_at = clock_timestamp(), status = %s, rows_read = %s, "
            "rows_inserted = %s, rows_updated = %s, rows_deleted = %s, error = %s WHERE run_id = %s",
            (status, counts.read, counts.inserted, counts.updated, counts.deleted, error, run_id),
        )
    finally:
        conn.close()


def read_watermark(dsn: str, job: str, *, what: str) -> datetime | None:
    conn = connect(dsn, what=what)
    try:
        row = conn.execute("SELECT watermark FROM smartsync.watermarks WHERE job = %s", (job,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def write_watermark(conn: psycopg.Connection[Any], job: str, value: datetime) -> None:
    """Upsert the job's watermark in the caller's transaction (never moves it backwards)."""
    conn.execute(
        "INSERT INTO smartsync.watermarks (job, watermark, updated_at) VALUES (%s, %s, now()) "
        "ON CONFLICT (job) DO UPDATE SET watermark = greatest(smartsync.watermarks.watermark, EXCLUDED.watermark), "
        "updated_at = now()",
        (job, value),
    )


STALE_REASON = "stale: the process running it ended without finishing (killed or lost); closed by a later run"


def close_stale_runs(conn: psycopg.Connection[Any], job: str) -> int:
    """Close the job's ``running`` rows as failed, with a reason; returns how many.

    Call it only while holding the job's lock (``reconcile.locks.job_lock``): a live run holds
    that lock, so every ``running`` row found then belongs to a process that is gone.
    """
    cur = conn.execute(
        "UPDATE smartsync.job_runs SET status = 'failed', finished_at = clock_timestamp(), error = %s "
        "WHERE job = %s AND status = 'running'",
        (STALE_REASON, job),
    )
    return cur.rowcount


def last_scheduled(dsn: str, jobs: list[str], *, what: str) -> dict[str, datetime]:
    """The latest firing each job has a run for (any outcome; manual runs without a firing do not count)."""
    conn = connect(dsn, what=what)
    try:
        found = conn.execute(
            "SELECT job, max(scheduled_for) FROM smartsync.job_runs WHERE job = ANY(%s) AND scheduled_for IS NOT NULL "
            "GROUP BY job",
            (jobs,),
        ).fetchall()
    finally:
        conn.close()
    return {str(job): at for job, at in found}


def succeeded(conn: psycopg.Connection[Any], job: str, scheduled_for: datetime) -> int | None:
    """The run id of a successful run of this firing, if there is one."""
    row = conn.execute(
        "SELECT run_id FROM smartsync.job_runs WHERE job = %s AND scheduled_for = %s AND status = 'success' "
        "ORDER BY run_id DESC LIMIT 1",
        (job, scheduled_for),
    ).fetchone()
    return int(row[0]) if row else None
