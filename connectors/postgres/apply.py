"""The PostgreSQL sink: set-based, idempotent, order-safe apply of row changes.

Both the event path (the dataflows) and the batch path (``reconcile/``) write targets through
``apply_changes``. A batch goes in with COPY into a temporary staging table and two set-based
statements (deletes, then upserts), each guarded by the row's source position:

- a write lands only when ``target._source_lsn IS NULL OR target._source_lsn < new position``;
- a delete is recorded in ``smartsync.tombstones``, so an older insert replayed later cannot
  bring the row back;
- within one batch only the newest change per key is kept.

So applying any suffix of a change stream again leaves the target as it was. The caller owns
the transaction: nothing here commits (an autocommit connection gets one transaction per call).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from smartsync.core.errors import SinkError, TransientSinkError
from smartsync.core.redact import db_error
from smartsync.core.tables import SYNC_COLUMNS, Table

_SYNC_NAMES = frozenset(c.name for c in SYNC_COLUMNS)
TOMBSTONES = "smartsync.tombstones"


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class RowChange:
    """One change to one target row: ``row`` is the new row (target column names) or None for a delete.

    ``position`` orders changes of the same key (the source LSN, or the acceptance time in
    microseconds for callbacks); ``source_ts`` is the source commit time.
    """

    key: tuple[Any, ...]
    row: Mapping[str, Any] | None
    position: int
    source_ts: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    skipped_stale: int = 0

    def __add__(self, other: ApplyResult) -> ApplyResult:
        return ApplyResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.deleted + other.deleted,
            self.skipped_stale + other.skipped_stale,
        )

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted


# ── pure parts ───────────────────────────────────────────────────────────────────────────


def newest_per_key(changes: Iterable[RowChange]) -> list[RowChange]:
    """The newest change of every key; on equal positions the later one in the input wins."""
    newest: dict[tuple[Any, ...], RowChange] = {}
    for change in changes:
        seen = newest.get(change.key)
        if seen is None or change.position >= seen.position:
            newest[change.key] = change
    return list(newest.values())


def written_columns(table: Table, changes: Sequence[RowChange]) -> tuple[str, ...]:
    """The target columns a batch writes: the key, then the rows' columns in table order.

    Every upsert of one batch must carry the same columns; a sync may write a subset of the
    target's columns, and the others are left alone.
    """
    shapes = {frozenset(c.row) for c in changes if c.row is not None}
    if len(shapes) > 1:
        msg = f"changes for {table.qualified_name} carry different column sets: {sorted(sorted(s) for s in shapes)}"
        raise ValueError(msg)
    mapped = next(iter(shapes), frozenset())
    unknown = sorted(mapped - set(table.column_names))
    if unknown:
        msg = f"{table.qualified_name} has no column(s) {unknown}"
        raise ValueError(msg)
    if mapped & _SYNC_NAMES:
        msg = f"rows for {table.qualified_name} must not carry the sync columns {sorted(_SYNC_NAMES)}"
        raise ValueError(msg)
    if mapped and not set(table.primary_key) <= mapped:
        msg = f"rows for {table.qualified_name} lack key column(s) {sorted(set(table.primary_key) - mapped)}"
        raise ValueError(msg)
    rest = tuple(c for c in table.column_names if c in mapped and c not in table.primary_key)
    return (*table.primary_key, *rest)


def staging_rows(table: Table, columns: Sequence[str], changes: Sequence[RowChange]) -> Iterable[tuple[Any, ...]]:
    """Rows for the staging table: ``(_op, *columns, _source_lsn, _source_ts)``."""
    nkey = len(table.primary_key)
    blanks = (None,) * (len(columns) - nkey)
    data_cols = columns[nkey:]
    values = operator.itemgetter(*data_cols) if data_cols else None
    single = len(data_cols) == 1  # itemgetter of one name returns the value, not a tuple
    for ch in changes:
        row = ch.row
        if row is None:
            yield ("d", *ch.key, *blanks, ch.position, ch.source_ts)
        elif values is None:
            yield ("u", *ch.key, ch.position, ch.source_ts)
        elif single:
            yield ("u", *ch.key, values(row), ch.position, ch.source_ts)
        else:
            yield ("u", *ch.key, *values(row), ch.position, ch.source_ts)


class UnfitValueError(pg_errors.DataError):
    """A row value the staging column's type cannot take (e.g. beyond ``bigint``): a data error of that row."""


# ── SQL ───────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _Statements:
    stage_name: str
    prepare: sql.Composed
    copy: sql.Composed
    copy_types: tuple[str, ...]
    delete: sql.Composed
    upsert: sql.Composed


