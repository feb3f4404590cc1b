"""``--debug`` is global: ``smartsync --debug <command>`` shows the traceback instead of the red line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from smartsync.cli.main import app, main
from smartsync.core.errors import ConfigurationError

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMARTSYNC_WAREHOUSE_DSN", "SMARTSYNC_CITIZEN_DSN", "SMARTSYNC_KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    # The root callback sets SMARTSYNC_DEBUG; monkeypatch restores it after each test.
    monkeypatch.setenv("SMARTSYNC_DEBUG", "")


def test_an_error_is_one_line_and_exit_code_1() -> None:
    result = runner.invoke(app, ["masking", "scan"])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "SMARTSYNC_CITIZEN_DSN" in result.output or "SMARTSYNC_WAREHOUSE_DSN" in result.output


@pytest.mark.parametrize("command", [["masking", "scan"], ["db", "migrate"], ["data", "counts"]])
def test_debug_before_any_command_raises_the_error_with_its_traceback(command: list[str]) -> None:
    result = runner.invoke(app, ["--debug", *command])
    assert isinstance(result.exception, ConfigurationError), result.output


def test_debug_after_the_command_works_too() -> None:
    with pytest.raises(ConfigurationError):
        main(["masking", "scan", "--debug"])
