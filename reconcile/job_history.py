"""The run history of the batch jobs (``smartsync batch runs``), read from ``smartsync.job_runs``.

A job's runs are recorded in its sync's target database (the weekly reconciliation's in
smart_warehouse), so the history of every job reads both databases and merges them, newest first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from reconcile.connections import connect
from reconcile.jobs import find_job, record_database
from smartsync.core.catalog import Catalog
from smartsync.core.settings import Settings
from smartsync.core.tables import Database

_SQL = """
SELECT run_id, job, scheduled_for, started_at, finished_at, status, late,
       rows_read, rows_inserted, rows_updated, rows_deleted, error
FROM smartsync.job_runs WHERE job = ANY(%s) ORDER BY started_at DESC, run_id DESC LIMIT %s
"""


@dataclass(frozen=True)
class RunRecord:
    run_id: int
    job: str
    database: str
    scheduled_for: datetime | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    late: bool
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    error: str | None

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("scheduled_for", "started_at", "finished_at"):
            out[name] = out[name].isoformat() if out[name] is not None else None
        out["seconds"] = self.seconds
        return out


def jobs_by_database(catalog: Catalog, job: str | None) -> dict[Database, list[str]]:
    """Which database records which jobs; one job (checked against the catalog) or all."""
    chosen = [find_job(catalog, job)] if job is not None else list(catalog.jobs())
    out: dict[Database, list[str]] = {}
    for sync, schedule in chosen:
        out.setdefault(record_database(sync), []).append(schedule.job)
    return out


def recent_runs(catalog: Catalog, settings: Settings, job: str | None = None, limit: int = 20) -> list[RunRecord]:
    runs: list[RunRecord] = []
    for database, jobs in jobs_by_database(catalog, job).items():
        conn = connect(settings.dsn(database), what=database.value)
        try:
            for row in conn.execute(_SQL, (jobs, limit)).fetchall():
                runs.append(RunRecord(row[0], row[1], database.value, *row[2:]))
        finally:
            conn.close()
    runs.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
    return runs[:limit]
