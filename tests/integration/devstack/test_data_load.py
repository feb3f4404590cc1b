"""Loading synthetic data into the real stack's PostgreSQL.

Each test module gets two fresh databases on the stack's server, migrated with the same
DDL as ``smart_warehouse`` and ``smart_citizen``, so loading here never disturbs the
shared databases other tests (and Debezium) use.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from smartsync.cli.main import app
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import SinkError
from smartsync.core.schema import migrate
from smartsync.core.tables import SCHEMA, Database
from smartsync.devstack import synthetic
from smartsync.devstack.localstack import StackState

ANCHOR = datetime(2026, 11, 21, tzinfo=UTC)
SCALE = 0.01
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def fresh_dsns(stack: StackState) -> Iterator[dict[Database, str]]:
    suffix = uuid.uuid4().hex[:8]
    names = {db: f"synthetic_{suffix}_{db.value}" for db in Database}
    with psycopg.connect(stack.dsn("postgres"), autocommit=True) as admin:
        for name in names.values():
            admin.execute(f"CREATE DATABASE {name}")
    dsns = {db: stack.dsn(name) for db, name in names.items()}
    for db, dsn in dsns.items():
        migrate(dsn, db, CATALOG)
    try:
        yield dsns
    finally:
        with psycopg.connect(stack.dsn("postgres"), autocommit=True) as admin:
            for name in names.values():
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def loaded(fresh_dsns: dict[Database, str]) -> list[synthetic.TableLoad]:
    return synthetic.load_all(fresh_dsns, scale=SCALE, seed=3, anchor=ANCHOR)


def _source(sync: str) -> str:
    return CATALOG.sync(sync).source


def _rows(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def test_every_source_table_gets_its_rows(loaded: list[synthetic.TableLoad], fresh_dsns: dict[Database, str]) -> None:
    expected = synthetic.rows_at_scale(SCALE)
    assert {(r.database, r.table) for r in loaded} == {(t.database, t.qualified_name) for t in expected}
    for result in loaded:
        table = SCHEMA.table(result.database, result.table)
        assert result.rows == result.written == expected[table], result.table
    for db, dsn in fresh_dsns.items():
        counts = synthetic.table_counts(dsn, db, [t for t in expected if t.database is db])
        for name, rows in counts.items():
            assert rows == expected[SCHEMA.table(db, name)], name


def test_loaded_rows_keep_their_invariants(loaded: list[synthetic.TableLoad], fresh_dsns: dict[Database, str]) -> None:
    assert loaded
    wh, ci = fresh_dsns[Database.WAREHOUSE], fresh_dsns[Database.CITIZEN]
    people = _rows(
        wh, f"SELECT citizen_id, aadhaar, jan_aadhaar, mobile, district_id FROM {_source('golden_records')} ORDER BY 1"
    )
    for citizen_id, aadhaar, jan, mobile, district in people:
        assert synthetic.aadhaar_valid(str(aadhaar)), citizen_id
        assert re.fullmatch(r"[1-9]\d{9}", str(jan))
        assert mobile is None or re.fullmatch(r"[6-9]\d{9}", str(mobile))
        assert 1 <= int(str(district)) <= 33

    # The portal's citizens are the warehouse's golden records: same ids, same identity.
    shared = "citizen_id, jan_aadhaar, aadhaar, full_name, date_of_birth, gender, district_id, address, mobile, email"
    golden = _rows(wh, f"SELECT {shared} FROM {_source('golden_records')} ORDER BY 1")
    citizens = _rows(ci, f"SELECT {shared} FROM {_source('profile_updates')} ORDER BY 1")
    assert golden == citizens

    # Every evaluated scheme exists and is active; statuses follow the scores.
    orphans = _rows(
        wh,
        f"SELECT count(*) FROM {_source('eligibility_hints')} e LEFT JOIN {_source('scheme_master')} s "
        "USING (scheme_code) WHERE s.scheme_code IS NULL OR s.status <> 'active'",
    )
    assert orphans == [(0,)]
    wrong = _rows(
        wh,
        f"SELECT count(*) FROM {_source('eligibility_hints')} WHERE eligibility_score NOT BETWEEN 0 AND 1 "
        "OR status <> CASE WHEN eligibility_score >= 0.7 THEN 'eligible' "
        "WHEN eligibility_score >= 0.4 THEN 'possibly_eligible' ELSE 'not_eligible' END",
    )
    assert wrong == [(0,)]

    # Behaviour events fill the UTC day before the anchor, for the daily aggregation.
    ((first, last),) = _rows(ci, f"SELECT min(occurred_at), max(occurred_at) FROM {_source('user_behavior')}")
    assert isinstance(first, datetime)
    assert isinstance(last, datetime)
    assert ANCHOR - timedelta(days=1) <= first <= last < ANCHOR

    # Documents of an application belong to its applicant.
    mismatched = _rows(
        ci,
        f"SELECT count(*) FROM {_source('document_metadata')} d JOIN {_source('application_submissions')} a "
        "USING (application_id) WHERE a.citizen_id <> d.citizen_id",
    )
    assert mismatched == [(0,)]


def test_loading_twice_writes_nothing_and_replace_rewrites_changed_rows(
    loaded: list[synthetic.TableLoad], fresh_dsns: dict[Database, str]
) -> None:
    assert loaded
    wh = fresh_dsns[Database.WAREHOUSE]
    golden = CATALOG.sync("golden_records").source
    before = synthetic.table_counts(wh, Database.WAREHOUSE)

    again = synthetic.load(wh, Database.WAREHOUSE, scale=SCALE, seed=3, anchor=ANCHOR)
    assert all(r.written == 0 for r in again.values())
    assert synthetic.table_counts(wh, Database.WAREHOUSE) == before

    same = synthetic.load(wh, Database.WAREHOUSE, scale=SCALE, seed=3, tables=[golden], mode="replace", anchor=ANCHOR)
    assert same[golden].written == 0

    other = synthetic.load(wh, Database.WAREHOUSE, scale=SCALE, seed=4, tables=[golden], mode="replace", anchor=ANCHOR)
    assert other[golden].written == other[golden].rows
    names = _rows(wh, f"SELECT full_name FROM {golden} ORDER BY citizen_id LIMIT 5")
    expected = synthetic.generate(golden, 5, 4, scale=SCALE, anchor=ANCHOR)["full_name"].to_pylist()
    assert [n for (n,) in names] == expected

    # A larger scale adds the new keys and keeps the existing ones.
    bigger = synthetic.load(wh, Database.WAREHOUSE, scale=2 * SCALE, seed=3, tables=[golden], anchor=ANCHOR)
    assert bigger[golden].written == bigger[golden].rows // 2
    assert synthetic.table_counts(wh, Database.WAREHOUSE)[golden] == bigger[golden].rows

    # Truncate leaves exactly the generated rows.
    exact = synthetic.load(wh, Database.WAREHOUSE, scale=SCALE, seed=3, tables=[golden], mode="truncate", anchor=ANCHOR)
    assert exact[golden].written == exact[golden].rows
    assert synthetic.table_counts(wh, Database.WAREHOUSE)[golden] == exact[golden].rows


def test_an_unreachable_database_is_one_clear_error(stack: StackState) -> None:
    dsn = stack.dsn("no_such_database_here")
    with pytest.raises(SinkError, match="cannot load synthetic data"):
        synthetic.load(dsn, Database.WAREHOUSE, scale=SCALE, anchor=ANCHOR)


def test_the_cli_loads_and_counts(stack: StackState, fresh_dsns: dict[Database, str]) -> None:
    env = {
        "SMARTSYNC_WAREHOUSE_DSN": fresh_dsns[Database.WAREHOUSE],
        "SMARTSYNC_CITIZEN_DSN": fresh_dsns[Database.CITIZEN],
        "SMARTSYNC_KAFKA_BOOTSTRAP": stack.bootstrap,
        "COLUMNS": "200",
    }
    runner = CliRunner()
    citizens = CATALOG.sync("profile_updates").source
    args = ["data", "load", "--scale", "0.005", "--seed", "11", "-t", citizens, "--mode", "truncate"]
    loaded = runner.invoke(app, args, env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "loaded 500 rows" in loaded.output
    counts = runner.invoke(app, ["data", "counts"], env=env)
    assert counts.exit_code == 0, counts.output
    line = next(row for row in counts.output.splitlines() if f" {citizens} " in row)
    assert "500" in line
    assert synthetic.table_counts(fresh_dsns[Database.CITIZEN], Database.CITIZEN)[citizens] == 500
