"""The least-privilege roles, derived from the catalog, and which DSN each component uses."""

from __future__ import annotations

import pytest

from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.roles import (
    CDC_ROLE,
    DSN_ROLES,
    FLOW_SOURCE_ROLE,
    MONITOR_ROLE,
    RECONCILER_ROLE,
    SINK_ROLES,
    all_roles,
    grants,
    role_passwords,
    roles_sql,
)
from smartsync.core.settings import Settings, component_dsns, load_settings
from smartsync.core.tables import SCHEMA, Database


def test_the_cdc_role_reads_exactly_the_captured_tables() -> None:
    catalog = load_catalog()
    for db in Database:
        cdc = {g.table for g in grants(db, catalog) if g.role == CDC_ROLE}
        assert cdc == {*catalog.captured_tables(db), "smartsync.heartbeat"}


def test_a_sink_gets_its_directions_targets_and_bookkeeping_only() -> None:
    catalog = load_catalog()
    for db in Database:
        sink = {g.table for g in grants(db, catalog) if g.role == SINK_ROLES[db]}
        targets = {s.target for s in catalog.event_syncs() if s.target_database is db}
        assert sink == targets | {"smartsync.tombstones", "smartsync.source_identity"}


def test_the_flow_source_role_may_connect_to_both_databases_and_nothing_else() -> None:
    catalog = load_catalog()
    for db in Database:
        assert not [g for g in grants(db, catalog) if g.role == FLOW_SOURCE_ROLE]
        stmts = roles_sql(db, catalog, {})
        mine = [s for s in stmts if s.startswith("GRANT") and FLOW_SOURCE_ROLE in s]
        assert mine == [s for s in mine if s.startswith(f"GRANT CONNECT ON DATABASE {db.value} TO ")], mine
        assert len(mine) == 1
        assert any(f"ALTER ROLE {FLOW_SOURCE_ROLE} WITH LOGIN NOSUPERUSER" in s and "NOREPLICATION" in s for s in stmts)


def test_the_monitor_reads_the_key_and_position_columns_of_the_event_targets_only() -> None:
    catalog = load_catalog()
    for db in Database:
        mine = {g.table: g.privileges for g in grants(db, catalog) if g.role == MONITOR_ROLE}
        targets = {s.target for s in catalog.event_syncs() if s.target_database is db}
        assert set(mine) == targets
        for table, privileges in mine.items():
            key = SCHEMA.table(db, table).primary_key
            assert privileges == f"SELECT ({', '.join((*key, '_source_lsn'))})"  # column privileges, never a row
        stmts = roles_sql(db, catalog, {})
        granted = [s for s in stmts if MONITOR_ROLE in s and "GRANT" in s]
        schemas = {t.split(".")[0] for t in targets}
        assert [s for s in granted if "USAGE" in s] == [
            f"GRANT USAGE ON SCHEMA {n} TO {MONITOR_ROLE}" for n in sorted(schemas)
        ]
        assert "smartsync" not in schemas  # no bookkeeping
        assert sum(s.startswith(f"GRANT CONNECT ON DATABASE {db.value} TO ") for s in granted) == 1
        assert not [s for s in granted if "TEMP" in s or "SEQUENCES" in s or "INSERT" in s or "UPDATE" in s]
        assert any(f"ALTER ROLE {MONITOR_ROLE} WITH LOGIN NOSUPERUSER" in s and "NOREPLICATION" in s for s in stmts)
    # application_events' key includes the position it was read at.
    warehouse = {g.table: g.privileges for g in grants(Database.WAREHOUSE, catalog) if g.role == MONITOR_ROLE}
    assert warehouse["decision.application_events"] == "SELECT (application_id, source_lsn, _source_lsn)"


def test_the_sql_never_makes_a_superuser_and_revokes_before_granting() -> None:
    stmts = roles_sql(Database.CITIZEN, load_catalog(), {RECONCILER_ROLE: "it's secret"})
    text = "\n".join(stmts)
    assert " SUPERUSER" not in text.replace("NOSUPERUSER", "")
    assert "PASSWORD 'it''s secret'" in text  # quoted as a literal
    first_grant = next(i for i, s in enumerate(stmts) if s.startswith(("GRANT", "DO $$ BEGIN IF to_regclass")))
    assert any("REVOKE ALL ON ALL TABLES" in s for s in stmts[:first_grant])


def test_each_component_uses_its_own_dsn_and_falls_back_to_the_shared_one() -> None:
    base = Settings(warehouse_dsn="postgresql://admin@h/w", citizen_dsn="postgresql://admin@h/c")
    assert base.for_component("sink_citizen").dsn(Database.CITIZEN) == "postgresql://admin@h/c"
    own = base.model_copy(update={"sink_citizen_dsn": Settings(citizen_dsn="postgresql://sink@h/c").citizen_dsn})
    sink = own.for_component("sink_citizen")
    assert sink.dsn(Database.CITIZEN) == "postgresql://sink@h/c"
    assert sink.dsn(Database.WAREHOUSE) == "postgresql://admin@h/w"


def test_a_flow_reads_its_source_as_the_flow_source_role_when_set() -> None:
    flows = Settings(
        warehouse_dsn="postgresql://admin@h/w",
        citizen_dsn="postgresql://admin@h/c",
        sink_citizen_dsn="postgresql://sink_c@h/c",
        sink_warehouse_dsn="postgresql://sink_w@h/w",
        flow_source_warehouse_dsn="postgresql://src@h/w",
        flow_source_citizen_dsn="postgresql://src@h/c",
    )
    w2c = flows.for_component("sink_citizen")  # warehouse_to_citizen: reads the warehouse, writes the portal
    assert (w2c.dsn(Database.WAREHOUSE), w2c.dsn(Database.CITIZEN)) == (
        "postgresql://src@h/w",
        "postgresql://sink_c@h/c",
    )
    c2w = flows.for_component("sink_warehouse")
    assert (c2w.dsn(Database.CITIZEN), c2w.dsn(Database.WAREHOUSE)) == (
        "postgresql://src@h/c",
        "postgresql://sink_w@h/w",
    )
    # The batch path never takes a flow's DSNs.
    reconciler = flows.for_component("reconciler")
    assert reconciler.dsn(Database.WAREHOUSE) == "postgresql://admin@h/w"


