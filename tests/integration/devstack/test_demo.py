"""The main job (`make demo`) end to end on the session's stack, at a small scale.

It loads synthetic data into the shared source tables, so it runs after every other test
(see the ``main_job`` marker in tests/conftest.py).
"""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from smartsync.cli.main import app
from smartsync.core.catalog import load_catalog
from smartsync.devstack.localstack import StackState


@pytest.mark.main_job
def test_the_main_job_syncs_both_directions_and_finds_no_leak(stack: StackState) -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--scale", "0.01", "--live-seconds", "5", "--rate", "50", "--callbacks", "20", "--workers", "1"],
        env={**stack.env(), "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "change events on Kafka (this run)" in out
    assert "posted 20 benefit_forecasts callbacks" in out and "posted 20 ml_alerts callbacks" in out
    for _, schedule in load_catalog().jobs():
        assert schedule.job in out
    assert "failed" not in out
    assert "leak scan clean" in out
    # Every sync target holds rows: the event path and the batch path both delivered.
    catalog = load_catalog()
    for sync in catalog.syncs:
        with psycopg.connect(stack.dsn(sync.target_database)) as conn:
            row = conn.execute(f"SELECT count(*) FROM {sync.target}").fetchone()
        assert row is not None and row[0] > 0, f"{sync.target} is empty after the demo"
