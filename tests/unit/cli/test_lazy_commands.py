"""A command loads only its own module; help and unknown commands see every command."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from smartsync.cli.main import COMMANDS, build_app

runner = CliRunner()


def _modules_loaded_by(args: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from smartsync.cli.main import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith('smartsync.cli.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    return set(out.split())


def test_a_command_imports_its_own_module_only() -> None:
    loaded = _modules_loaded_by(["reconcile", "--help"])
    assert "smartsync.cli.reconcile" in loaded
    assert not {"smartsync.cli.stack", "smartsync.cli.deploy", "smartsync.cli.orchestrate"} & loaded


def test_help_lists_every_command() -> None:
    result = runner.invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_an_unknown_command_is_a_usage_error_among_all_commands() -> None:
    result = runner.invoke(build_app("nosuch"), ["nosuch"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_global_options_before_the_command_are_skipped() -> None:
    loaded = _modules_loaded_by(["--debug", "db", "--help"])
    assert "smartsync.cli.db" in loaded
    assert "smartsync.cli.reconcile" not in loaded
