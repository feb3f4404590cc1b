"""Connections to the compared databases and what the engine asks their catalogs.

Every connection is autocommit and in UTC; a failure to connect or to read a side becomes a
``ReconcileError`` that names the database or relation and says what to check.

Every batch connection carries limits (``Limits``): a statement timeout (a runaway scan ends
instead of holding a snapshot for hours), an idle-in-transaction timeout (a client that hangs
inside a snapshot frees it) and TCP keepalives (a peer that vanished without a FIN is noticed
in about a minute instead of the kernel's two hours). The process-wide limits come from the
settings of the run (``use_limits``); the defaults hold until then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from reconcile.columns import quote_table
from reconcile.model import Relation
from smartsync.core.errors import ReconcileError
from smartsync.core.redact import db_error, redact_secrets


@dataclass(frozen=True)
class Limits:
    """Server-side timeouts and TCP keepalives of every batch connection (seconds; 0: no timeout)."""

    statement_timeout_s: int = 1800
    idle_in_transaction_timeout_s: int = 600
    keepalives_idle_s: int = 30
    keepalives_interval_s: int = 10
    keepalives_count: int = 3

    def connect_kwargs(self) -> dict[str, Any]:
        options = (
            f"-c statement_timeout={self.statement_timeout_s * 1000} "
            f"-c idle_in_transaction_session_timeout={self.idle_in_transaction_timeout_s * 1000}"
        )
        return {
            "options": options,
            "keepalives": 1,
            "keepalives_idle": self.keepalives_idle_s,
            "keepalives_interval": self.keepalives_interval_s,
            "keepalives_count": self.keepalives_count,
        }


_limits = Limits()


def use_limits(limits: Limits) -> None:
    """Set the limits of the connections this process opens from now on (a run sets its settings' once)."""
    global _limits  # noqa: PLW0603 — one process runs one batch configuration
    _limits = limits


def current_limits() -> Limits:
    return _limits


def connect(dsn: str, *, what: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(dsn, autocommit=True, **_limits.connect_kwargs())
    except psycopg.OperationalError as exc:
        first = redact_secrets(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        msg = f"cannot connect to {what}: {first}"
        raise ReconcileError(msg, hint="check the DSN and that PostgreSQL is up") from None
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def live_columns(conn: psycopg.Connection[Any], table: str, *, what: str) -> dict[str, str]:
    """Column → ``format_type`` of a live table (or view); ``ReconcileError`` when it does not exist."""
    row = conn.execute("SELECT to_regclass(%s)::oid", (quote_table(table),)).fetchone()
    if row is None or row[0] is None:
        msg = f"unknown table {table!r} in {what}"
        raise ReconcileError(msg, hint="check the name (schema.table) and the database")
    cols = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (row[0],),
    ).fetchall()
    return {str(name): str(typ) for name, typ in cols}


def query_columns(conn: psycopg.Connection[Any], relation_sql: str) -> dict[str, str]:
    """Column → type of an SQL query, without running it."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {relation_sql} AS q LIMIT 0")
        assert cur.description is not None  # noqa: S101 — a SELECT always describes its columns
        names = [d.name for d in cur.description]
        oids = [d.type_code for d in cur.description]
    types = dict(
        conn.execute("SELECT oid, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)", (oids,)).fetchall()
    )
    return {n: str(types.get(o, "text")) for n, o in zip(names, oids, strict=True)}


def has_unique_key(conn: psycopg.Connection[Any], table: str, key: Sequence[str]) -> bool:
    """True when a unique index covers exactly the key columns (duplicates are then impossible)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass(%s) AND i.indisunique "
        "AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a "
        "     WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)) = %s)",
        (quote_table(table), sorted(key)),
    ).fetchone()
    return bool(row and row[0])


def key_is_nullable(conn: psycopg.Connection[Any], table: str, key_exprs: Sequence[str]) -> bool:
    """False only when every key expression is a plain column declared NOT NULL."""
    names = []
    for expr in key_exprs:
        if not (expr.startswith('"') and expr.endswith('"')):
            return True
        names.append(expr[1:-1].replace('""', '"'))
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE attnotnull) = %s FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attname = ANY(%s) AND NOT attisdropped",
        (len(names), quote_table(table), names),
    ).fetchone()
    return not (row and row[0])


# Key and ctid lists travel inlined in the query as one array literal: dumping 100K Python
# values one by one is slower, and a query without parameters may hold any ``%`` of a filter.


def query_error(exc: psycopg.Error, rel: Relation) -> ReconcileError:
    first = db_error(exc)  # SQLSTATE, table, constraint: the text may quote values
    return ReconcileError(f"reading {rel.label} failed: {first}", hint="check the table, its columns and their types")
