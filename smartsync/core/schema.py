"""The schema of both databases: DDL generated from ``smartsync.core.tables`` and the catalog.

``migrate`` (``smartsync db migrate``) is idempotent: it creates what is missing (schemas,
tables, columns, indexes, triggers, the publication) and leaves existing data alone.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg

from smartsync.core.catalog import Catalog, Trigger
from smartsync.core.tables import SCHEMA, Database, Table

PUBLICATION = "smartsync"
# Debezium captures this one-row table too: its heartbeats keep an idle slot moving.
HEARTBEAT_TABLE = "smartsync.heartbeat"

# Bookkeeping of SmartSync itself, in both databases.
_INTERNAL = """
CREATE SCHEMA IF NOT EXISTS smartsync;
-- A delete seen by a sink: a replayed older insert or update must not bring the row back.
CREATE TABLE IF NOT EXISTS smartsync.tombstones (
    target_table text NOT NULL,
    row_key jsonb NOT NULL,
    source_lsn bigint NOT NULL,
    deleted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_table, row_key)
);
-- The source incarnation (system identifier, timeline) the positions in this database were read from
-- (connectors/postgres/source_identity.py): a restored source is detected instead of being skipped as stale.
CREATE TABLE IF NOT EXISTS smartsync.source_identity (
    source_database text PRIMARY KEY,
    system_identifier text NOT NULL,
    timeline integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- Incremental batch jobs resume from here; a failed run leaves it where it was.
CREATE TABLE IF NOT EXISTS smartsync.watermarks (
    job text PRIMARY KEY,
    watermark timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS smartsync.job_runs (
    run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job text NOT NULL,
    scheduled_for timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status text NOT NULL DEFAULT 'running',
    rows_read bigint NOT NULL DEFAULT 0,
    rows_inserted bigint NOT NULL DEFAULT 0,
    rows_updated bigint NOT NULL DEFAULT 0,
    rows_deleted bigint NOT NULL DEFAULT 0,
    error text
);
CREATE INDEX IF NOT EXISTS job_runs_job_started ON smartsync.job_runs (job, started_at);
-- A run of a firing the scheduler missed (it was down): it ran late, once.
ALTER TABLE smartsync.job_runs ADD COLUMN IF NOT EXISTS late boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS job_runs_job_scheduled ON smartsync.job_runs (job, scheduled_for);
-- The weekly reconciliation's reports (JSON, counts and sample keys, no row values): history and rendering.
CREATE TABLE IF NOT EXISTS smartsync.reconciliation_reports (
    run_id bigint PRIMARY KEY,
    job text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    report jsonb NOT NULL
);
-- One row the stack updates to prove a change travels database → Debezium → Kafka.
CREATE TABLE IF NOT EXISTS smartsync.heartbeat (
    id int PRIMARY KEY,
    beat_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO smartsync.heartbeat (id) VALUES (1) ON CONFLICT DO NOTHING;
ALTER TABLE smartsync.heartbeat REPLICA IDENTITY FULL;
CREATE OR REPLACE FUNCTION smartsync.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END $$;
"""


def _column_sql(table: Table) -> Iterator[str]:
    for col in table.columns:
        parts = [f'"{col.name}"', col.sql_type]
        if col.default is not None:
            parts.append(f"DEFAULT {col.default}")
        if not col.nullable:
            parts.append("NOT NULL")
        yield " ".join(parts)


def table_ddl(table: Table) -> list[str]:
    """Statements that create ``table`` or add what it lacks; safe to run again."""
    name = table.qualified_name
    cols = ",\n    ".join(_column_sql(table))
    pk = ", ".join(f'"{c}"' for c in table.primary_key)
    stmts = [
        f"CREATE SCHEMA IF NOT EXISTS {table.schema}",
        f"CREATE TABLE IF NOT EXISTS {name} (\n    {cols},\n    PRIMARY KEY ({pk})\n)",
    ]
    # Columns declared after a table was first created are added, never dropped.
    stmts.extend(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {sql}" for sql in _column_sql(table))
    for idx in table.indexes:
        idx_name = f"{table.name}_{'_'.join(idx)}_idx"
        stmts.append(f"CREATE INDEX IF NOT EXISTS {idx_name} ON {name} ({', '.join(idx)})")
    if table.touch_updated_at:
        stmts.append(
            f"CREATE OR REPLACE TRIGGER {table.name}_touch BEFORE UPDATE ON {name} "
            f"FOR EACH ROW EXECUTE FUNCTION smartsync.touch_updated_at()"
        )
    if table.captured:
        stmts.append(f"ALTER TABLE {name} REPLICA IDENTITY FULL")
    return stmts


# A callback-fed record never moves to another citizen: the service answers 409 for what it saw,
# this trigger refuses every other attempt (an IntegrityError, so the sink dead-letters that change).
_CITIZEN_PINNED = """
CREATE OR REPLACE FUNCTION smartsync.refuse_citizen_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.citizen_id IS DISTINCT FROM OLD.citizen_id THEN
        RAISE EXCEPTION 'the citizen of a record in %.% cannot change', TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                CONSTRAINT = TG_TABLE_NAME || '_citizen_pinned';
    END IF;
    RETURN NEW;
END $$
"""


def citizen_pinned_ddl(database: Database, catalog: Catalog) -> list[str]:
    """Triggers that refuse a citizen change on the targets fed by callbacks."""
    targets = [
        SCHEMA.table(database, s.target)
        for s in catalog.syncs
        if s.trigger is Trigger.CALLBACK and s.target_database is database
    ]
    targets = [t for t in targets if "citizen_id" in t.column_names]
    if not targets:
        return []
    return [_CITIZEN_PINNED] + [
        f"CREATE OR REPLACE TRIGGER {t.name}_citizen_pinned BEFORE UPDATE ON {t.qualified_name} "
        "FOR EACH ROW EXECUTE FUNCTION smartsync.refuse_citizen_change()"
        for t in targets
    ]


def database_ddl(database: Database, catalog: Catalog) -> list[str]:
    """Every statement of one database, in order: bookkeeping, tables, publication."""
    stmts = [_INTERNAL]
    for table in SCHEMA.in_database(database):
        stmts.extend(table_ddl(table))
    stmts.extend(citizen_pinned_ddl(database, catalog))
    captured = [*catalog.captured_tables(database), HEARTBEAT_TABLE]
    stmts.append(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '{PUBLICATION}') "
        f"THEN CREATE PUBLICATION {PUBLICATION}; END IF; END $$"
    )
    # SET TABLE makes the publication exactly the catalog's captured tables, also after a change.
    stmts.append(f"ALTER PUBLICATION {PUBLICATION} SET TABLE {', '.join(captured)}")
    return stmts


def migrate(dsn: str, database: Database, catalog: Catalog) -> None:
    """Apply the idempotent DDL of one database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in database_ddl(database, catalog):
            conn.execute(stmt.encode())  # generated from our own declarations, never user input
