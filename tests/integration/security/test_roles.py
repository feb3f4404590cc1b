"""Least privilege on the real databases: each sink role writes its own targets and nothing else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors

from connectors.postgres.apply import RowChange, apply_changes
from reconcile.locks import JobBusyError, job_lock, lock_key
from smartsync.core.catalog import load_catalog
from smartsync.core.roles import CDC_ROLE, RECONCILER_ROLE, SINK_ROLES, roles_sql
from smartsync.core.tables import SCHEMA, Database
from smartsync.devstack.localstack import StackState


@pytest.fixture(scope="module")
def roles(stack: StackState) -> StackState:
    catalog = load_catalog()
    # The stack's own passwords: the session's flows and batch jobs log in with them (StackState.component_env).
    passwords = dict(stack.role_passwords)
    assert passwords, "the running stack predates its component roles: `smartsync stack down && smartsync stack up`"
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
        assert {r[0] for r in flags} >= {CDC_ROLE, RECONCILER_ROLE, *SINK_ROLES.values()}
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
