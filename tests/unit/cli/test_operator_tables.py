"""Operator read commands: JSON for machines, and key columns (job and column names) never cut, even at 80 columns."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from smartsync.cli.console import console
from smartsync.cli.main import app
from smartsync.cli.masking import policy_rows
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


@pytest.fixture(params=[80, 60])
def narrow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The console at a narrow terminal's width (80 is also what rich uses when stdout is not a terminal)."""
    monkeypatch.setattr(console, "_width", request.param)
    return int(request.param)


def test_scheduler_plan_never_cuts_a_job_name(narrow: int) -> None:
    result = runner.invoke(app, ["scheduler", "plan", "--hours", "200", "--start", "2026-12-05T23:00:00+00:00"])
    assert result.exit_code == 0, result.output
    longest = max((schedule.job for _, schedule in load_catalog().jobs()), key=len)
    assert longest in result.stdout, f"{longest} cut at {narrow} columns:\n{result.stdout}"


def test_masking_policy_never_cuts_a_column_name(narrow: int) -> None:
    rows = [r for r in policy_rows(include_warehouse=True) if r["column"] is not None]
    result = runner.invoke(app, ["masking", "policy", "--all"])
    assert result.exit_code == 0, result.output
    for row in rows:
        # The name whole at the start of its cell (a long source expression after it may wrap).
        assert re.search(rf"│ {re.escape(str(row['column']))}[ │]", result.stdout), f"{row['column']} cut at {narrow}"
