"""``smartsync batch runs``: the run history from smartsync.job_runs of both databases, as a table and as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from reconcile.jobs import run_job
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from tests.integration.reconcile.reconcile_fixtures import SCHEMES, execute, reset

SMARTSYNC = [sys.executable, "-m", "smartsync"]


def smartsync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 — our own command
        [*SMARTSYNC, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=120, check=False
    )


def test_batch_runs_lists_the_recorded_runs(warehouse_dsn: str, citizen_dsn: str) -> None:
    reset(warehouse_dsn, Database.WAREHOUSE)
    reset(citizen_dsn, Database.CITIZEN)
    execute(warehouse_dsn, SCHEMES, {"n": 5})
    run_job("scheme_master_daily", load_settings())

    out = smartsync("batch", "runs", "scheme_master_daily", "--json")
    assert out.returncode == 0, out.stderr
    (run,) = json.loads(out.stdout)[:1]
    assert run["job"] == "scheme_master_daily"
    assert run["database"] == "smart_citizen"
    assert run["status"] == "success"
    assert run["rows_inserted"] >= 1

    table = smartsync("batch", "runs", "--limit", "5")
    assert table.returncode == 0, table.stderr
    assert "scheme_master_daily" in table.stdout  # the key column is never truncated

    unknown = smartsync("batch", "runs", "no_such_job")
    assert unknown.returncode == 1
    assert len(unknown.stderr.strip().splitlines()) == 1
