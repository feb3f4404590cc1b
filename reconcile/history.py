"""Stored reconciliation reports: ``smartsync.reconciliation_reports`` in smart_warehouse.

The weekly run stores its report (the JSON rendering: counts, changed column names, integrity
findings and up to 20 sample keys per kind; never row values) under its ``job_runs`` id.
``smartsync reconcile history`` lists them with their drift; ``smartsync reconcile report --run``
renders one, with each pair's drift over the runs up to it (``reconcile.stored``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconcile.connections import connect
from reconcile.model import Report
from reconcile.render import report_to_json
from smartsync.core.errors import ReconcileError

WHAT = "smart_warehouse"


@dataclass(frozen=True)
class StoredRun:
    """One stored report, summarised for the history list."""

    run_id: int
    job: str
    created_at: datetime
    status: str
    late: bool
    pairs: int
    differing: int  # rows that differed, summed over the pairs
    max_drift_pct: float
    fixed: int  # rows the run wrote (inserted + updated + deleted)
    errors: int


@dataclass(frozen=True)
class StoredReport:
    run_id: int
    created_at: datetime
    doc: dict[str, Any]  # ``reconcile.render.report_to_json`` of the report
    # pair → [(created_at, differing rows, drift %)] over the stored runs up to this one, oldest first
    series: dict[str, list[tuple[datetime, int, float]]]


def store_report(dsn: str, run_id: int, job: str, report: Report) -> None:
    doc = json.dumps(report_to_json(report), default=str)
    conn = connect(dsn, what=WHAT)
    try:
        conn.execute(
            "INSERT INTO smartsync.reconciliation_reports (run_id, job, created_at, report) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET report = EXCLUDED.report",
            (run_id, job, report.generated_at, doc),
        )
    finally:
        conn.close()


def _differing(table: dict[str, Any]) -> int:
    return int(table["source_only"]) + int(table["target_only"]) + int(table["changed"])


def summarise(row: tuple[Any, ...]) -> StoredRun:
    """A history row (run_id, job, created_at, status, late, report) summarised."""
    run_id, job, created_at, status, late, doc = row
    tables = doc.get("tables", {})
    fixed = sum(
        int(c.get("inserted", 0)) + int(c.get("updated", 0)) + int(c.get("deleted", 0))
        for c in doc.get("fixed", {}).values()
    )
    return StoredRun(
        run_id=int(run_id),
        job=str(job),
        created_at=created_at,
        status=str(status),
        late=bool(late),
        pairs=len(tables),
        differing=sum(_differing(t) for t in tables.values()),
        max_drift_pct=float(doc.get("max_drift_pct", 0.0)),
        fixed=fixed,
        errors=len(doc.get("errors", {})),
    )


def list_runs(dsn: str, *, limit: int = 20) -> list[StoredRun]:
    """The latest stored reports, newest first, with their run's outcome."""
    conn = connect(dsn, what=WHAT)
    try:
        found = conn.execute(
            "SELECT r.run_id, r.job, r.created_at, coalesce(j.status, 'unknown'), coalesce(j.late, false), r.report "
            "FROM smartsync.reconciliation_reports r LEFT JOIN smartsync.job_runs j USING (run_id) "
            "ORDER BY r.created_at DESC, r.run_id DESC LIMIT %s",
            (limit,),
        ).fetchall()
    finally:
        conn.close()
    return [summarise(tuple(r)) for r in found]


def load_report(dsn: str, run_id: int, *, history: int = 12) -> StoredReport:
    """One stored report and each pair's drift over the ``history`` stored runs up to it."""
    conn = connect(dsn, what=WHAT)
    try:
        row = conn.execute(
            "SELECT created_at, report FROM smartsync.reconciliation_reports WHERE run_id = %s", (run_id,)
        ).fetchone()
        if row is None:
            msg = f"no stored reconciliation report for run {run_id}"
            raise ReconcileError(msg, hint="`smartsync reconcile history` lists the stored runs")
        earlier = conn.execute(
            "SELECT created_at, report FROM smartsync.reconciliation_reports WHERE (created_at, run_id) <= (%s, %s) "
            "ORDER BY created_at DESC, run_id DESC LIMIT %s",
            (row[0], run_id, history),
        ).fetchall()
    finally:
        conn.close()
    return StoredReport(run_id, row[0], row[1], drift_series([(at, doc) for at, doc in reversed(earlier)]))


def drift_series(docs: list[tuple[datetime, dict[str, Any]]]) -> dict[str, list[tuple[datetime, int, float]]]:
    """pair → its (time, differing rows, drift %) in each report, in the order given."""
    series: dict[str, list[tuple[datetime, int, float]]] = {}
    for at, doc in docs:
        for name, table in doc.get("tables", {}).items():
            series.setdefault(name, []).append((at, _differing(table), float(table.get("drift_pct", 0.0))))
    return series
