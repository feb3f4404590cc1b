"""Which source database incarnation the positions in a target were read from.

Every target row keeps the source LSN of the change that wrote it, and an older position never
overwrites a newer one. A source restored from a dump, moved, or recovered to a point in time
starts a new WAL history (a new system identifier, or a new timeline) whose positions may lie
below the stored ones: every later change, delete and batch fix would then be skipped as stale,
forever, without a word. So each target database keeps, in ``smartsync.source_identity``, the
system identifier and timeline of each source it receives positions from. A flow checks it when
it starts and again every ``CHECK_EVERY_S`` seconds while it writes; a different identity stops the
flow with one line naming ``smartsync flow rebase DIRECTION``. A check that cannot run (the source
down, a wrong flow-source DSN, a revoked grant) does not stop the flow: the writer counts it and
warns once per outage (``CheckOutage``), since until it runs again a new incarnation goes unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from smartsync.core.errors import SinkError

CHECK_EVERY_S = 30.0
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS smartsync.source_identity (
    source_database text PRIMARY KEY,
    system_identifier text NOT NULL,
    timeline integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class SourceIdentity:
    system_identifier: str  # text: a uint64 beyond bigint's range
    timeline: int

    def __str__(self) -> str:
        return f"system {self.system_identifier} timeline {self.timeline}"


@dataclass
class CheckOutage:
    """A repeated check's failures in a row: only the first failure of an outage and its recovery are news."""

    failures: int = 0

    def failed(self) -> bool:
        """Count a failure; True when it starts an outage."""
        self.failures += 1
        return self.failures == 1

    def succeeded(self) -> int:
        """End an outage: the failures it had (0 when there was none)."""
        failures, self.failures = self.failures, 0
        return failures


def read_source_identity(conn: psycopg.Connection[Any]) -> SourceIdentity:
    row = conn.execute(
        "SELECT (SELECT system_identifier::text FROM pg_control_system()), "
        "(SELECT timeline_id FROM pg_control_checkpoint())"
    ).fetchone()
    assert row is not None  # noqa: S101 — a SELECT without FROM returns one row
    return SourceIdentity(str(row[0]), int(row[1]))


def _ensure_table(conn: psycopg.Connection[Any]) -> None:
    # `db migrate` creates the table; a flow's sink role may not create anything in the schema (PostgreSQL
    # checks that privilege even for CREATE TABLE IF NOT EXISTS), so the DDL runs only where it is missing.
    row = conn.execute("SELECT to_regclass('smartsync.source_identity')").fetchone()
    if row is None or row[0] is None:
        conn.execute(TABLE_DDL)


def stored_identity(conn: psycopg.Connection[Any], source_database: str) -> SourceIdentity | None:
    _ensure_table(conn)
    row = conn.execute(
        "SELECT system_identifier, timeline FROM smartsync.source_identity WHERE source_database = %s",
        (source_database,),
    ).fetchone()
    return None if row is None else SourceIdentity(row[0], int(row[1]))


def record_identity(conn: psycopg.Connection[Any], source_database: str, identity: SourceIdentity) -> None:
    _ensure_table(conn)
    conn.execute(
        "INSERT INTO smartsync.source_identity (source_database, system_identifier, timeline) VALUES (%s, %s, %s) "
        "ON CONFLICT (source_database) DO UPDATE SET system_identifier = EXCLUDED.system_identifier, "
        "timeline = EXCLUDED.timeline, recorded_at = now()",
        (source_database, identity.system_identifier, identity.timeline),
    )


def regression_error(
    source_database: str, target_database: str, stored: SourceIdentity, live: SourceIdentity, flow: str
) -> SinkError:
    msg = (
        f"source {source_database} is a new incarnation ({live}; the positions in {target_database} were read "
        f"from {stored}): its changes would be skipped as stale, so {flow} stops writing"
    )
    return SinkError(
        msg,
        hint=f"after checking the source was restored or rebuilt on purpose, run `smartsync flow rebase {flow}`, "
        "then a fixing reconciliation of the direction's syncs",
    )


def check_identity(
    source_dsn: str, target_dsn: str, source_database: str, target_database: str, flow: str
) -> SourceIdentity:
    """Record the source's identity in the target on first use; raise ``SinkError`` when it changed."""
    with psycopg.connect(source_dsn, autocommit=True) as src:
        live = read_source_identity(src)
    with psycopg.connect(target_dsn, autocommit=True) as tgt:
        stored = stored_identity(tgt, source_database)
        if stored is None:
            record_identity(tgt, source_database, live)
        elif stored != live:
            raise regression_error(source_database, target_database, stored, live, flow)
    return live


def rebase(
    source_dsn: str, target_dsn: str, source_database: str, target_tables: Sequence[str]
) -> tuple[SourceIdentity, int]:
    """Forget the positions of the old incarnation in the target tables; record the new identity.

    Positions become NULL (any change wins over them) and the tables' tombstones are dropped, in one
    transaction. Returns the new identity and the number of rows whose position was cleared.
    """
    with psycopg.connect(source_dsn, autocommit=True) as src:
        live = read_source_identity(src)
    cleared = 0
    with psycopg.connect(target_dsn) as tgt, tgt.transaction():
        for table in target_tables:
            schema, name = table.split(".", 1)
            cur = tgt.execute(
                sql.SQL("UPDATE {} SET _source_lsn = NULL WHERE _source_lsn IS NOT NULL").format(
                    sql.Identifier(schema, name)
                )
            )
            cleared += cur.rowcount
        tgt.execute("DELETE FROM smartsync.tombstones WHERE target_table = ANY(%s)", (list(target_tables),))
        record_identity(tgt, source_database, live)
    return live, cleared
