"""Loading generated rows into PostgreSQL with COPY.

Each table is loaded in one transaction. Into an empty table the rows are COPYed
directly; otherwise they are COPYed into a temporary table and merged on the primary key:

- ``skip`` (default): existing keys are left alone, new keys inserted, so loading the same
  seed and scale twice is a no-op (no writes, no change events);
- ``replace``: existing keys are overwritten where a value differs (an update event each);
- ``truncate``: the table is emptied first and ends up exactly the generated rows.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from smartsync.core.errors import ConfigurationError, SinkError
from smartsync.core.tables import SCHEMA, Database, Table
from smartsync.devstack.synthetic.generator import (
    World,
    iter_batches,
    loaded_columns,
    make_world,
    resolve_table,
    source_tables,
)
from smartsync.devstack.synthetic.vocab import DEFAULT_SEED

# (table, rows written so far, rows of the table) after every chunk
OnProgress = Callable[[Table, int, int], None]

_CSV = pa_csv.WriteOptions(include_header=False, quoting_style="needed", batch_size=8192)


class Mode(StrEnum):
    SKIP = "skip"
    REPLACE = "replace"
    TRUNCATE = "truncate"


@dataclass(frozen=True)
class TableLoad:
    """What loading one table did."""

    database: Database
    table: str  # qualified name
    rows: int  # rows generated
    written: int  # rows inserted or changed (0 when everything was already there)
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def load(
    dsn: str,
    database: Database,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    tables: Iterable[Table | str] | None = None,
    *,
    mode: Mode | str = Mode.SKIP,
    anchor: datetime | None = None,
    on_progress: OnProgress | None = None,
    world: World | None = None,
) -> dict[str, TableLoad]:
    """Load the source tables of one database (default: all of them); results by table name.

    ``dsn`` may point at any database migrated with ``database``'s tables (tests use fresh ones).
    """
    world = world or make_world(seed, scale, anchor)
    chosen = _chosen(database, world, tables)
    out: dict[str, TableLoad] = {}
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in chosen:
                out[table.qualified_name] = load_table(conn, table, world, mode=Mode(mode), on_progress=on_progress)
    except psycopg.OperationalError as exc:
        msg = f"cannot load synthetic data into {database}: {str(exc).strip().splitlines()[0]}"
        raise SinkError(
            msg, hint='is the stack up? run `smartsync stack up` and `eval "$(smartsync stack env)"`'
        ) from None
    return out


def load_all(
    dsns: Mapping[Database, str],
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    tables: Iterable[Table | str] | None = None,
    *,
    mode: Mode | str = Mode.SKIP,
    anchor: datetime | None = None,
    on_progress: OnProgress | None = None,
    parallel: bool = True,
) -> list[TableLoad]:
    """Load both databases from one world (so they share their people); warehouse first in the result.

    With ``parallel`` the two databases load at the same time, one connection each: the
    server's work is most of a load and the two backends use both cores.
    """
    world = make_world(seed, scale, anchor)
    wanted = None if tables is None else [resolve_table(t) for t in tables]
    jobs: list[tuple[Database, list[Table] | None]] = []
    for database in (Database.WAREHOUSE, Database.CITIZEN):
        mine = None if wanted is None else [t for t in wanted if t.database is database]
        if mine != []:
            jobs.append((database, mine))
    _ = world.active_schemes  # computed once, before the threads share the world

    def run(job: tuple[Database, list[Table] | None]) -> dict[str, TableLoad]:
        database, mine = job
        return load(dsns[database], database, tables=mine, mode=mode, on_progress=on_progress, world=world)

    if parallel and len(jobs) > 1:
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="synthetic-load") as pool:
            done = list(pool.map(run, jobs))
    else:
        done = [run(job) for job in jobs]
    return [result for per_db in done for result in per_db.values()]


def _chosen(database: Database, world: World, tables: Iterable[Table | str] | None) -> list[Table]:
    mine = [t for t in source_tables(world.catalog) if t.database is database]
    if tables is None:
        return mine
    chosen = [resolve_table(t) for t in tables]
    for table in chosen:
        if table.database is not database:
            msg = f"{table.qualified_name} is a table of {table.database}, not {database}"
            raise ConfigurationError(msg, hint="load each database with its own DSN, or use load_all")
    return [t for t in mine if t in chosen]  # keep the load order (schemes first)


def load_table(
    conn: psycopg.Connection,
    table: Table,
    world: World,
    *,
    mode: Mode = Mode.SKIP,
    on_progress: OnProgress | None = None,
) -> TableLoad:
    """Generate and COPY one table in one transaction."""
    started = time.monotonic()
    total = world.rows[table]
    name = _ident(table.qualified_name)
    columns = [c.name for c in loaded_columns(table)]
    col_list = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    with conn.transaction():
        if mode is Mode.TRUNCATE:
            conn.execute(sql.SQL("TRUNCATE {}").format(name))
        # No concurrent insert may slip in between the emptiness check and the COPY.
        conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(name))
        empty = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(name)).fetchone()
        direct = bool(empty and empty[0])
        staging = name
        if not direct:
            staging = sql.Identifier("_synthetic_staging")
            conn.execute(
                sql.SQL("CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(staging, name)
            )
        copied = _copy(conn, table, world, staging, col_list, total, on_progress)
        written = copied if direct else _merge(conn, table, columns, staging, mode)
    return TableLoad(table.database, table.qualified_name, copied, written, time.monotonic() - started)


def _copy(  # noqa: PLR0917 — a private step of load_table
    conn: psycopg.Connection,
    table: Table,
    world: World,
    into: sql.Composable,
    col_list: sql.Composable,
    total: int,
    on_progress: OnProgress | None,
) -> int:
    done = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(into, col_list)
    with conn.cursor() as cur, cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        # The writer thread sends while this one generates the next chunk.
        for batch in iter_batches(table, total, world=world):
            copy.write(_csv(batch))
            done += batch.num_rows
            if on_progress is not None:
                on_progress(table, done, total)
    return done


def _csv(batch: pa.Table) -> bytes:
    buf = io.BytesIO()
    pa_csv.write_csv(batch, buf, _CSV)
    return buf.getvalue()


def _merge(conn: psycopg.Connection, table: Table, columns: list[str], staging: sql.Composable, mode: Mode) -> int:
    name = _ident(table.qualified_name)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    key = sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key)
    others = [c for c in columns if c not in table.primary_key]
    # A trigger stamps updated_at on every update, so it cannot tell whether a row changed.
    compared = [c for c in others if not (table.touch_updated_at and c == "updated_at")]
    action: sql.Composable = sql.SQL("DO NOTHING")
    if mode is Mode.REPLACE and compared:
        sets = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others)
        mine = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in compared)
        theirs = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)) for c in compared)
        # Identical rows are left alone: no write, no change event.
        action = sql.SQL("DO UPDATE SET {} WHERE ROW({}) IS DISTINCT FROM ROW({})").format(sets, mine, theirs)
    stmt = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
        name, cols, cols, staging, key, action
    )
    return conn.execute(stmt).rowcount


def _ident(qualified: str) -> sql.Identifier:
    schema, table = qualified.split(".", 1)
    return sql.Identifier(schema, table)


def table_counts(dsn: str, database: Database, tables: Iterable[Table] | None = None) -> dict[str, int]:
    """Exact row counts of tables of one database (default: all its declared tables)."""
    chosen = list(tables) if tables is not None else list(SCHEMA.in_database(database))
    out: dict[str, int] = {}
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in chosen:
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_ident(table.qualified_name))).fetchone()
                out[table.qualified_name] = int(row[0]) if row else 0
    except psycopg.Error as exc:
        msg = f"cannot count rows in {database}: {str(exc).strip().splitlines()[0]}"
        raise SinkError(msg, hint="is the stack up and migrated? run `smartsync stack up`") from None
    return out
