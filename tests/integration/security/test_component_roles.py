"""On the local stack each component logs in as its own least-privilege role, as in production.

``smartsync stack env`` (and so the test session) gives the flows' sinks, their source-side checks and the batch path
their own DSNs (``StackState.component_env``); these tests show the real flow and a real reconcile use them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from dataflows.startup import preflight
from dataflows.testing import RunningFlow, converged, expected_mirror
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.errors import SourceError
from smartsync.core.roles import FLOW_SOURCE_ROLE, RECONCILER_ROLE, SINK_ROLES
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from smartsync.devstack.localstack import StackState

CAT = load_catalog()
DECISIONS = CAT.sync("application_decisions")


def _user(var: str) -> str:
    return str(conninfo_to_dict(os.environ[var]).get("user"))


def test_the_session_gives_each_component_its_own_role(stack: StackState) -> None:
    assert _user("SMARTSYNC_SINK_CITIZEN_DSN") == SINK_ROLES[Database.CITIZEN]
    assert _user("SMARTSYNC_SINK_WAREHOUSE_DSN") == SINK_ROLES[Database.WAREHOUSE]
    assert _user("SMARTSYNC_RECONCILER_WAREHOUSE_DSN") == RECONCILER_ROLE
    assert _user("SMARTSYNC_RECONCILER_CITIZEN_DSN") == RECONCILER_ROLE
    assert _user("SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN") == FLOW_SOURCE_ROLE
    assert _user("SMARTSYNC_FLOW_SOURCE_CITIZEN_DSN") == FLOW_SOURCE_ROLE
    with psycopg.connect(stack.dsn(Database.CITIZEN)) as conn:
        row = conn.execute(
            "SELECT bool_or(rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication) FROM pg_roles "
            "WHERE rolname = ANY(%s)",
            ([*SINK_ROLES.values(), RECONCILER_ROLE, FLOW_SOURCE_ROLE],),
        ).fetchone()
    assert row == (False,)


def test_a_flows_start_up_checks_read_the_source_as_the_flow_source_role(stack: StackState) -> None:
    for direction in Direction:
        # What flow_process does: the sink's role for the target, the flow-source role for the source.
        source, target = direction.source_database, direction.target_database
        settings = load_settings().for_component(f"sink_{target.name.lower()}")
        assert conninfo_to_dict(settings.dsn(source))["user"] == FLOW_SOURCE_ROLE
        assert conninfo_to_dict(settings.dsn(target))["user"] == SINK_ROLES[target]
        preflight(CAT, direction, settings)
    # A missing source table is still reported as missing (the role sees every table's columns, none of its rows).
    moved = DECISIONS.model_copy(update={"source": "decision.no_such_table"})
    catalog = CAT.model_copy(update={"syncs": tuple(moved if s.name == DECISIONS.name else s for s in CAT.syncs)})
    settings = load_settings().for_component("sink_citizen")
    with pytest.raises(SourceError, match=r"source table smart_warehouse\.decision\.no_such_table of sync "):
        preflight(catalog, Direction.WAREHOUSE_TO_CITIZEN, settings)


def test_the_flow_writes_its_target_as_its_sink_role(tmp_path: Path, warehouse_dsn: str, citizen_dsn: str) -> None:
    base = random.randrange(10**8, 9 * 10**8)
    with psycopg.connect(warehouse_dsn, autocommit=True) as wconn, psycopg.connect(citizen_dsn, autocommit=True) as cc:
        wconn.execute(
            "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
            "VALUES (%s, %s, 'OAP', 'pending', 0.5000)",
            (base, base),
        )
        expected = expected_mirror(DECISIONS, wconn, "application_id", [base])
        with RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path) as flow:
            flow.wait(converged(DECISIONS, cc, "application_id", [base], expected), what="the application")
            # The writer keeps its connection open between batches: it is there, under the sink's role.
            users = {
                r[0]
                for r in cc.execute(
                    "SELECT usename FROM pg_stat_activity WHERE datname = 'smart_citizen' AND pid <> pg_backend_pid()"
                )
            }
            assert SINK_ROLES[Database.CITIZEN] in users, users


def test_the_flow_needs_no_owner_dsn(tmp_path: Path, stack: StackState, warehouse_dsn: str, citizen_dsn: str) -> None:
    # The shared DSNs (the owner's) cannot log in: the flow starts, checks its source and writes its target anyway,
    # as smartsync_flow_source and smartsync_sink_citizen.
    unusable = {
        f"SMARTSYNC_{db.name}_DSN": stack.dsn(db).replace(stack.admin_password, "not-the-password") for db in Database
    }
    base = random.randrange(10**8, 9 * 10**8)
    with psycopg.connect(warehouse_dsn, autocommit=True) as wconn, psycopg.connect(citizen_dsn, autocommit=True) as cc:
        wconn.execute(
            "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
            "VALUES (%s, %s, 'OAP', 'pending', 0.5000)",
            (base, base),
        )
        expected = expected_mirror(DECISIONS, wconn, "application_id", [base])
        with RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path, env=unusable) as flow:
            flow.wait(converged(DECISIONS, cc, "application_id", [base], expected), what="the application")


def test_a_reconcile_logs_in_as_the_reconciler(stack: StackState) -> None:
    def diff() -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 — our own command
            [sys.executable, "-m", "smartsync", "reconcile", "diff", "--table", DECISIONS.name],
            capture_output=True,
            text=True,
            env=os.environ.copy(),
            timeout=300,
            check=False,
        )

    # A reconciler that may not log in stops the command: it never falls back to the owner's DSN.
    with psycopg.connect(stack.dsn("postgres"), autocommit=True) as admin:
        admin.execute(f"ALTER ROLE {RECONCILER_ROLE} CONNECTION LIMIT 0")
        try:
            refused = diff()
        finally:
            admin.execute(f"ALTER ROLE {RECONCILER_ROLE} CONNECTION LIMIT -1")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "too many connections" in refused.stdout + refused.stderr or "53300" in refused.stdout + refused.stderr
    allowed = diff()
    # 0: in step; 4: drift (other tests share the tables). Either way it read both sides as the reconciler.
    assert allowed.returncode in (0, 4), allowed.stdout + allowed.stderr
