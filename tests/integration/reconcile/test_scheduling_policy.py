"""The durable scheduler's policy on the real stack: locks, stale runs, missed firings, once, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from reconcile.connections import Limits, connect, use_limits
from reconcile.cron import previous_run
from reconcile.jobs import run_job
from reconcile.locks import JobBusyError, lock_key
from reconcile.runs import STALE_REASON
from reconcile.scheduled import resume, run_scheduled
from reconcile.scheduler import Scheduler
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from tests.integration.reconcile.reconcile_fixtures import SCHEMES, execute, reset, rows, scalar, smartsync

W, C = Database.WAREHOUSE, Database.CITIZEN
JOB = "scheme_master_daily"  # records in smart_citizen


@pytest.fixture
def dbs(warehouse_dsn: str, citizen_dsn: str) -> tuple[str, str]:
    reset(warehouse_dsn, W)
    reset(citizen_dsn, C)
    execute(warehouse_dsn, SCHEMES, {"n": 20})
    return warehouse_dsn, citizen_dsn


def test_a_manual_run_is_refused_while_the_job_runs_elsewhere(dbs: tuple[str, str]) -> None:
    _, ct = dbs
    with psycopg.connect(ct, autocommit=True) as holder:  # another run of the job holds its lock
        assert holder.execute("SELECT pg_try_advisory_lock(%s, %s)", lock_key(JOB)).fetchone() == (True,)
        with pytest.raises(JobBusyError, match=f"job {JOB} is already running"):
            run_job(JOB, load_settings())
        cli = smartsync("batch", "run", JOB, "--force")
        assert cli.returncode == 1 and "already running" in cli.stdout + cli.stderr
        assert scalar(ct, "SELECT count(*) FROM smartsync.job_runs WHERE job = %s", (JOB,)) == 0
    assert run_job(JOB, load_settings()).status == "success"  # the lock left with the holder's session


def test_stale_running_rows_of_a_killed_run_are_closed_as_failed(dbs: tuple[str, str]) -> None:
    _, ct = dbs
    execute(ct, "INSERT INTO smartsync.job_runs (job, status) VALUES (%s, 'running')", (JOB,))
    result = run_job(JOB, load_settings())
    assert result.stale_closed == 1
    assert rows(
        ct, "SELECT status, error IS NOT NULL FROM smartsync.job_runs WHERE job = %s ORDER BY run_id", (JOB,)
    ) == [
        ("failed", True),
        ("success", False),
    ]
    assert scalar(ct, "SELECT error FROM smartsync.job_runs WHERE job = %s ORDER BY run_id LIMIT 1", (JOB,)) == (
        STALE_REASON
    )


def test_a_restarted_scheduler_runs_the_missed_firing_once_flagged_late(dbs: tuple[str, str]) -> None:
    _, ct = dbs
    catalog = load_catalog()
    settings = load_settings()
    now = datetime.now(UTC)
    due = previous_run("0 0 * * *", now)
    # The scheduler ran yesterday's firing, then was down over today's.
    execute(
        ct,
        "INSERT INTO smartsync.job_runs (job, scheduled_for, status, finished_at) VALUES (%s, %s, 'success', now())",
        (JOB, due - timedelta(days=1)),
    )
    last = resume(catalog, settings, now)
    ran: list[tuple[str, datetime, bool]] = []

    def run(job: str, at: datetime, late: bool) -> None:
        ran.append((job, at, late))
        if job == JOB:
            run_scheduled(job, settings, catalog=catalog, scheduled_for=at, late=late)

    scheduler = Scheduler(catalog, run, last=last)
    while (fired := scheduler.step()) is not None and fired.job != JOB:
        pass
    assert (JOB, due, True) in ran
    assert rows(
        ct, "SELECT late, status FROM smartsync.job_runs WHERE job = %s AND scheduled_for = %s", (JOB, due)
    ) == [(True, "success")]
    # Restarted again: the firing is recorded now, nothing of it runs a second time.
    assert resume(catalog, settings, datetime.now(UTC))[JOB] >= due


def test_once_never_runs_a_firing_twice(dbs: tuple[str, str]) -> None:
    _, ct = dbs
    catalog, settings = load_catalog(), load_settings()
    firing = previous_run("0 0 * * *", datetime.now(UTC)) - timedelta(days=2)
    first = run_scheduled(JOB, settings, catalog=catalog, scheduled_for=firing + timedelta(minutes=3))
    again = run_scheduled(JOB, settings, catalog=catalog, scheduled_for=firing)
    assert (first.status, first.scheduled_for) == ("success", firing)
    assert (again.status, again.run_id) == ("skipped", first.run_id)
    cli = smartsync("scheduler", "run", "--once", JOB, "--scheduled-for", firing.isoformat())
    assert cli.returncode == 0, cli.stderr
    assert "already succeeded" in cli.stdout
    assert scalar(ct, "SELECT count(*) FROM smartsync.job_runs WHERE job = %s", (JOB,)) == 1


def test_batch_run_scheduled_for_backfills_a_past_firing(dbs: tuple[str, str]) -> None:
    _, ct = dbs
    cli = smartsync("batch", "run", JOB, "--scheduled-for", "2026-11-01T00:07:00Z")
    assert cli.returncode == 0, cli.stderr
    assert rows(ct, "SELECT scheduled_for, status FROM smartsync.job_runs WHERE job = %s", (JOB,)) == [
        (datetime(2026, 11, 1, tzinfo=UTC), "success")
    ]


def test_batch_connections_carry_timeouts_and_keepalives(warehouse_dsn: str) -> None:
    use_limits(Limits(statement_timeout_s=1, idle_in_transaction_timeout_s=2))
    try:
        conn = connect(warehouse_dsn, what="smart_warehouse")
        try:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("1s",)
            assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("2s",)
            assert conn.info.get_parameters()["keepalives"] == "1"
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("SELECT pg_sleep(3)")
        finally:
            conn.close()
    finally:
        use_limits(Limits())
