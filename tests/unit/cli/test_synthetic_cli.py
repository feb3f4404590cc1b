"""``smartsync data plan | preview`` need no database."""

from __future__ import annotations

from typer.testing import CliRunner

from smartsync.cli.main import app

runner = CliRunner()


def test_plan_lists_every_source_table_with_its_rows() -> None:
    result = runner.invoke(app, ["data", "plan", "--scale", "10"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "public.golden_records" in result.output
    assert "1,000,000" in result.output
    assert "9,510,200" in result.output  # the total at scale 10


def test_preview_shows_generated_rows() -> None:
    args = ["data", "preview", "public.citizens", "-n", "2", "--seed", "1"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "citizen_id" in result.output
    assert "jan_aadhaar" in result.output


def test_bad_arguments_are_one_line_errors() -> None:
    bad_scale = runner.invoke(app, ["data", "plan", "--scale", "0"])
    assert bad_scale.exit_code == 1
    assert "--scale must be positive" in bad_scale.output
    bad_table = runner.invoke(app, ["data", "preview", "public.nope"])
    assert bad_table.exit_code == 1
    assert "not a sync source table" in bad_table.output
