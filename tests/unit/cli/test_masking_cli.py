"""``smartsync masking policy``: every citizen-facing column, its rule and a real example."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from masking import mask_value
from smartsync.cli.main import app
from smartsync.core.catalog import MaskRule, load_catalog

runner = CliRunner()


def test_policy_json_lists_every_citizen_facing_column() -> None:
    result = runner.invoke(app, ["masking", "policy", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = orjson.loads(result.stdout)
    listed = {(r["target"], r["column"]) for r in rows if r["column"] is not None}
    expected = {
        (f"smart_citizen.{s.target}", column) for s in load_catalog().syncs if s.citizen_bound for column in s.columns
    }
    assert listed == expected
    for row in rows:
        if row["column"] is None:
            assert row["rule"] == "dropped (never sent)"
        elif row["rule"] == "clear":
            assert row["example_in"] is None
        else:
            assert row["example_out"] == mask_value(MaskRule(row["rule"]), row["example_in"])
            assert row["example_out"] != row["example_in"]


def test_policy_shows_the_seeds_examples() -> None:
    result = runner.invoke(app, ["masking", "policy", "--sync", "golden_records", "--format", "json"])
    assert result.exit_code == 0, result.output
    by_column = {r["column"]: r for r in orjson.loads(result.stdout)}
    assert by_column["mobile"]["example_out"] == "******3210"
    assert by_column["jan_aadhaar"]["example_out"] == "****-****-7890"
    assert by_column["email"]["example_out"] == "a***@example.com"
    assert by_column["aadhaar"]["example_out"] == "***MASKED***"
    assert by_column["income_band"]["example_out"] == "CONFIDENTIAL"


def test_policy_table_renders_every_citizen_table() -> None:
    result = runner.invoke(app, ["masking", "policy"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for sync in load_catalog().syncs:
        if sync.citizen_bound:
            assert f"smart_citizen.{sync.target}" in result.stdout
    assert "a column without a rule stops its sync at start-up" in result.stdout


def test_policy_all_includes_warehouse_bound_syncs_as_unmasked() -> None:
    result = runner.invoke(app, ["masking", "policy", "--all", "--format", "json"])
    rows = orjson.loads(result.stdout)
    assert any(r["rule"] == "not masked (into smart_warehouse)" for r in rows)