def _qualified(name: str) -> sql.Composed:
    schema, table = name.split(".", 1)
    return sql.SQL(".").join([sql.Identifier(schema), sql.Identifier(table)])


_WIDENED = {"integer": "bigint", "smallint": "bigint"}


def _stage_type(sql_type: str) -> str:
    """A staging column's type: the target's, with integers widened to ``bigint``.

    Binary COPY dumps a Python int as the declared type without a range check (2**40 as an
    ``integer`` arrives as 0); staged as ``bigint``, an out-of-range value fails the cast into
    the target with "integer out of range" and is isolated like any refused row.
    """
    return _WIDENED.get(sql_type.strip().lower(), sql_type)


def _dump_type(sql_type: str) -> str:
    """The type name binary COPY dumps a staging value as: ``numeric(12,2)`` → ``numeric``."""
    return sql_type.split("(", 1)[0].strip()


@functools.lru_cache(maxsize=256)
def _statements(table: Table, columns: tuple[str, ...]) -> _Statements:
    digest = hashlib.sha1(f"{table.qualified_name}:{','.join(columns)}".encode(), usedforsecurity=False).hexdigest()
    stage_name = f"_smartsync_stage_{table.name}_{digest[:10]}"
    stage = sql.Identifier(stage_name)
    target = _qualified(table.qualified_name)
    keys = table.primary_key
    data_cols = columns[len(keys) :]
    ident = sql.Identifier

    stage_cols = sql.SQL(", ").join(
        [sql.SQL("_op text")]
        + [sql.SQL("{} {}").format(ident(c), sql.SQL(_stage_type(table.column(c).sql_type))) for c in columns]
        + [sql.SQL("_source_lsn bigint"), sql.SQL("_source_ts timestamptz")]
    )
    # One temp table per connection and column set; ON COMMIT DELETE ROWS empties it at
    # commit, the DELETE covers a second call inside the same transaction.
    prepare = sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {stage} ({cols}) ON COMMIT DELETE ROWS; DELETE FROM {stage}"
    ).format(stage=stage, cols=stage_cols)
    # Binary COPY: psycopg's C dumpers write typed values ~5x cheaper than the text format.
    copy = sql.SQL("COPY {stage} ({cols}) FROM STDIN (FORMAT BINARY)").format(
        stage=stage,
        cols=sql.SQL(", ").join(ident(c) for c in ("_op", *columns, "_source_lsn", "_source_ts")),
    )
    copy_types = (
        "text",
        *(_dump_type(_stage_type(table.column(c).sql_type)) for c in columns),
        "bigint",
        "timestamptz",
    )
    key_match = sql.SQL(" AND ").join(sql.SQL("t.{k} = s.{k}").format(k=ident(k)) for k in keys)
    row_key = sql.SQL("jsonb_build_object({})").format(
        sql.SQL(", ").join(sql.SQL("{}, s.{}").format(sql.Literal(k), ident(k)) for k in keys)
    )
    name = sql.Literal(table.qualified_name)
    tombstones = _qualified(TOMBSTONES)
    delete = sql.SQL(
        """
        WITH s AS (SELECT * FROM {stage} WHERE _op = 'd'),
        gone AS (
            DELETE FROM {target} AS t USING s
            WHERE {key_match} AND (t._source_lsn IS NULL OR t._source_lsn < s._source_lsn)
            RETURNING 1
        ),
        stale AS (
            SELECT 1 FROM {target} AS t JOIN s ON {key_match} WHERE t._source_lsn >= s._source_lsn
        ),
        remembered AS (
            INSERT INTO {tombstones} AS tb (target_table, row_key, source_lsn)
            SELECT {name}, {row_key}, s._source_lsn FROM s ORDER BY 2
            ON CONFLICT (target_table, row_key) DO UPDATE
                SET source_lsn = EXCLUDED.source_lsn, deleted_at = now()
                WHERE tb.source_lsn < EXCLUDED.source_lsn
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM stale), (SELECT count(*) FROM remembered)
        """
    ).format(stage=stage, target=target, key_match=key_match, tombstones=tombstones, name=name, row_key=row_key)

    all_cols = (*columns, "_source_lsn", "_source_ts")
    assignments = sql.SQL(", ").join(
        [sql.SQL("{c} = EXCLUDED.{c}").format(c=ident(c)) for c in (*data_cols, "_source_lsn", "_source_ts")]
        + [sql.SQL("_synced_at = now()")]
    )
    order = sql.SQL(", ").join(sql.SQL("s.{}").format(ident(k)) for k in keys)
    upsert = sql.SQL(
        """
        WITH written AS (
        INSERT INTO {target} AS t ({cols}, _synced_at)
        SELECT {s_cols}, now() FROM {stage} AS s
        WHERE s._op = 'u' AND NOT EXISTS (
            SELECT 1 FROM {tombstones} AS tb
            WHERE tb.target_table = {name} AND tb.row_key = {row_key} AND tb.source_lsn >= s._source_lsn
        )
        ORDER BY {order}
        ON CONFLICT ({keys}) DO UPDATE SET {assignments}
        WHERE t._source_lsn IS NULL OR t._source_lsn < EXCLUDED._source_lsn
        RETURNING (xmax = 0) AS fresh
        )
        SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM written
        """
    ).format(
        target=target,
        cols=sql.SQL(", ").join(ident(c) for c in all_cols),
        s_cols=sql.SQL(", ").join(sql.SQL("s.{}").format(ident(c)) for c in all_cols),
        stage=stage,
        tombstones=tombstones,
        name=name,
        row_key=row_key,
        order=order,
        keys=sql.SQL(", ").join(ident(k) for k in keys),
        assignments=assignments
        if data_cols
        else sql.SQL("_source_lsn = EXCLUDED._source_lsn, _source_ts = EXCLUDED._source_ts, _synced_at = now()"),
    )
    return _Statements(stage_name, prepare, copy, copy_types, delete, upsert)


