"""Least-privilege PostgreSQL roles, one per component, derived from the catalog.

- ``smartsync_cdc``: LOGIN REPLICATION, SELECT on the captured tables (and the heartbeat, which
  its heartbeat query updates) only: nothing else of either database.
- ``smartsync_sink_citizen`` / ``smartsync_sink_warehouse``: the flow writing into that database;
  DML on the targets of its direction's event syncs and on the sink's bookkeeping, TEMP for the
  staging tables. It can neither read nor write any other table.
- ``smartsync_flow_source``: both flows' sessions on their SOURCE database (the start-up column check, the
  source identity check every ~30 s). CONNECT to both databases and nothing else: no schema, no table. It
  reads the system catalogs (``pg_attribute``, ``pg_class``) and ``pg_control_system()`` /
  ``pg_control_checkpoint()``, which PUBLIC may; it cannot read a row of citizens' data.
- ``smartsync_reconciler``: the batch path; reads every synced table of both sides, writes the
  targets and the batch bookkeeping.
- ``smartsync_monitor``: ``smartsync monitor``. CONNECT to both databases, USAGE on the schemas of the
  event syncs' targets and, on each of those tables, SELECT of its primary key and ``_source_lsn`` only
  (column privileges: no personal column is readable). The replication slots it reads
  (``pg_replication_slots``, ``pg_current_wal_lsn()``) are PUBLIC's on PostgreSQL 15.

No role is a superuser, owns a table or can create roles or databases. ``smartsync db roles``
(run with an owner's DSNs, after ``db migrate``) creates them; each role's password comes from the
component's own DSN setting when it is set, so operators keep one secret per component. Every
run revokes first and grants exactly the catalog's tables, so a role never keeps a stale grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg.conninfo import conninfo_to_dict

from smartsync.core.catalog import Catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.tables import SCHEMA, Database

if TYPE_CHECKING:
    from pydantic import SecretStr

    from smartsync.core.settings import Settings

CDC_ROLE = "smartsync_cdc"
SINK_ROLES: dict[Database, str] = {
    Database.CITIZEN: "smartsync_sink_citizen",
    Database.WAREHOUSE: "smartsync_sink_warehouse",
}
RECONCILER_ROLE = "smartsync_reconciler"
FLOW_SOURCE_ROLE = "smartsync_flow_source"
MONITOR_ROLE = "smartsync_monitor"
# Each component's own DSN setting (a ``Settings`` field) → the role it must log in as.
DSN_ROLES: dict[str, str] = {
    "sink_citizen_dsn": SINK_ROLES[Database.CITIZEN],
    "sink_warehouse_dsn": SINK_ROLES[Database.WAREHOUSE],
    "reconciler_warehouse_dsn": RECONCILER_ROLE,
    "reconciler_citizen_dsn": RECONCILER_ROLE,
    "flow_source_warehouse_dsn": FLOW_SOURCE_ROLE,
    "flow_source_citizen_dsn": FLOW_SOURCE_ROLE,
    "monitor_warehouse_dsn": MONITOR_ROLE,
    "monitor_citizen_dsn": MONITOR_ROLE,
}
# The column every target row keeps its source position in; the monitor reads it by primary key.
POSITION_COLUMN = "_source_lsn"
HEARTBEAT_TABLE = "smartsync.heartbeat"
# Bookkeeping each writer needs; missing tables (an older schema) are skipped.
SINK_BOOKKEEPING = ("smartsync.tombstones", "smartsync.source_identity")
RECONCILER_BOOKKEEPING = (
    "smartsync.tombstones",
    "smartsync.watermarks",
    "smartsync.job_runs",
    "smartsync.reconciliation_reports",
    "smartsync.source_identity",
)
DML = "SELECT, INSERT, UPDATE, DELETE"


@dataclass(frozen=True)
class Grant:
    role: str
    privileges: str
    table: str


def all_roles() -> tuple[str, ...]:
    return (CDC_ROLE, *SINK_ROLES.values(), RECONCILER_ROLE, FLOW_SOURCE_ROLE, MONITOR_ROLE)


def monitor_columns(database: Database, catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """Event-sync target table → the columns ``smartsync monitor`` reads of it (primary key, position)."""
    found: dict[str, tuple[str, ...]] = {}
    for s in catalog.event_syncs():
        if s.target_database is database:
            found[s.target] = (*SCHEMA.table(database, s.target).primary_key, POSITION_COLUMN)
    return dict(sorted(found.items()))


def grants(database: Database, catalog: Catalog) -> tuple[Grant, ...]:
    """Every table privilege of every role in one database: nothing more is granted (``FLOW_SOURCE_ROLE`` has none,
    ``MONITOR_ROLE`` column privileges only)."""
    found: list[Grant] = []
    found += [Grant(CDC_ROLE, "SELECT", t) for t in catalog.captured_tables(database)]
    found.append(Grant(CDC_ROLE, "SELECT, UPDATE", HEARTBEAT_TABLE))
    sink = SINK_ROLES[database]
    event_targets = sorted({s.target for s in catalog.event_syncs() if s.target_database is database})
    found += [Grant(sink, DML, t) for t in event_targets]
    found += [Grant(sink, DML, t) for t in SINK_BOOKKEEPING]
    synced = sorted(
        {s.target for s in catalog.syncs if s.target_database is database}
        # Callback-fed sources too: the batch path compares the warehouse's copy with the portal's rows.
        | {s.source for s in catalog.syncs if s.source_database is database}
    )
    targets = {s.target for s in catalog.syncs if s.target_database is database}
    found += [Grant(RECONCILER_ROLE, DML if t in targets else "SELECT", t) for t in synced]
    found += [Grant(RECONCILER_ROLE, DML, t) for t in RECONCILER_BOOKKEEPING]
    found += [
        Grant(MONITOR_ROLE, f"SELECT ({', '.join(cols)})", t) for t, cols in monitor_columns(database, catalog).items()
    ]
    return tuple(found)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def roles_sql(database: Database, catalog: Catalog, passwords: dict[str, str]) -> list[str]:
    """Statements that create the roles (if missing) and set exactly their privileges in ``database``.

    ``passwords``: role → password for roles that log in with one; a role without stays as it is.
    """
    stmts: list[str] = []
    for role in all_roles():
        replication = "REPLICATION" if role == CDC_ROLE else "NOREPLICATION"
        stmts.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
            f"THEN CREATE ROLE {role} LOGIN; END IF; END $$"
        )
        stmts.append(f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS {replication}")
        if passwords.get(role):
            stmts.append(f"ALTER ROLE {role} PASSWORD {_literal(passwords[role])}")
    table_grants = grants(database, catalog)
    schemas = sorted({g.table.split(".")[0] for g in table_grants})
    names = ", ".join(all_roles())
    # Revoke everything first (also what an older version or a hand grant gave), then grant exactly.
    stmts.append(
        "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace "
        "WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP "
        f"EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM {names}', s); "
        f"EXECUTE format('REVOKE ALL ON SCHEMA %I FROM {names}', s); END LOOP; END $$"
    )
    # Only the roles that work in this database may connect to it (PUBLIC may connect by default).
    stmts.append(f"REVOKE ALL ON DATABASE {database.value} FROM PUBLIC, {names}")
    stmts.append(
        f"GRANT CONNECT ON DATABASE {database.value} TO {CDC_ROLE}, {SINK_ROLES[database]}, {RECONCILER_ROLE}, "
        f"{FLOW_SOURCE_ROLE}, {MONITOR_ROLE}"
    )
    # The sink stages each batch in a temporary table.
    stmts.append(f"GRANT TEMP ON DATABASE {database.value} TO {SINK_ROLES[database]}, {RECONCILER_ROLE}")
    # The flow-source role reads only the system catalogs, which need no grant; the monitor gets the schemas of the
    # tables it reads, no other.
    with_tables = ", ".join(r for r in all_roles() if r not in (FLOW_SOURCE_ROLE, MONITOR_ROLE))
    monitored = {g.table.split(".")[0] for g in table_grants if g.role == MONITOR_ROLE}
    for schema in schemas:
        stmts.append(f"GRANT USAGE ON SCHEMA {schema} TO {with_tables}")
        if schema in monitored:
            stmts.append(f"GRANT USAGE ON SCHEMA {schema} TO {MONITOR_ROLE}")
    for g in table_grants:
        stmts.append(
            f"DO $$ BEGIN IF to_regclass('{g.table}') IS NOT NULL THEN "
            f"GRANT {g.privileges} ON TABLE {g.table} TO {g.role}; END IF; END $$"
        )
    # Identity columns (job_runs.run_id) draw from sequences.
    stmts.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA smartsync TO {RECONCILER_ROLE}")
    return stmts


def _dsn_login(dsn: str) -> tuple[str, str]:
    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 — any parse failure is a configuration error, and must not echo the DSN
        return "", ""
    return str(parts.get("user") or ""), str(parts.get("password") or "")


def role_passwords(settings: Settings) -> dict[str, str]:
    """Role → password from the component DSN settings; a DSN must log in as its component's role."""
    found: dict[str, str] = {}
    for name, role in DSN_ROLES.items():
        var = f"SMARTSYNC_{name.upper()}"
        secret: SecretStr = getattr(settings, name)
        dsn = secret.get_secret_value()
        if not dsn:
            continue
        user, password = _dsn_login(dsn)
        if user != role or not password:
            msg = f"setting {var}: must log in as {role} with a password"
            raise ConfigurationError(msg, hint=f"e.g. postgresql://{role}:<password>@host/db")
        if found.get(role, password) != password:
            msg = f"setting {var}: {role} has another password in another setting"
            raise ConfigurationError(msg, hint="a role has one password in both databases")
        found[role] = password
    if settings.cdc_password.get_secret_value():
        found[CDC_ROLE] = settings.cdc_password.get_secret_value()
    return found
