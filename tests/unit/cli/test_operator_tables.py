"""Operator read commands: JSON for machines, and key columns (job and column names) never cut, even at 80 columns."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from smartsync.cli.main import app
from smartsync.core.catalog import load_catalog

runner = CliRunner()


def test_scheduler_plan_json_has_the_table_fields() -> None:
    result = runner.invoke(
        app, ["scheduler", "plan", "--json", "--hours", "200", "--start", "2026-12-05T23:00:00+00:00"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows, "a week's plan has firings"
    assert set(rows[0]) == {"run_at", "job", "scheduled_for", "note"}
    jobs = {schedule.job for _, schedule in load_catalog().jobs()}
    assert {r["job"] for r in rows} == jobs
    # The first Sunday of December 2026 is the 6th: a firing in 02:00-04:00 UTC is deferred and says so.
    assert any(r["note"] == "after the maintenance window" for r in rows)