def apply_changes(conn: psycopg.Connection[Any], table: Table, changes: Sequence[RowChange]) -> ApplyResult:
    """Apply a batch of changes to ``table`` in the caller's transaction; idempotent and order-safe."""
    if not changes:
        return ApplyResult()
    batch = newest_per_key(changes)
    columns = written_columns(table, batch)
    st = _statements(table, columns)
    scope: contextlib.AbstractContextManager[Any] = conn.transaction() if conn.autocommit else contextlib.nullcontext()
    with scope, conn.cursor() as cur:
        cur.execute(st.prepare)
        with cur.copy(st.copy) as copy:
            copy.set_types(st.copy_types)
            for row in staging_rows(table, columns, batch):
                try:
                    copy.write_row(row)
                except (TypeError, OverflowError) as exc:  # a value the column's binary format cannot hold
                    msg = f"a value for {table.qualified_name} does not fit its column type: {exc}"
                    raise UnfitValueError(msg) from exc
        n_deletes = sum(1 for c in batch if c.row is None)
        deleted = stale_deletes = 0
        if n_deletes:
            cur.execute(st.delete)
            got = cur.fetchone()
            assert got is not None  # noqa: S101 — a SELECT of counts always returns a row
            deleted, stale_deletes = int(got[0]), int(got[1])
        n_upserts = len(batch) - n_deletes
        inserted = updated = 0
        if n_upserts:
            cur.execute(st.upsert)
            counts = cur.fetchone()
            assert counts is not None  # noqa: S101 — a SELECT of counts always returns a row
            inserted, updated = int(counts[0]), int(counts[1])
    skipped = (n_upserts - inserted - updated) + stale_deletes + (len(changes) - len(batch))
    return ApplyResult(inserted, updated, deleted, skipped)


# ── errors ────────────────────────────────────────────────────────────────────────────


# Errors that say "the data of this batch is wrong": isolate the offending change, keep going.
_DATA_ERRORS: tuple[type[Exception], ...] = (pg_errors.DataError, pg_errors.IntegrityError)
# Errors that say "the target is not what the catalog declares": stop with a clear message.
_SCHEMA_ERRORS: tuple[type[Exception], ...] = (
    pg_errors.UndefinedTable,
    pg_errors.UndefinedColumn,
    pg_errors.InsufficientPrivilege,
    pg_errors.DatatypeMismatch,
)


def is_data_error(exc: BaseException) -> bool:
    """True when a row of the batch (not the target) is at fault, e.g. a constraint violation."""
    return isinstance(exc, _DATA_ERRORS)


def classify_error(exc: BaseException, table: Table) -> SinkError:
    """Turn a psycopg error into a transient (retry) or terminal (stop) ``SinkError``."""
    where = f"{table.database}.{table.qualified_name}"
    if isinstance(exc, _SCHEMA_ERRORS):
        return SinkError(
            f"cannot write {where}: {db_error(exc)}",
            hint="run `smartsync db migrate` (or check the target's schema) and restart the flow",
        )
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | pg_errors.SerializationFailure):
        return TransientSinkError(
            f"{where} is unreachable: {db_error(exc)}",
            hint="retrying with backoff; check that PostgreSQL is up",
        )
    if isinstance(exc, pg_errors.DeadlockDetected | pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return TransientSinkError(f"{where}: {type(exc).__name__}", hint="retrying with backoff")
    # Reduced to SQLSTATE, table and constraint: the full text (DETAIL) may quote row values.
    return SinkError(f"cannot write {where}: {db_error(exc)}", hint="see the traceback with --debug")
