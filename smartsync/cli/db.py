"""``smartsync db migrate | roles | ddl``: the schemas and least-privilege roles of both databases."""

from __future__ import annotations

import typer

from smartsync.cli.console import console, handle_errors, progress
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.redact import db_error
from smartsync.core.schema import database_ddl
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database

app = typer.Typer(no_args_is_help=True, help="Database schemas: migrate both databases, print their DDL.")


@app.command()
@handle_errors
def migrate() -> None:
    """Create or complete every schema, table, index, trigger and the publication; safe to run again."""
    import psycopg

    from smartsync.core.schema import migrate as migrate_database

    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn"))
    catalog = load_catalog()
    for db in Database:
        progress(f"migrating {db.value}")
        try:
            migrate_database(settings.dsn(db), db, catalog)
        except psycopg.OperationalError as exc:
            msg = f"cannot reach {db.value}: {db_error(exc)}"
            raise ConfigurationError(msg, hint=f"check SMARTSYNC_{db.name}_DSN") from None
    console.print("[green]both databases are migrated[/green]")


@app.command()
@handle_errors
def ddl(database: Database = typer.Argument(..., help="smart_warehouse or smart_citizen")) -> None:
    """Print the DDL that ``migrate`` applies to one database."""
    for stmt in database_ddl(database, load_catalog()):
        print(stmt.strip().rstrip(";") + ";\n")


@app.command()
@handle_errors
def roles() -> None:
    """Create the least-privilege roles (CDC, a sink per direction, the flows' source side, reconciler, monitor) and
    grant exactly their tables (the flows' source-side role: none, it may only connect; the monitor: the targets'
    keys and positions).

    Run with owners' DSNs after ``migrate``. Passwords come from the components' own settings:
    SMARTSYNC_SINK_CITIZEN_DSN, SMARTSYNC_SINK_WAREHOUSE_DSN, SMARTSYNC_FLOW_SOURCE_*_DSN,
    SMARTSYNC_RECONCILER_*_DSN, SMARTSYNC_MONITOR_*_DSN and SMARTSYNC_CDC_PASSWORD; a role whose setting
    is unset keeps its password. Safe to run again.
    """
    import psycopg

    from smartsync.core.roles import all_roles, role_passwords, roles_sql

    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn"))
    passwords = role_passwords(settings)
    catalog = load_catalog()
    for db in Database:
        progress(f"roles and grants in {db.value}")
        try:
            with psycopg.connect(settings.dsn(db), autocommit=True) as conn:
                for stmt in roles_sql(db, catalog, passwords):
                    conn.execute(stmt.encode())  # generated from the catalog; passwords are quoted literals
        except psycopg.Error as exc:
            msg = f"cannot set the roles of {db.value}: {db_error(exc)}"
            raise ConfigurationError(msg, hint=f"SMARTSYNC_{db.name}_DSN must be an owner of the tables") from None
    with_password = ", ".join(sorted(passwords)) or "none"
    console.print(f"[green]roles {', '.join(all_roles())} are set[/green] (passwords set: {with_password})")
