"""``smartsync db migrate`` against the running stack, and its one-line errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from smartsync.cli.main import app
from smartsync.devstack.localstack import StackState


def test_migrate_twice_succeeds(stack: StackState) -> None:
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["db", "migrate"], env=stack.env())
        assert result.exit_code == 0, result.output
        assert "both databases are migrated" in result.output


def test_unreachable_database_is_one_line(stack: StackState, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**stack.env(), "SMARTSYNC_WAREHOUSE_DSN": "postgresql://nobody@127.0.0.1:1/smart_warehouse"}
    result = CliRunner().invoke(app, ["db", "migrate"], env=env)
    assert result.exit_code == 1
    assert "cannot reach smart_warehouse" in result.output
    assert "check SMARTSYNC_WAREHOUSE_DSN" in result.output
