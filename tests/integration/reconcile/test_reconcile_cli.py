"""The ``smartsync reconcile`` and ``smartsync batch`` commands as an operator runs them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartsync.core.tables import Database
from tests.integration.reconcile.reconcile_fixtures import SCHEMES, execute, execute_on_both, reset, scalar, smartsync

W, C = Database.WAREHOUSE, Database.CITIZEN


@pytest.fixture
def dbs(warehouse_dsn: str, citizen_dsn: str) -> Iterator[tuple[str, str]]:
    reset(warehouse_dsn, W)
    reset(citizen_dsn, C)
    for dsn in (warehouse_dsn, citizen_dsn):
        execute(dsn, "DROP SCHEMA IF EXISTS rc_test CASCADE; CREATE SCHEMA rc_test")
    yield warehouse_dsn, citizen_dsn
    for dsn in (warehouse_dsn, citizen_dsn):
        execute(dsn, "DROP SCHEMA IF EXISTS rc_test CASCADE")


def test_diff_table_json_then_fix(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, SCHEMES, {"n": 30})
    out = smartsync("reconcile", "diff", "--table", "schemes", "--json")
    assert out.returncode == 4, out.stderr  # drift above the default threshold of 0%
    tables = json.loads(out.stdout)["tables"]
    assert tables["scheme_master"]["source_only"] == 27
    assert {"source_only", "target_only", "changed", "unchanged"} <= set(tables["scheme_master"])
    assert smartsync("reconcile", "diff", "--table", "scheme_master", "--max-drift", "100").returncode == 0
    fixed = smartsync("reconcile", "diff", "--table", "scheme_master", "--fix", "--json")
    assert fixed.returncode == 0, fixed.stderr
    body = json.loads(fixed.stdout)
    assert body["fixed"]["inserted"] == 27
    assert body["after"]["scheme_master"]["source_only"] == 0
    assert scalar(ct, "SELECT count(*) FROM public.schemes") == 27


def test_report_renders_every_format(dbs: tuple[str, str], tmp_path: Path) -> None:
    wh, _ = dbs
    execute(wh, SCHEMES, {"n": 10})
    for fmt, marker in (
        ("json", '"tables"'),
        ("markdown", "| pair |"),
        ("html", "<table>"),
        ("table", "scheme_master"),
    ):
        path = tmp_path / f"report.{fmt}"
        res = smartsync("reconcile", "report", "--scope", "daily", "--format", fmt, "--output", str(path))
        assert res.returncode == 4, res.stderr  # schemes are missing in the portal
        assert marker in path.read_text()
    hourly = smartsync("reconcile", "report", "--scope", "hourly", "--format", "json")
    assert set(json.loads(hourly.stdout)["tables"]) == {"profile_summary"}
    weekly = smartsync("reconcile", "report", "--scope", "weekly", "--format", "json", "--max-drift", "100")
    assert weekly.returncode == 0, weekly.stderr
    assert json.loads(weekly.stdout)["integrity"]


def test_generic_mode_composite_key_and_nulls(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    ddl = (
        "CREATE TABLE rc_test.t (region text, id int, amount numeric(8,2), note text, seen timestamptz, "
        "PRIMARY KEY (region, id))"
    )
    fill = (
        "INSERT INTO rc_test.t SELECT (ARRAY['north','south'])[g % 2 + 1], g, g * 1.5, "
        "CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END, timestamptz '2026-01-01' + g * interval '1 hour' "
        "FROM generate_series(1, 2000) g"
    )
    execute_on_both((wh, ct), ddl, fill)
    execute(ct, "DELETE FROM rc_test.t WHERE id IN (10, 11)")
    execute(ct, "INSERT INTO rc_test.t VALUES ('east', 1, 0, NULL, NULL)")
    execute(ct, "UPDATE rc_test.t SET note = NULL WHERE id = 20")
    execute(ct, "UPDATE rc_test.t SET note = 'x' WHERE id = 21")  # NULL in the source
    execute(ct, "UPDATE rc_test.t SET amount = 30.50 WHERE id = 22")  # 33.00 in the source
    execute(ct, "UPDATE rc_test.t SET amount = 34.5 WHERE id = 23")  # same value, other scale: equal
    out = smartsync(
        "reconcile",
        "diff",
        "--source",
        wh,
        "--target",
        ct,
        "--source-table",
        "rc_test.t",
        "--target-table",
        "rc_test.t",
        "--key",
        "region,id",
        "--json",
    )
    assert out.returncode == 4, out.stderr
    (diff,) = json.loads(out.stdout)["tables"].values()
    assert (diff["source_only"], diff["target_only"], diff["changed"]) == (2, 1, 3)
    assert sorted(diff["samples"]["source_only"]) == [["north", 10], ["south", 11]]
    assert diff["samples"]["target_only"] == [["east", 1]]
    assert diff["changed_columns"] == {"amount": 1, "note": 2}
    assert diff["unchanged"] == 2000 - 2 - 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "no_such_table"], "unknown table or sync"),
        (["--source-table", "rc_test.missing", "--target-table", "rc_test.a", "--key", "id"], "unknown table"),
        (
            ["--source-table", "rc_test.a", "--target-table", "rc_test.a", "--key", "nope"],
            "key column 'nope' is missing",
        ),
        (["--source-table", "rc_test.dup", "--target-table", "rc_test.a", "--key", "id"], "duplicate keys"),
        (
            ["--source-table", "rc_test.a", "--target-table", "rc_test.b", "--key", "id"],
            "type mismatch on key column 'id'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(dbs: tuple[str, str], args: list[str], message: str) -> None:
    wh, ct = dbs
    execute_on_both(
        (wh, ct),
        "CREATE TABLE rc_test.a (id int PRIMARY KEY, v text); INSERT INTO rc_test.a VALUES (1, 'x')",
        "CREATE TABLE rc_test.b (id text PRIMARY KEY, v text); CREATE TABLE rc_test.dup (id int, v text)",
        "INSERT INTO rc_test.dup VALUES (1, 'a'), (1, 'b')",
    )
    full = args if "--table" in args else ["--source", wh, "--target", ct, *args]
    res = smartsync("reconcile", "diff", *full)
    assert res.returncode == 1
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_unreachable_database_is_one_line(dbs: tuple[str, str]) -> None:
    bad = "postgresql://nobody:x@127.0.0.1:1/nowhere?connect_timeout=2"
    res = smartsync(
        "reconcile",
        "diff",
        "--source",
        bad,
        "--target",
        dbs[1],
        "--source-table",
        "a",
        "--target-table",
        "a",
        "--key",
        "id",
    )
    assert res.returncode == 1
    assert "cannot connect" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_batch_list_and_run(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    listed = smartsync("batch", "list")
    assert listed.returncode == 0
    for job in ("scheme_master_daily", "profile_summary_hourly", "weekly_reconciliation", "user_behavior_daily"):
        assert job in listed.stdout
    execute(wh, SCHEMES, {"n": 10})
    dry = smartsync("batch", "run", "scheme_master_daily", "--dry-run", "--ignore-maintenance")
    assert dry.returncode == 0, dry.stderr
    assert scalar(ct, "SELECT count(*) FROM public.schemes") == 0
    run = smartsync("batch", "run", "scheme_master_daily", "--ignore-maintenance")
    assert run.returncode == 0, run.stderr
    assert scalar(ct, "SELECT count(*) FROM public.schemes") == 9
    unknown = smartsync("batch", "run", "nope")
    assert unknown.returncode == 1 and "unknown job 'nope'" in unknown.stderr


def test_schema_differences_are_reported_not_fatal(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(
        wh,
        "CREATE TABLE rc_test.s (id int PRIMARY KEY, a text, b int, c text); INSERT INTO rc_test.s VALUES (1, 'x', "
        "2, 'c'), (2, 'y', 3, 'd')",
    )
    execute(
        ct,
        "CREATE TABLE rc_test.s (id int PRIMARY KEY, a text, b text); INSERT INTO rc_test.s VALUES (1, 'x', '2'), "
        "(2, 'z', '3')",
    )
    out = smartsync(
        "reconcile",
        "diff",
        "--source",
        wh,
        "--target",
        ct,
        "--source-table",
        "rc_test.s",
        "--target-table",
        "rc_test.s",
        "--key",
        "id",
        "--json",
    )
    assert out.returncode == 4, out.stderr
    (diff,) = json.loads(out.stdout)["tables"].values()
    assert diff["schema"]["missing_in_target"] == ["c"]
    assert diff["schema"]["retyped"] == [{"column": "b", "source": "integer", "target": "text"}]
    assert diff["changed"] == 1 and diff["changed_columns"] == {"a": 1}  # b compared on its text form: equal