def test_every_component_dsn_setting_names_its_role() -> None:
    # Deployments (compose) derive each DSN's login from this map: it covers every component's own settings.
    components = ("sink_citizen", "sink_warehouse", "reconciler", "monitor")
    owned = {own for c in components for own in component_dsns(c).values()}
    assert set(DSN_ROLES) == owned
    assert set(DSN_ROLES) <= set(Settings.model_fields)
    assert {*DSN_ROLES.values(), CDC_ROLE} == set(all_roles())


def test_role_passwords_come_from_component_dsns_that_log_in_as_the_role() -> None:
    good = Settings(sink_citizen_dsn=f"postgresql://{SINK_ROLES[Database.CITIZEN]}:pw1@h/c", cdc_password="cdcpw")
    assert role_passwords(good) == {SINK_ROLES[Database.CITIZEN]: "pw1", CDC_ROLE: "cdcpw"}
    wrong_user = Settings(sink_citizen_dsn="postgresql://smartsync:pw1@h/c")
    with pytest.raises(ConfigurationError, match="SMARTSYNC_SINK_CITIZEN_DSN: must log in as") as caught:
        role_passwords(wrong_user)
    assert "pw1" not in str(caught.value)


def test_the_flow_source_role_has_one_password_in_both_databases() -> None:
    role = FLOW_SOURCE_ROLE
    same = Settings(
        flow_source_warehouse_dsn=f"postgresql://{role}:pw2@h/w", flow_source_citizen_dsn=f"postgresql://{role}:pw2@h/c"
    )
    assert role_passwords(same) == {role: "pw2"}
    other = Settings(
        flow_source_warehouse_dsn=f"postgresql://{role}:pw2@h/w", flow_source_citizen_dsn=f"postgresql://{role}:pw3@h/c"
    )
    with pytest.raises(ConfigurationError, match=r"SMARTSYNC_FLOW_SOURCE_CITIZEN_DSN: .* another password") as caught:
        role_passwords(other)
    assert "pw2" not in str(caught.value)
    assert "pw3" not in str(caught.value)
    owner = Settings(flow_source_warehouse_dsn="postgresql://smartsync:pw2@h/w")
    with pytest.raises(ConfigurationError, match=f"SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN: must log in as {role}"):
        role_passwords(owner)


def test_the_monitor_runs_as_its_own_role_with_one_password() -> None:
    role = MONITOR_ROLE
    monitor = Settings(
        warehouse_dsn="postgresql://admin@h/w",
        citizen_dsn="postgresql://admin@h/c",
        monitor_warehouse_dsn=f"postgresql://{role}:pw4@h/w",
        monitor_citizen_dsn=f"postgresql://{role}:pw4@h/c",
    )
    own = monitor.for_component("monitor")
    assert (own.dsn(Database.WAREHOUSE), own.dsn(Database.CITIZEN)) == (
        f"postgresql://{role}:pw4@h/w",
        f"postgresql://{role}:pw4@h/c",
    )
    assert role_passwords(monitor) == {role: "pw4"}
    # No other component takes the monitor's DSNs.
    for component in ("sink_citizen", "sink_warehouse", "reconciler"):
        other = monitor.for_component(component)
        assert role not in other.dsn(Database.WAREHOUSE) + other.dsn(Database.CITIZEN)
    two = monitor.model_copy(
        update={"monitor_citizen_dsn": Settings(citizen_dsn=f"postgresql://{role}:pw5@h/c").citizen_dsn}
    )
    with pytest.raises(ConfigurationError, match=r"SMARTSYNC_MONITOR_CITIZEN_DSN: .* another password") as caught:
        role_passwords(two)
    assert "pw4" not in str(caught.value)
    assert "pw5" not in str(caught.value)
    with pytest.raises(ConfigurationError, match=f"SMARTSYNC_MONITOR_WAREHOUSE_DSN: must log in as {role}"):
        role_passwords(Settings(monitor_warehouse_dsn="postgresql://smartsync:pw4@h/w"))


def test_the_monitor_needs_no_shared_dsn_and_a_missing_one_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    role = MONITOR_ROLE
    monkeypatch.setenv("SMARTSYNC_KAFKA_BOOTSTRAP", "k:9092")
    monkeypatch.setenv("SMARTSYNC_MONITOR_WAREHOUSE_DSN", f"postgresql://{role}:pw@h/w")
    needs = ("warehouse_dsn", "citizen_dsn", "kafka_bootstrap")
    with pytest.raises(ConfigurationError, match=r"SMARTSYNC_MONITOR_CITIZEN_DSN \(or SMARTSYNC_CITIZEN_DSN\)"):
        load_settings(needs, component="monitor")
    monkeypatch.setenv("SMARTSYNC_MONITOR_CITIZEN_DSN", f"postgresql://{role}:pw@h/c")
    settings = load_settings(needs, component="monitor")  # what the monitor's Kubernetes Secret holds: no owner DSN
    assert settings.dsn(Database.CITIZEN) == f"postgresql://{role}:pw@h/c"
    assert settings.dsn(Database.WAREHOUSE) == f"postgresql://{role}:pw@h/w"
