"""On the local stack each component logs in as its own least-privilege role, as in production.

``smartsync stack env`` (and so the test session) gives the flows' sinks, their source-side checks, the batch path and
the monitor their own DSNs (``StackState.component_env``); these tests show the real flow, a real reconcile and the
real ``smartsync monitor`` use them.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from dataflows.runner import free_ports
from dataflows.startup import preflight
from dataflows.testing import RunningFlow, converged, expected_mirror, wait_until
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.errors import SourceError
from smartsync.core.roles import FLOW_SOURCE_ROLE, MONITOR_ROLE, RECONCILER_ROLE, SINK_ROLES
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from smartsync.devstack.localstack import StackState

CAT = load_catalog()
DECISIONS = CAT.sync("application_decisions")


def _new_application(wconn: psycopg.Connection[Any]) -> tuple[int, Any]:
    """A new application in the warehouse: its id and the portal row the flow should make of it."""
    base = random.randrange(10**8, 9 * 10**8)
    wconn.execute(
        "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
        "VALUES (%s, %s, 'OAP', 'pending', 0.5000)",
        (base, base),
    )
    return base, expected_mirror(DECISIONS, wconn, "application_id", [base])


def _user(var: str) -> str:
    return str(conninfo_to_dict(os.environ[var]).get("user"))


def test_the_session_gives_each_component_its_own_role(stack: StackState) -> None:
    assert _user("SMARTSYNC_SINK_CITIZEN_DSN") == SINK_ROLES[Database.CITIZEN]
    assert _user("SMARTSYNC_SINK_WAREHOUSE_DSN") == SINK_ROLES[Database.WAREHOUSE]
    assert _user("SMARTSYNC_RECONCILER_WAREHOUSE_DSN") == RECONCILER_ROLE
    assert _user("SMARTSYNC_RECONCILER_CITIZEN_DSN") == RECONCILER_ROLE
    assert _user("SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN") == FLOW_SOURCE_ROLE
    assert _user("SMARTSYNC_FLOW_SOURCE_CITIZEN_DSN") == FLOW_SOURCE_ROLE
    assert _user("SMARTSYNC_MONITOR_WAREHOUSE_DSN") == MONITOR_ROLE
    assert _user("SMARTSYNC_MONITOR_CITIZEN_DSN") == MONITOR_ROLE
    with psycopg.connect(stack.dsn(Database.CITIZEN)) as conn:
        row = conn.execute(
            "SELECT bool_or(rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication) FROM pg_roles "
            "WHERE rolname = ANY(%s)",
            ([*SINK_ROLES.values(), RECONCILER_ROLE, FLOW_SOURCE_ROLE, MONITOR_ROLE],),
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
    with psycopg.connect(warehouse_dsn, autocommit=True) as wconn, psycopg.connect(citizen_dsn, autocommit=True) as cc:
        base, expected = _new_application(wconn)
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
    with psycopg.connect(warehouse_dsn, autocommit=True) as wconn, psycopg.connect(citizen_dsn, autocommit=True) as cc:
        base, expected = _new_application(wconn)
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


def _insert_application(wconn: psycopg.Connection[Any], application_id: int) -> None:
    wconn.execute(
        "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
        "VALUES (%s, %s, 'OAP', 'pending', 0.5000)",
        (application_id, application_id),
    )


def test_a_wrong_flow_source_password_is_a_visible_failed_check_while_the_sink_writes_on(
    tmp_path: Path, stack: StackState, warehouse_dsn: str, citizen_dsn: str
) -> None:
    # The flow starts with the right password (its start-up checks need it); then the role's password changes under
    # it, so its flow-source DSN holds a wrong one, as after a rotation that missed the flow's Secret.
    flow_name = Direction.WAREHOUSE_TO_CITIZEN.value
    password = stack.role_passwords[FLOW_SOURCE_ROLE]
    wrong = "not-the-flows-password"
    base = random.randrange(10**8, 9 * 10**8)
    ids = [base]
    with (
        psycopg.connect(warehouse_dsn, autocommit=True) as wconn,
        psycopg.connect(citizen_dsn, autocommit=True) as cc,
        psycopg.connect(stack.dsn("postgres"), autocommit=True) as admin,
        RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path) as flow,
    ):
        _insert_application(wconn, base)
        flow.wait(
            converged(
                DECISIONS, cc, "application_id", [base], expected_mirror(DECISIONS, wconn, "application_id", [base])
            ),
            what="the first application",
        )
        assert flow.metric("smartsync_source_check_failures_total", flow=flow_name) == 0
        admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(FLOW_SOURCE_ROLE), sql.Literal(wrong)))
        try:
            # The check runs every ~30 s while the sink writes: keep it writing until one has failed.
            deadline = time.monotonic() + 90
            while flow.metric("smartsync_source_check_failures_total", flow=flow_name) < 1:
                assert time.monotonic() < deadline, "no failed source check counted within 90 s"
                flow.check_alive()
                ids.append(ids[-1] + 1)
                _insert_application(wconn, ids[-1])
                time.sleep(2)
            # Still writing: every change, those after the failed check included, lands.
            ids.append(ids[-1] + 1)
            _insert_application(wconn, ids[-1])
            expected = expected_mirror(DECISIONS, wconn, "application_id", ids)
            flow.wait(converged(DECISIONS, cc, "application_id", ids, expected), what="the applications")
            logs = flow.logs()
        finally:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(FLOW_SOURCE_ROLE), sql.Literal(password))
            )
    # One warning for the outage, naming the setting and the reason; never a password.
    assert logs.count("the source identity check cannot run") == 1, logs[-3000:]
    assert "SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN" in logs
    assert "password authentication failed" in logs
    assert wrong not in logs
    assert password not in logs


def test_the_monitor_needs_no_owner_dsn(tmp_path: Path, stack: StackState, warehouse_dsn: str) -> None:
    # What the monitor's Kubernetes Secret holds: its own DSNs and Kafka. The shared (owner's) DSNs cannot log in, so
    # every look that succeeds below ran as smartsync_monitor: the slots of both databases, and the target positions
    # of an application no flow delivers (sync lag).
    env = {
        **os.environ,
        **{
            f"SMARTSYNC_{db.name}_DSN": stack.dsn(db).replace(stack.admin_password, "not-the-password")
            for db in Database
        },
    }
    with psycopg.connect(warehouse_dsn, autocommit=True) as wconn:
        _insert_application(wconn, random.randrange(10**8, 9 * 10**8))
    (port,) = free_ports(1)
    log = (tmp_path / "monitor.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 — our own command
        [sys.executable, "-m", "smartsync", "monitor", "--port", str(port), "--interval", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def measured() -> dict[str, str]:
        assert proc.poll() is None, (tmp_path / "monitor.log").read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            return {}
        found = {
            line.split("{", 1)[1].split("}", 1)[0]: line.rsplit(" ", 1)[1]
            for line in text.splitlines()
            if line.startswith(("smartsync_monitor_check_up{", "smartsync_sync_lag_seconds{"))
        }
        wanted = ['check="sync_lag"', 'check="smart_warehouse"', 'check="smart_citizen"', f'sync="{DECISIONS.name}"']
        return found if all(w in found for w in wanted) else {}

    try:
        found = wait_until(measured, timeout_s=90, what="the monitor's first complete look")
        with psycopg.connect(stack.dsn(Database.CITIZEN), autocommit=True) as admin:
            users = {r[0] for r in admin.execute("SELECT usename FROM pg_stat_activity WHERE datname IS NOT NULL")}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    for check in ("sync_lag", "smart_warehouse", "smart_citizen"):
        assert found[f'check="{check}"'] == "1.0", found
    assert MONITOR_ROLE in users  # its positions session stays open between looks
