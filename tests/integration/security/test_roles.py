"""Least privilege on the real databases: each sink role writes its own targets and nothing else; the flows'
source-side role runs the source checks and reads no table at all; the monitor reads the targets' keys and
positions and the replication slots, no other column or table, and writes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from connectors.debezium.connector import slot_name
from connectors.postgres.apply import RowChange, apply_changes
from connectors.postgres.source_identity import check_identity, read_source_identity
from dataflows.decode import SyncDecoder
from dataflows.startup import live_columns
from reconcile.locks import JobBusyError, job_lock, lock_key
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.roles import (
    CDC_ROLE,
    FLOW_SOURCE_ROLE,
    MONITOR_ROLE,
    RECONCILER_ROLE,
    SINK_ROLES,
    monitor_columns,
    roles_sql,
)
from smartsync.core.settings import Settings
from smartsync.core.tables import SCHEMA, Database
from smartsync.devstack.localstack import StackState
from smartsync.monitoring.exporter import TargetPositions, slot_states


@pytest.fixture(scope="module")
def roles(stack: StackState) -> StackState:
    catalog = load_catalog()
    # The stack's own passwords: the session's flows and batch jobs log in with them (StackState.component_env).
    passwords = dict(stack.role_passwords)
    assert FLOW_SOURCE_ROLE in passwords and MONITOR_ROLE in passwords, (
        "the running stack predates its component roles: `smartsync stack down && smartsync stack up`"
    )
    for db in Database:
        with psycopg.connect(stack.dsn(db), autocommit=True) as conn:
            for stmt in roles_sql(db, catalog, {**passwords, CDC_ROLE: stack.cdc_password}):
                conn.execute(stmt.encode())
    return stack


def _as(stack: StackState, role: str, db: Database) -> psycopg.Connection[Any]:
    return psycopg.connect(stack.role_dsn(role, db), autocommit=True)


def test_the_citizen_sink_writes_its_target_through_the_real_apply(roles: StackState) -> None:
    table = SCHEMA.table(Database.CITIZEN, "public.ml_alerts")
    alert_id = uuid.uuid4()
    row = {
        "alert_id": alert_id,
        "citizen_id": 77,
        "source_model": "AI-PLATFORM-09",
        "alert_type": "proactive_inclusion",
        "severity": "high",
        "message": "x",
        "created_at": datetime.now(UTC),
    }
    with _as(roles, SINK_ROLES[Database.CITIZEN], Database.CITIZEN) as conn:
        result = apply_changes(conn, table, [RowChange((alert_id,), row, 1)])
        assert result.inserted == 1
        apply_changes(conn, table, [RowChange((alert_id,), None, 2)])  # a delete writes a tombstone too


@pytest.mark.parametrize("statement", ["SELECT * FROM public.citizens LIMIT 1", "DELETE FROM public.citizens"])
def test_the_citizen_sink_cannot_touch_a_table_it_does_not_own(roles: StackState, statement: str) -> None:
    with (
        _as(roles, SINK_ROLES[Database.CITIZEN], Database.CITIZEN) as conn,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        conn.execute(statement)


def test_the_citizen_sink_cannot_read_bookkeeping_it_does_not_need(roles: StackState) -> None:
    with (
        _as(roles, SINK_ROLES[Database.CITIZEN], Database.CITIZEN) as conn,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT * FROM smartsync.job_runs LIMIT 1")


def test_a_sink_cannot_even_connect_to_the_other_database(roles: StackState) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _as(roles, SINK_ROLES[Database.CITIZEN], Database.WAREHOUSE).close()


def test_the_warehouse_sink_cannot_write_the_warehouse_sources(roles: StackState) -> None:
    catalog = load_catalog()
    source = next(s.source for s in catalog.syncs if s.source_database is Database.WAREHOUSE)
    with (
        _as(roles, SINK_ROLES[Database.WAREHOUSE], Database.WAREHOUSE) as conn,
        pytest.raises(pg_errors.InsufficientPrivilege),
    ):
        conn.execute(f"DELETE FROM {source}".encode())


def test_no_smartsync_role_is_a_superuser_and_cdc_reads_captured_tables_only(roles: StackState) -> None:
    catalog = load_catalog()
    with psycopg.connect(roles.dsn(Database.CITIZEN), autocommit=True) as conn:
        flags = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication FROM pg_roles "
            "WHERE rolname LIKE 'smartsync\\_%'"
        ).fetchall()
        assert {r[0] for r in flags} >= {
            CDC_ROLE,
            RECONCILER_ROLE,
            FLOW_SOURCE_ROLE,
            MONITOR_ROLE,
            *SINK_ROLES.values(),
        }
        assert not any(r[1] or r[2] or r[3] for r in flags)
        assert [r[0] for r in flags if r[4]] == [CDC_ROLE]
        readable = {
            r[0]
            for r in conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.role_table_grants "
                "WHERE grantee = %s AND privilege_type = 'SELECT'",
                (CDC_ROLE,),
            )
        }
    assert readable == {*catalog.captured_tables(Database.CITIZEN), "smartsync.heartbeat"}


def test_the_reconciler_reads_every_synced_table_callback_fed_ones_included(roles: StackState) -> None:
    # The batch path compares a callback-fed sync's warehouse copy with the portal (reconcile report --scope daily).
    catalog = load_catalog()
    for db in Database:
        tables = {s.source for s in catalog.syncs if s.source_database is db}
        tables |= {s.target for s in catalog.syncs if s.target_database is db}
        with _as(roles, RECONCILER_ROLE, db) as conn:
            for table in sorted(tables):
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1".encode())


def test_a_busy_job_names_its_holder_even_when_the_reconciler_cannot_see_its_start(roles: StackState) -> None:
    # The reconciler sees another role's session without its start time (no pg_read_all_stats).
    with psycopg.connect(roles.dsn(Database.CITIZEN), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", lock_key("roles_test_job"))
        with (
            pytest.raises(JobBusyError, match=r"job roles_test_job is already running \(session pid \d+\)"),
            job_lock(roles.role_dsn(RECONCILER_ROLE, Database.CITIZEN), "roles_test_job", what="test"),
        ):
            pass


def _old_column_check(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, set[str]]:
    """What the start-up check read before (information_schema, which shows only tables the role may use)."""
    found: dict[str, set[str]] = {t: set() for t in tables}
    for table, column in conn.execute(
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
        "WHERE table_schema || '.' || table_name = ANY(%s)",
        (tables,),
    ):
        found[table].add(column)
    return found


@pytest.mark.parametrize("direction", list(Direction))
def test_the_flow_source_role_runs_a_flows_source_checks(roles: StackState, direction: Direction) -> None:
    source, target = direction.source_database, direction.target_database
    tables = sorted({s.source for s in load_catalog().event_syncs(direction)})
    # The start-up column check sees what the owner saw through information_schema, without any table privilege.
    with psycopg.connect(roles.dsn(source), autocommit=True) as owner:
        expected = _old_column_check(owner, tables)
        identity = read_source_identity(owner)
    assert all(expected.values()), expected
    assert live_columns(roles.role_dsn(FLOW_SOURCE_ROLE, source), tables) == expected
    # pg_control_system() / pg_control_checkpoint(), at start and every ~30 s, against the sink's record.
    with _as(roles, FLOW_SOURCE_ROLE, source) as conn:
        assert read_source_identity(conn) == identity
        assert conn.execute("SELECT current_user").fetchone() == (FLOW_SOURCE_ROLE,)
    live = check_identity(
        roles.role_dsn(FLOW_SOURCE_ROLE, source),
        roles.role_dsn(SINK_ROLES[target], target),
        source.value,
        target.value,
        direction.value,
    )
    assert live == identity


def test_the_column_check_sees_live_columns_and_missing_tables_without_privileges(roles: StackState) -> None:
    schema = f"flow_source_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(roles.dsn(Database.WAREHOUSE), autocommit=True) as owner:
        owner.execute(f"CREATE SCHEMA {schema}".encode())
        try:
            owner.execute(f"CREATE TABLE {schema}.t (id int PRIMARY KEY, gone text, kept text)".encode())
            owner.execute(f"ALTER TABLE {schema}.t DROP COLUMN gone".encode())
            seen = live_columns(roles.role_dsn(FLOW_SOURCE_ROLE, Database.WAREHOUSE), [f"{schema}.t", f"{schema}.no"])
        finally:
            owner.execute(f"DROP SCHEMA {schema} CASCADE".encode())
    # A missing table has no columns: the start-up check then says "source table ... does not exist".
    assert seen == {f"{schema}.t": {"id", "kept"}, f"{schema}.no": set()}


def _table_and_schema_privileges(owner: psycopg.Connection[Any], role: str) -> tuple[list[Any], list[Any]]:
    """The tables ``role`` holds any table privilege on and the schemas it may create in; it must have no TEMP."""
    granted = owner.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND has_table_privilege(%s, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')",
        (role,),
    ).fetchall()
    creatable = owner.execute(
        "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(%s, oid, 'CREATE')", (role,)
    ).fetchall()
    assert owner.execute("SELECT has_database_privilege(%s, current_database(), 'TEMP')", (role,)).fetchone() == (
        False,
    )
    return granted, creatable


@pytest.mark.parametrize("db", list(Database))
def test_the_flow_source_role_can_neither_read_nor_write_any_table(roles: StackState, db: Database) -> None:
    with psycopg.connect(roles.dsn(db), autocommit=True) as owner:
        granted, creatable = _table_and_schema_privileges(owner, FLOW_SOURCE_ROLE)
    assert granted == []
    assert creatable == []
    catalog = load_catalog()
    tables = sorted({*catalog.captured_tables(db), "smartsync.source_identity", "smartsync.heartbeat"})
    with _as(roles, FLOW_SOURCE_ROLE, db) as conn:
        for table in tables:
            for statement in (
                f"SELECT * FROM {table} LIMIT 1",
                f"INSERT INTO {table} DEFAULT VALUES",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
            ):
                with pytest.raises(pg_errors.InsufficientPrivilege):
                    conn.execute(statement.encode())
        for statement in ("CREATE TABLE public.flow_source_probe (i int)", "CREATE TEMP TABLE probe (i int)"):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(statement.encode())


def _monitor_settings(stack: StackState) -> Settings:
    return Settings(
        warehouse_dsn=stack.role_dsn(MONITOR_ROLE, Database.WAREHOUSE),
        citizen_dsn=stack.role_dsn(MONITOR_ROLE, Database.CITIZEN),
    )


def test_the_monitor_role_reads_positions_and_slot_states(roles: StackState) -> None:
    catalog = load_catalog()
    alert_id = uuid.uuid4()
    table = SCHEMA.table(Database.CITIZEN, "public.ml_alerts")
    row = {
        "alert_id": alert_id,
        "citizen_id": 78,
        "source_model": "AI-PLATFORM-09",
        "alert_type": "proactive_inclusion",
        "severity": "high",
        "message": "x",
        "created_at": datetime.now(UTC),
    }
    with psycopg.connect(roles.dsn(Database.CITIZEN), autocommit=True) as owner:
        apply_changes(owner, table, [RowChange((alert_id,), row, 4242)])
    positions = TargetPositions(_monitor_settings(roles))
    try:
        assert positions.position(SyncDecoder(catalog.sync("ml_alerts")), (alert_id,)) == 4242
        # Every event sync's lookup (what SyncLag asks per undelivered change) runs; an absent key is None.
        for sync in catalog.event_syncs():
            decoder = SyncDecoder(sync)
            key = tuple(None for _ in decoder.target.primary_key)
            assert positions.position(decoder, key) is None, sync.name
        assert positions._conn(Database.CITIZEN).execute("SELECT current_user").fetchone() == (MONITOR_ROLE,)
    finally:
        positions.close()
        with psycopg.connect(roles.dsn(Database.CITIZEN), autocommit=True) as owner:
            owner.execute("DELETE FROM public.ml_alerts WHERE alert_id = %s", (alert_id,))
    # pg_replication_slots and pg_current_wal_lsn() need no grant (PUBLIC's on PostgreSQL 15).
    for db in Database:
        state = slot_states(roles.role_dsn(MONITOR_ROLE, db), slot_name(db, catalog))
        assert state is not None, db
        assert state[1] >= 0 and state[2] >= 0


@pytest.mark.parametrize("db", list(Database))
def test_the_monitor_role_reads_the_key_and_position_columns_only_and_writes_nothing(
    roles: StackState, db: Database
) -> None:
    catalog = load_catalog()
    wanted = monitor_columns(db, catalog)
    with psycopg.connect(roles.dsn(db), autocommit=True) as owner:
        readable = owner.execute(
            "SELECT c.oid::regclass::text, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND a.attnum > 0 AND NOT a.attisdropped "
            "AND has_column_privilege(%s, c.oid, a.attnum, 'SELECT')",
            (MONITOR_ROLE,),
        ).fetchall()
        whole_tables, creatable = _table_and_schema_privileges(owner, MONITOR_ROLE)
    # public.x is shown as x by regclass when public is on the search path.
    found: dict[str, set[str]] = {}
    for table, column in readable:
        found.setdefault(table if "." in table else f"public.{table}", set()).add(column)
    assert found == {t: set(cols) for t, cols in wanted.items()}
    assert whole_tables == []
    assert creatable == []
    personal = {"public.profile_data": "full_name", "public.profile_summary": "mobile"}
    others = sorted({*catalog.captured_tables(db), "smartsync.source_identity", "smartsync.job_runs"} - set(wanted))
    with _as(roles, MONITOR_ROLE, db) as conn:
        for table in wanted:
            key = SCHEMA.table(db, table).primary_key[0]
            if table in personal:
                with pytest.raises(pg_errors.InsufficientPrivilege):
                    conn.execute(f"SELECT {personal[table]} FROM {table} LIMIT 1".encode())
            for statement in (
                f"SELECT * FROM {table} LIMIT 1",
                f"INSERT INTO {table} DEFAULT VALUES",
                f"UPDATE {table} SET _source_lsn = NULL",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
                f"SELECT {key} FROM {table} FOR UPDATE",
            ):
                with pytest.raises(pg_errors.InsufficientPrivilege):
                    conn.execute(statement.encode())
        for table in others:
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(f"SELECT 1 FROM {table} LIMIT 1".encode())
        for statement in ("CREATE TABLE public.monitor_probe (i int)", "CREATE TEMP TABLE probe (i int)"):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(statement.encode())
    if db is Database.CITIZEN:
        assert set(personal) <= set(wanted)  # the personal columns above were really tried
