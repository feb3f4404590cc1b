"""The I/O half of the diff: consistent snapshots of both sides, hashed in PostgreSQL, merged here.

How a comparison runs (measured against alternatives in ``bench/bench_reconcile.py``):

1. Each side opens a REPEATABLE READ transaction and exports its snapshot; up to
   ``max_connections // 2`` connections per side import it and scan disjoint parts of the
   table in parallel (ctid block ranges; a filtered side, such as an incremental's window,
   splits by key instead), so all of them see one consistent state.
2. PostgreSQL hashes each row (``hash_record_extended`` over the compared columns: type-aware,
   so ``1.50`` equals ``1.5``) and returns, per part, one bytea of fixed-width records: the
   key (or a 64-bit hash of a composite or text key), the row hash and, unless the key is an
   integer, the ctid. 16–22 bytes per row travel and become numpy arrays without a Python
   loop. An incremental ships one hash per column instead (see ``diff_pair``). Masked
   columns cannot be hashed on the server (the target holds masked values), so they travel
   as text, are masked once per distinct value and compared as strings.
3. The two sides are merged on the key (sort and binary search, or no sort when a side
   arrives in key order; a DuckDB hash join over the same arrays, ``join_scans_duckdb``, was
   slower).
4. For the differing rows only, each side returns one hash per column (unless the scan
   shipped them) and the real keys, packed the same way; that names the changed columns:
   source-only, target-only, changed (with which columns), unchanged. For a fix, the source
   returns the values of its clear columns in the same query; the masked ones were masked
   for the comparison already.

Two sides with one integer key, unique and NOT NULL on both, and no masked columns are
fingerprinted first (row count and XOR of the row hashes, per part): equal fingerprints mean
equal rows, and nothing else travels. A key range in the middle goes first, so that drift
spread over the table sends the diff to the full scan after a few milliseconds.

Before snapshotting, the source's WAL position is read: every fix the batch path writes is
stamped with it, so a row the event path wrote later (a higher position) is never overwritten.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import operator
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg import sql

from masking import masker_for
from reconcile.diff import Detail, classify, quote_table
from reconcile.model import ColumnSpec, PairSpec, Relation, SchemaDiff, TableDiff
from smartsync.core.errors import ReconcileError

Key = tuple[Any, ...]
T = TypeVar("T")
# Rows per hashed range: big enough that round trips do not matter, small enough that one
# range's packed bytes stay far below PostgreSQL's 1 GB value limit and memory stays flat.
ROWS_PER_RANGE = 1_000_000
# Above this share of a side's rows, a fix reads the whole side rather than a ctid list.
WHOLE_SIDE_SHARE = 0.3


@dataclass
class SideScan:
    """What one side's hash scan returned."""

    keys: np.ndarray  # int64: the key itself (integer keys) or a 64-bit hash of it
    hashes: np.ndarray  # int64 row hash of the hashed columns, or one hash per column (rows × columns)
    tids: np.ndarray | None  # int64 block << 16 | offset, when the relation is a table
    masked: dict[str, Any]  # masked columns as Arrow text arrays, in row order
    rows: int = 0
    null_keys: int = 0


@dataclass(frozen=True)
class Fingerprint:
    """Row count and XOR of the row hashes of one side: equal on both sides means equal rows.

    The row hash covers the key, so this compares the sets of (key, row) of two sides whose
    keys are unique; a difference between two rows goes unseen with probability 2**-64.
    """

    rows: int
    xor: int


@dataclass
class DiffOutcome:
    """A diff plus what a fix needs: the masked source rows of every differing key."""

    diff: TableDiff
    source_rows: Mapping[Key, dict[str, Any]] = field(default_factory=dict)
    source_ts: datetime | None = None
    complete_until: datetime | None = None


@contextlib.contextmanager
def bulk_objects() -> Iterator[None]:
    """Pause the cyclic garbage collector while many acyclic objects (keys, rows) are built.

    Every collection walks all live objects, and building 100K rows triggers hundreds of
    them: measured, a third of the time spent turning 100K differing rows into a fix.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ── connections ─────────────────────────────────────────────────────────────────────────


def connect(dsn: str, *, what: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
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
    types = dict(conn.execute("SELECT oid, format_type(oid, NULL) FROM pg_type WHERE oid = ANY(%s)", (oids,)).fetchall())
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


# ── one side ────────────────────────────────────────────────────────────────────────────


def _where(rel: Relation, extra: Sequence[str] = ()) -> str:
    preds = [*(f"({p})" for p in rel.where), *extra]
    return " WHERE " + " AND ".join(preds) if preds else ""


def _expr(col: ColumnSpec, side: str) -> str:
    expr = col.source_expr if side == "source" else col.target_expr
    return f"({expr})::text" if col.as_text or col.mask.lossy else expr


def _key_sql(spec: PairSpec, side: str) -> str:
    keys = [spec.column(k) for k in spec.key]
    if spec.integer_key:
        return f"({_expr(keys[0], side)})::int8"
    return f"hash_record_extended(ROW({', '.join(_expr(k, side) for k in keys)}), 0)"


@dataclass(frozen=True)
class Part:
    """What one query of a side's scan reads: a range of ctid blocks, or one share of the keys."""

    blocks: tuple[int, int | None] | None = None  # [first, last) block; the last part is open-ended
    share: tuple[int, int] | None = None  # (i, n): the rows whose key modulo n is i


# A column's hash by the family of its type: the family's own hash function (equal values hash
# alike across the family: 5 as smallint and bigint, 1.50 and 1.5, varchar and text), about a
# third of the cost of wrapping the value in a row for ``hash_record_extended``. NULL gets a
# fixed hash of its own.
_FAMILY_HASH = {
    "integer": "hashint8extended(({}), 0)",
    "text": "hashtextextended(({})::text, 0)",
    "numeric": "hash_numeric_extended(({}), 0)",
}
_NULL_HASH = -7_046_029_254_386_353_131


def _column_hash_sql(col: ColumnSpec, side: str) -> str:
    expr = _expr(col, side)
    direct = _FAMILY_HASH.get(col.family or "")
    if direct is None:
        return f"hash_record_extended(ROW({expr}), 0)"
    return f"coalesce({direct.format(expr)}, {_NULL_HASH})"


def _column_hashes_sql(spec: PairSpec, side: str) -> str:
    """One big-endian int8 hash per clear column, concatenated (type-aware, as the row hash)."""
    return " || ".join(f"int8send({_column_hash_sql(c, side)})" for c in spec.hashed)


def _key_null_sql(spec: PairSpec, side: str) -> str:
    return " OR ".join(f"({_expr(spec.column(k), side)}) IS NULL" for k in spec.key)


def _part_filter(spec: PairSpec, side: str, part: Part | None) -> list[str]:
    extra: list[str] = []
    if part is not None and part.blocks is not None:
        lo, hi = part.blocks
        extra.append(f"ctid >= '({lo},0)'::tid")
        if hi is not None:
            extra.append(f"ctid < '({hi},0)'::tid")
    if part is not None and part.share is not None:
        # Rows without a key fall in the first share, so that they are counted once.
        i, n = part.share
        extra.append(f"coalesce(abs(mod({_key_sql(spec, side)}, {n})), 0) = {i}")
    return extra


def scan_sql(
    spec: PairSpec,
    side: str,
    *,
    with_tid: bool,
    part: Part | None = None,
    key_filter: str | None = None,
    nullable_key: bool = True,
    per_column: bool = False,
) -> str:
    """One part's hash scan: row count, null keys, packed (key, hash[, tid]) and masked columns.

    ``key_filter`` (an int8[] literal) keeps the rows of those scan keys only; ``per_column``
    ships one hash per clear column instead of one per row.
    """
    rel = spec.source if side == "source" else spec.target
    key_null = _key_null_sql(spec, side) if nullable_key else "false"
    if per_column:
        hashes = f"{_column_hashes_sql(spec, side)} AS _h"
    else:
        hashes = f"int8send(hash_record_extended(ROW({', '.join(_expr(c, side) for c in spec.hashed)}), 0)) AS _h"
    inner = [f"{_key_sql(spec, side)} AS _k", hashes, f"({key_null}) AS _null"]
    if with_tid:
        inner.append("ctid AS _tid")
    for i, col in enumerate(spec.masked):
        inner.append(f"textsend({_expr(col, side)}) AS _m{i}")
    extra = _part_filter(spec, side, part)
    if key_filter is not None:
        extra.append(f"{_key_sql(spec, side)} = ANY({key_filter})")
    # A NOT NULL key needs no filtering (it costs a tenth of the scan on a million rows).
    agg = "FILTER (WHERE NOT _null)" if nullable_key else ""
    # One bytea of fixed-width records (key, hash[, ctid]) per range: cheaper to build in
    # PostgreSQL than one array per field, and it becomes numpy arrays without a loop.
    record = "int8send(_k) || _h" + (" || tidsend(_tid)" if with_tid else "")
    outer = [
        "count(*)",
        "count(*) FILTER (WHERE _null)" if nullable_key else "0",
        f"string_agg({record}, ''::bytea) {agg}",
    ]
    for i in range(len(spec.masked)):
        outer.append(f"string_agg(_m{i}, ''::bytea) {agg}")
        outer.append(f"string_agg(int4send(coalesce(length(_m{i}), -1)), ''::bytea) {agg}")
    return f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {rel.sql}{_where(rel, extra)}) AS _s"


def fingerprint_sql(spec: PairSpec, side: str, *, part: Part | None = None, key_range: tuple[int, int] | None = None) -> str:
    """Count and XOR of the row hashes of one part (or of the keys in ``key_range``, both ends included)."""
    rel = spec.source if side == "source" else spec.target
    extra = _part_filter(spec, side, part)
    if key_range is not None:  # the uncast integer key: its index finds the range
        key = _expr(spec.column(spec.key[0]), side)
        extra.append(f"{key} BETWEEN {int(key_range[0])} AND {int(key_range[1])}")
    row_hash = f"hash_record_extended(ROW({', '.join(_expr(c, side) for c in spec.hashed)}), 0)"
    return f"SELECT count(*), bit_xor({row_hash}) FROM {rel.sql}{_where(rel, extra)}"


# Packed records as PostgreSQL sends them (big-endian): int8send, tidsend (block, offset).
_TID_FIELDS = [("b", ">u4"), ("o", ">u2")]


def scan_item(*, with_tid: bool, columns: int | None = None) -> np.dtype[Any]:
    """A scan record: key, row hash (or ``columns`` column hashes), ctid when shipped."""
    hashes = ("h", ">i8") if columns is None else ("h", ">i8", (columns,))
    return np.dtype([("k", ">i8"), hashes, *(_TID_FIELDS if with_tid else [])])


def _records(data: bytes | None, item: np.dtype[Any]) -> np.ndarray:
    """Fixed-width records concatenated by ``string_agg``, as a structured array (no copy)."""
    return np.frombuffer(data or b"", dtype=item)


def _tids(records: np.ndarray) -> np.ndarray:
    """``block << 16 | offset`` of the ``b``/``o`` fields of packed records."""
    return (records["b"].astype(np.int64) << 16) | records["o"].astype(np.int64)


def _text_array(data: bytes | None, lengths: bytes | None) -> Any:
    """Arrow strings from concatenated bytes and big-endian int4 lengths (-1 = NULL), loop-free."""
    import pyarrow as pa  # noqa: PLC0415 — only masked comparisons need Arrow

    lens = np.frombuffer(lengths or b"", dtype=">i4").astype(np.int64)
    valid = lens >= 0
    offsets = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(np.where(valid, lens, 0), out=offsets[1:])
    validity = pa.array(valid).buffers()[1] if not valid.all() else None
    return pa.LargeStringArray.from_buffers(
        len(lens), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data or b""), validity, int((~valid).sum())
    )


def _parse_range(row: Sequence[Any], spec: PairSpec, *, with_tid: bool, per_column: bool = False) -> SideScan:
    count, nulls = int(row[0]), int(row[1])
    rec = _records(row[2], scan_item(with_tid=with_tid, columns=len(spec.hashed) if per_column else None))
    tids = _tids(rec) if with_tid else None
    masked = {col.name: _text_array(row[3 + 2 * i], row[4 + 2 * i]) for i, col in enumerate(spec.masked)}
    return SideScan(rec["k"].astype(np.int64), rec["h"].astype(np.int64), tids, masked, count, nulls)


def _concat_arrow(arrays: Sequence[Any]) -> Any:
    import pyarrow as pa  # noqa: PLC0415

    return pa.concat_arrays(arrays)


def _concat(parts: Sequence[SideScan], spec: PairSpec) -> SideScan:
    if len(parts) == 1:
        return parts[0]
    tids = [p.tids for p in parts if p.tids is not None]
    return SideScan(
        np.concatenate([p.keys for p in parts]),
        np.concatenate([p.hashes for p in parts]),
        np.concatenate(tids) if tids else None,
        {c.name: _concat_arrow([p.masked[c.name] for p in parts]) for c in spec.masked},
        sum(p.rows for p in parts),
        sum(p.null_keys for p in parts),
    )


class Side:
    """One side of a comparison: a snapshot shared by up to ``connections`` connections."""

    def __init__(self, spec: PairSpec, side: str, connections: int) -> None:
        self.spec = spec
        self.side = side
        self.rel = spec.source if side == "source" else spec.target
        self.connections = max(1, connections)
        self.conn: psycopg.Connection[Any] | None = None
        self.workers: list[psycopg.Connection[Any]] = []  # more connections in the same snapshot
        self._size: tuple[int, float] | None = None
        self.snapshot_id: str | None = None
        self.lsn: int | None = None
        self.started_at: datetime | None = None
        # No row committed after this instant can be missing from the snapshot: the earlier of
        # the snapshot time and the start of the oldest transaction that was still writing.
        self.complete_until: datetime | None = None
        # Rows are found again by ctid; an integer key is found through its index instead,
        # which spares shipping the ctids.
        self.with_tid = self.rel.table is not None and not spec.integer_key
        self.nullable_key = True
        # Restricts this side to the given scan keys (an incremental's target: the source window's keys).
        self.key_filter: str | None = None  # an int8[] literal
        self.key_filter_rows = 0
        # Ship one hash per column rather than per row (a window whose rows mostly differ).
        self.per_column = False

    def open(self, *, read_lsn: bool = False, conn: psycopg.Connection[Any] | None = None) -> None:
        """Take the snapshot (on ``conn`` when given: an idle autocommit connection to the side's database)."""
        conn = conn or connect(self.rel.dsn, what=self.rel.label)
        self.conn = conn
        if read_lsn:
            # Read before the snapshot: whatever the snapshot sees committed at or below it,
            # and a change the event path writes later carries a higher position.
            row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
            self.lsn = int(row[0]) if row else None
        if self.rel.table is not None:
            self.nullable_key = _nullable(conn, self.rel.table, [_expr(self.spec.column(k), self.side) for k in self.spec.key])
        self._no_parallel_workers(conn)
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute(
            "SELECT now(), pg_export_snapshot(), least(now(), (SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()))"
        ).fetchone()
        assert row is not None  # noqa: S101
        self.started_at, self.snapshot_id, self.complete_until = row[0], str(row[1]), row[2]

    def _no_parallel_workers(self, conn: psycopg.Connection[Any]) -> None:
        # The side already spreads its work over its connections (and the other side runs at
        # the same time): parallel workers on top only crowd the CPUs (measured: slower).
        if self.connections > 1:
            conn.execute("SET max_parallel_workers_per_gather = 0")

    def close(self) -> None:
        for conn in self.workers:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            conn.close()
        self.workers = []
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")
                self.conn.close()
            self.conn = None

    def parts(self) -> list[Part | None]:
        """Disjoint parts covering the side, one query each, at most ``ROWS_PER_RANGE`` rows per part.

        A whole table splits into ctid block ranges. A filtered one (an incremental's window, or
        the target restricted to the window's keys) splits by key instead, one share per
        connection, when that keeps the parts small enough: its rows can sit in a few blocks
        (updated rows move to the end of the table), and every part would wait for the range
        that holds them. Each share scans the table but hashes only its own rows.
        """
        if self.rel.table is None or self.connections == 1:
            return [None]
        pages, tuples = self.size()
        if pages < 2 * self.connections:
            return [None]
        if self.rel.where or self.key_filter is not None:
            expected = self.key_filter_rows if self.key_filter is not None else self._estimate_rows()
            # Each share reads the table once: worth it while one share per connection is enough.
            if expected <= self.connections * ROWS_PER_RANGE:
                return [Part(share=(i, self.connections)) for i in range(self.connections)]
        n = max(self.connections, math.ceil(tuples / ROWS_PER_RANGE))
        step = max(1, math.ceil(pages / n))
        bounds = list(range(0, pages, step))
        return [Part(blocks=(lo, bounds[i + 1] if i + 1 < len(bounds) else None)) for i, lo in enumerate(bounds)]

    def size(self) -> tuple[int, float]:
        """Pages and estimated rows of the side's table (0, 0 for a query); read once."""
        assert self.conn is not None  # noqa: S101
        if self._size is None:
            row = None
            if self.rel.table is not None:
                row = self.conn.execute(
                    "SELECT pg_relation_size(c.oid) / current_setting('block_size')::int, greatest(c.reltuples, 0) "
                    "FROM pg_class c WHERE c.oid = to_regclass(%s)",
                    (quote_table(self.rel.table),),
                ).fetchone()
            self._size = (int(row[0]), float(row[1])) if row else (0, 0.0)
        return self._size

    def key_bounds(self) -> tuple[int, int] | None:
        """Smallest and largest integer key of the side (``None`` when it is empty)."""
        assert self.conn is not None  # noqa: S101
        k = _expr(self.spec.column(self.spec.key[0]), self.side)  # uncast: its index answers
        try:
            row = self.conn.execute(f"SELECT min({k}), max({k}) FROM {self.rel.sql}{_where(self.rel)}").fetchone()
        except psycopg.Error as exc:
            raise _query_error(exc, self.rel) from None
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def _estimate_rows(self) -> float:
        """The planner's estimate of the rows the side's filter keeps (no rows are read)."""
        assert self.conn is not None  # noqa: S101
        row = self.conn.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {self.rel.sql}{_where(self.rel)}").fetchone()
        try:
            return float(row[0][0]["Plan"]["Plan Rows"]) if row else math.inf
        except (KeyError, IndexError, TypeError, ValueError):
            return math.inf

    def scan(self) -> SideScan:
        """Hash every row of this side, in parallel over its parts, in the shared snapshot."""
        results = self._each_part(self.parts(), self._scan_one)
        return _concat(results, self.spec)

    def fingerprint(self, key_range: tuple[int, int] | None = None) -> Fingerprint:
        """Row count and XOR of the row hashes of this side (or of its keys in ``key_range``)."""
        if key_range is not None:
            assert self.conn is not None  # noqa: S101
            return self._fingerprint_one(self.conn, None, key_range)
        parts = self._each_part(self.parts(), lambda conn, part: self._fingerprint_one(conn, part, None))
        return Fingerprint(sum(p.rows for p in parts), functools.reduce(operator.xor, (p.xor for p in parts), 0))

    def _each_part(self, parts: Sequence[Part | None], run: Callable[[psycopg.Connection[Any], Part | None], T]) -> list[T]:
        """``run`` over every part, spread over this side's connections (all in its snapshot), in part order."""
        assert self.conn is not None  # noqa: S101
        if len(parts) == 1:
            return [run(self.conn, parts[0])]
        self._open_workers(min(self.connections, len(parts)) - 1)
        results: list[T | None] = [None] * len(parts)
        todo = iter(enumerate(parts))
        lock = threading.Lock()

        def work(conn: psycopg.Connection[Any]) -> None:
            while True:
                with lock:
                    nxt = next(todo, None)
                if nxt is None:
                    return
                results[nxt[0]] = run(conn, nxt[1])

        conns = [self.conn, *self.workers[: len(parts) - 1]]
        with ThreadPoolExecutor(len(conns)) as pool:
            for fut in [pool.submit(work, conn) for conn in conns]:
                fut.result()
        return [r for r in results if r is not None]

    def _open_workers(self, wanted: int) -> None:
        """Connections that import this side's snapshot, kept until ``close``."""
        missing = wanted - len(self.workers)
        if missing <= 0:
            return
        with ThreadPoolExecutor(missing) as pool:
            self.workers += list(pool.map(lambda _i: self._imported(), range(missing)))

    def _imported(self) -> psycopg.Connection[Any]:
        conn = connect(self.rel.dsn, what=self.rel.label)
        try:
            self._no_parallel_workers(conn)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self.snapshot_id)))
        except BaseException:
            conn.close()
            raise
        return conn

    def _fingerprint_one(
        self, conn: psycopg.Connection[Any], part: Part | None, key_range: tuple[int, int] | None
    ) -> Fingerprint:
        query = fingerprint_sql(self.spec, self.side, part=part, key_range=key_range)
        try:
            row = conn.execute(query).fetchone()
        except psycopg.Error as exc:
            raise _query_error(exc, self.rel) from None
        assert row is not None  # noqa: S101 — an aggregate always returns a row
        return Fingerprint(int(row[0]), int(row[1] or 0))

    def _scan_one(self, conn: psycopg.Connection[Any], part: Part | None) -> SideScan:
        query = scan_sql(
            self.spec, self.side, with_tid=self.with_tid, part=part, key_filter=self.key_filter,
            nullable_key=self.nullable_key, per_column=self.per_column,
        )
        try:
            row = conn.execute(query, binary=True).fetchone()
        except psycopg.Error as exc:
            raise _query_error(exc, self.rel) from None
        assert row is not None  # noqa: S101 — an aggregate always returns a row
        return _parse_range(row, self.spec, with_tid=self.with_tid, per_column=self.per_column)

    def _predicate(self, keys: np.ndarray, tids: np.ndarray | None) -> str:
        if tids is not None:
            return f"ctid = ANY({tid_literal(tids)})"
        return f"{_key_sql(self.spec, self.side)} = ANY({int8_literal(keys)})"

    def detail(
        self,
        keys: np.ndarray,
        tids: np.ndarray | None,
        *,
        hashes: np.ndarray | None = None,
        with_rows: bool = False,
        rows: int = 0,
    ) -> tuple[Detail, list[tuple[Any, ...]] | None]:
        """Per-column hashes and real keys of the given rows (scan keys, and ctids when shipped), in that order.

        ``hashes`` are the rows' column hashes when the scan shipped them already.
        ``with_rows`` also returns the values of the clear columns (``spec.hashed`` order), read
        in the same query: a fix writes them, and masked values come from the scan. When more
        than ``WHOLE_SIDE_SHARE`` of the side's ``rows`` are asked for (a first load), one scan
        of the whole side beats a list of keys.
        """
        assert self.conn is not None  # noqa: S101
        spec, side = self.spec, self.side
        hashed = spec.hashed
        if len(keys) == 0:
            return Detail(keys, [], np.zeros((0, len(hashed)), dtype=np.int64)), [] if with_rows else None
        if hashes is not None and spec.integer_key and not with_rows:
            return Detail(keys, [(k,) for k in keys.tolist()], hashes), None  # nothing left to read
        ident = "tidsend(ctid)" if tids is not None else f"int8send({_key_sql(spec, side)})"
        packed = ident if hashes is not None else f"{ident} || {_column_hashes_sql(spec, side)}"
        n_hashes = 0 if hashes is not None else len(hashed)
        item = np.dtype([*(_TID_FIELDS if tids is not None else _KEY_FIELDS), ("h", ">i8", (n_hashes,))])
        if self.key_filter is None and len(keys) > WHOLE_SIDE_SHARE * max(1, rows):
            # Rows without a key were never asked for (and would pack to NULL).
            where = _where(self.rel, [f"NOT ({_key_null_sql(spec, side)})"])
        else:
            where = _where(self.rel, [self._predicate(keys, tids)])
        # The real key is the scan key for one integer column; else the key columns' values.
        key_cols = [] if spec.integer_key else [_expr(spec.column(k), side) for k in spec.key]
        # One packed value for what fits comfortably in one PostgreSQL value, else one per row.
        aggregate = not with_rows and len(keys) <= ROWS_PER_RANGE
        if aggregate:
            aggs = "".join(f", array_agg({k})" for k in key_cols)
            query = f"SELECT string_agg({packed}, ''::bytea){aggs} FROM {self.rel.sql}{where}"
        else:
            cols = [_expr(c, side) for c in hashed] if with_rows else key_cols
            query = f"SELECT {', '.join([packed, *cols])} FROM {self.rel.sql}{where}"
        try:
            fetched = self.conn.execute(query, binary=True).fetchall()
        except psycopg.Error as exc:
            raise _query_error(exc, self.rel) from None
        values: list[tuple[Any, ...]] | None = None
        if aggregate:
            rec = np.frombuffer(fetched[0][0] or b"", dtype=item)
            real: list[Key] = list(zip(*fetched[0][1:], strict=True)) if key_cols and len(rec) else []
        else:
            rec = np.frombuffer(b"".join(r[0] for r in fetched), dtype=item)
            if with_rows:
                values = [r[1:] for r in fetched]
                key_at = [i for i, c in enumerate(hashed) if c.name in spec.key]
                real = [tuple(v[i] for i in key_at) for v in values] if key_cols else []
            else:
                real = [r[1:] for r in fetched]
        at = _positions(_tids(rec) if tids is not None else rec["k"].astype(np.int64), tids if tids is not None else keys, self.rel)
        order = at.tolist()
        real = [(k,) for k in keys.tolist()] if not key_cols else [real[i] for i in order]
        detail = Detail(keys, real, hashes if hashes is not None else rec["h"][at].astype(np.int64))
        return detail, [values[i] for i in order] if values is not None else None


_KEY_FIELDS = [("k", ">i8")]


def _positions(got: np.ndarray, wanted: np.ndarray, rel: Relation) -> np.ndarray:
    """Where each ``wanted`` identifier (scan key or ctid, unique on the side) is in ``got``."""
    order = np.argsort(got, kind="stable")
    at = np.minimum(np.searchsorted(got[order], wanted), max(len(got) - 1, 0))
    if len(got) == 0 or not np.array_equal(got[order][at], wanted):
        msg = f"reading {rel.label} again did not find every row of its snapshot"
        raise ReconcileError(msg, hint="rerun the diff; report it if it persists")
    return order[at]


def _nullable(conn: psycopg.Connection[Any], table: str, key_exprs: Sequence[str]) -> bool:
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


def int8_literal(values: np.ndarray) -> str:
    """``'{1,2,3}'::int8[]``: an int8[] literal (digits only, nothing to escape)."""
    return "'{" + ",".join(map(str, values.tolist())) + "}'::int8[]"


def tid_literal(tids: np.ndarray) -> str:
    """``'{"(0,1)","(4,2)"}'::tid[]``: a tid[] literal of packed ``block << 16 | offset`` values."""
    blocks, offsets = (tids >> 16).tolist(), (tids & 0xFFFF).tolist()
    return "'{" + ",".join(f'"({b},{o})"' for b, o in zip(blocks, offsets, strict=True)) + "}'::tid[]"


def _query_error(exc: psycopg.Error, rel: Relation) -> ReconcileError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ReconcileError(f"reading {rel.label} failed: {first}", hint="check the table, its columns and their types")


# ── the comparison ──────────────────────────────────────────────────────────────────────


def _masked_source(scan: SideScan, spec: PairSpec, positions: np.ndarray | None = None) -> dict[str, Any]:
    """Mask each masked source column (the rows at ``positions``, default all) once per distinct value."""
    import pyarrow as pa  # noqa: PLC0415

    out: dict[str, Any] = {}
    for col in spec.masked:
        values = scan.masked[col.name]
        if positions is not None:
            values = values.take(pa.array(positions))
        enc = values.dictionary_encode()
        fn = masker_for(col.mask)
        masked = pa.array([fn(v) for v in enc.dictionary.to_pylist()], pa.large_string())
        out[col.name] = masked.take(enc.indices)
    return out


def _distinct(a: Any, b: Any) -> np.ndarray:
    """Element-wise ``a IS DISTINCT FROM b`` of two Arrow string arrays."""
    import pyarrow.compute as pc  # noqa: PLC0415

    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    differ = pc.fill_null(pc.not_equal(a, b), fill_value=True)
    return np.asarray(pc.and_(differ, pc.invert(both_null)).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass
class Found:
    """Positions (in scan order) of the rows that differ, and how many matched keys differ."""

    source: np.ndarray  # source-only rows first, then the matched rows that differ
    target: np.ndarray
    matched_differing: int
    # Which masked columns differ, per ``source`` row (False for source-only rows): masked
    # values never reach the server's hash, so they are compared here.
    masked_flags: np.ndarray | None = None
    # The masked values of the ``source`` rows, when asked for: a fix writes them.
    masked: dict[str, Any] = field(default_factory=dict)


def _in_key_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Scan positions in key order, the sorted keys, and whether a key repeats.

    A side read in key order (a table filled in key order, scanned by ctid) needs no sort.
    """
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        return np.arange(len(keys)), keys, False
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    return order, ordered, bool(np.any(ordered[1:] == ordered[:-1]))


def join_scans(
    src: SideScan,
    tgt: SideScan,
    spec: PairSpec,
    *,
    check_duplicates: tuple[bool, bool] = (True, True),
    keep_masked: bool = False,
    masked_source: Mapping[str, Any] | None = None,
) -> Found:
    """Merge the two scans on the key (sort + binary search) and keep the rows that differ.

    Measured against DuckDB's hash join over the same arrays (``join_scans_duckdb``): rows
    arrive from PostgreSQL nearly in key order, so sorting them is cheap and this is faster.
    ``keep_masked`` keeps the masked source values of the differing rows (a fix writes them,
    so they are masked once). ``masked_source`` holds them for every source row when they were
    masked already (``_masked_source``).
    """
    so, sk, s_dup = _in_key_order(src.keys)
    to, tk, t_dup = _in_key_order(tgt.keys)
    for rel, dup, check in ((spec.source, s_dup, check_duplicates[0]), (spec.target, t_dup, check_duplicates[1])):
        if check and dup:
            msg = f"duplicate keys in {rel.label}: key {list(spec.key)} is not unique"
            raise ReconcileError(msg, hint="give --key columns that identify one row")
    if len(tk):
        pos = np.minimum(np.searchsorted(tk, sk), len(tk) - 1)
        found = tk[pos] == sk
    else:
        pos, found = np.zeros(len(sk), dtype=np.int64), np.zeros(len(sk), dtype=bool)
    matched_s = so[found]  # scan positions of matched source rows
    matched_t = to[pos[found]]
    only_s = so[~found]
    differ = src.hashes[matched_s] != tgt.hashes[matched_t]
    if differ.ndim == 2:  # one hash per column
        differ = differ.any(axis=1)
    flags = np.zeros((len(matched_s), len(spec.masked)), dtype=bool)
    masked: dict[str, Any] = {}
    if spec.masked:
        import pyarrow as pa  # noqa: PLC0415

        # Source-only rows need their masked values only for a fix.
        at = np.concatenate([matched_s, only_s]) if keep_masked else matched_s
        if masked_source is None:
            values = _masked_source(src, spec, at)
        else:
            values = {name: arr.take(pa.array(at)) for name, arr in masked_source.items()}
        for i, col in enumerate(spec.masked):
            flags[:, i] = _distinct(values[col.name].slice(0, len(matched_s)), tgt.masked[col.name].take(pa.array(matched_t)))
        differ |= flags.any(axis=1)
        if keep_masked:
            pick = pa.array(np.concatenate([np.arange(len(matched_s), len(at)), np.flatnonzero(differ)]))
            masked = {name: arr.take(pick) for name, arr in values.items()}
    t_matched = np.zeros(len(tk), dtype=bool)
    t_matched[pos[found]] = True
    source = np.concatenate([only_s, matched_s[differ]])
    target = np.concatenate([to[~t_matched], matched_t[differ]])
    masked_flags = np.concatenate([np.zeros((len(only_s), len(spec.masked)), dtype=bool), flags[differ]])
    return Found(source, target, int(np.count_nonzero(differ)), masked_flags, masked)


def join_scans_duckdb(src: SideScan, tgt: SideScan, spec: PairSpec) -> Found:
    """The same join as a DuckDB full outer join over Arrow (kept to measure against; unmasked pairs)."""
    import duckdb  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    s = pa.table({"k": src.keys, "i": np.arange(len(src.keys)), "h": src.hashes})
    t = pa.table({"k": tgt.keys, "i": np.arange(len(tgt.keys)), "h": tgt.hashes})
    db = duckdb.connect()
    try:
        db.register("s", s)
        db.register("t", t)
        res = db.execute(
            "SELECT s.i, t.i, s.k IS NOT NULL AND t.k IS NOT NULL FROM s FULL OUTER JOIN t ON s.k = t.k "
            "WHERE s.k IS NULL OR t.k IS NULL OR s.h <> t.h"
        ).to_arrow_table()
    finally:
        db.close()
    si, ti, both = (res.column(i) for i in range(3))
    return Found(
        si.drop_null().to_numpy(), ti.drop_null().to_numpy(), int(np.count_nonzero(both.to_numpy(zero_copy_only=False)))
    )


def _take(values: np.ndarray | None, positions: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[positions]


@bulk_objects()
def diff_pair(
    spec: PairSpec,
    *,
    max_connections: int,
    schema: SchemaDiff | None = None,
    stamp: bool = False,
    unique: tuple[bool, bool] = (False, False),
    restrict_target: bool = False,
    keep_rows: bool = False,
    on_step: Callable[[str], None] | None = None,
    note: str = "",
    conns: tuple[psycopg.Connection[Any], psycopg.Connection[Any]] | None = None,
) -> DiffOutcome:
    """Compare the two relations of ``spec``; keep the masked source rows a fix would write.

    ``stamp`` reads the source's WAL position before its snapshot (batch fixes carry it).
    ``unique`` says which sides have a unique index on the key (no duplicate check needed).
    ``restrict_target`` compares only the target rows whose keys the source has (incrementals:
    the source is a window, so the target's other rows are not target-only).
    ``keep_rows`` keeps the masked source rows of every source-only and changed key (a fix
    writes them): their clear columns travel with the per-column hashes, their masked columns
    were masked for the comparison already. Without it only keys and hashes travel.
    ``conns`` are idle connections to the source and the target to take the snapshots on
    (closed when the diff ends).
    """
    started = time.perf_counter()
    step = on_step or (lambda _msg: None)
    per_side = max(1, max_connections // 2)
    src, tgt = Side(spec, "source", per_side), Side(spec, "target", per_side)
    # An incremental's window holds the rows updated since its watermark; when the event path
    # lagged, most of them differ. Their column hashes cost the scan about 15% more and spare
    # reading every differing row again to name its changed columns.
    src.per_column = tgt.per_column = restrict_target
    try:
        step("snapshot")
        with ThreadPoolExecutor(2) as pool:
            given = conns or (None, None)
            opened = [pool.submit(src.open, read_lsn=stamp, conn=given[0]), pool.submit(tgt.open, conn=given[1])]
            for fut in opened:
                fut.result()
            if not restrict_target and fingerprint_first(spec, unique, (src.nullable_key, tgt.nullable_key)):
                step("fingerprint")
                same = _same_fingerprints(src, tgt, pool)
                if same is not None:
                    diff = _equal_diff(spec, same, schema=schema, src=src, started=started, note=note)
                    return DiffOutcome(diff, {}, src.started_at, src.complete_until)
            step("hash")
            masked_source = None
            if restrict_target:
                s_scan = src.scan()
                tgt.key_filter, tgt.key_filter_rows = int8_literal(s_scan.keys), len(s_scan.keys)
                t_future = pool.submit(tgt.scan)
                # Every row of the window is compared (matched) or written (source-only, in a
                # fix): mask them while the target is read, rather than after.
                masked_source = _masked_source(s_scan, spec) if spec.masked else None
                t_scan = t_future.result()
            else:
                scans = [pool.submit(src.scan), pool.submit(tgt.scan)]
                s_scan, t_scan = (f.result() for f in scans)
        step("join")
        found = join_scans(
            s_scan, t_scan, spec, check_duplicates=(not unique[0], not unique[1]), keep_masked=keep_rows,
            masked_source=masked_source,
        )
        step("fetch")
        with ThreadPoolExecutor(2) as pool:
            fs = pool.submit(
                src.detail, s_scan.keys[found.source], _take(s_scan.tids, found.source), with_rows=keep_rows,
                rows=s_scan.rows, hashes=s_scan.hashes[found.source] if src.per_column else None,
            )
            ft = pool.submit(
                tgt.detail, t_scan.keys[found.target], _take(t_scan.tids, found.target), rows=t_scan.rows,
                hashes=t_scan.hashes[found.target] if tgt.per_column else None,
            )
            (s_detail, s_values), (t_detail, _) = fs.result(), ft.result()
        cls = classify(s_detail, t_detail, [c.name for c in spec.hashed], [c.name for c in spec.masked], found.masked_flags)
        # Rows matched on the key with equal hashes never left PostgreSQL: they are unchanged.
        matched = s_scan.rows - s_scan.null_keys - (len(found.source) - found.matched_differing)
        unchanged = matched - found.matched_differing + cls.unchanged
        fix_rows: Mapping[Key, dict[str, Any]] = {}
        if keep_rows and s_values is not None:
            step("rows")
            fix_rows = FixRows(spec, s_detail.keys, s_values, found.masked, cls.to_write)
        diff = TableDiff(
            name=spec.name,
            source=spec.source.label,
            target=spec.target.label,
            key=spec.key,
            schema=schema or SchemaDiff(),
            source_rows=s_scan.rows,
            target_rows=t_scan.rows,
            source_only=tuple(cls.source_only),
            target_only=tuple(cls.target_only),
            changed=tuple(cls.changed),
            unchanged=unchanged,
            source_null_keys=s_scan.null_keys,
            target_null_keys=t_scan.null_keys,
            seconds=time.perf_counter() - started,
            snapshot_lsn=src.lsn,
            snapshot_at=src.started_at,
            note=note,
        )
        return DiffOutcome(diff, fix_rows, src.started_at, src.complete_until)
    finally:
        src.close()
        tgt.close()


# Rows of the key range both sides fingerprint first: enough to catch spread-out drift at once.
PROBE_ROWS = 20_000


def fingerprint_first(spec: PairSpec, unique: tuple[bool, bool], nullable: tuple[bool, bool]) -> bool:
    """Whether two equal sides can be told equal from their fingerprints alone.

    That takes one integer key, unique and never NULL on both sides (a fingerprint cannot
    see duplicate or NULL keys, which a diff reports), and no masked columns (those are
    compared after masking, on the client).
    """
    return spec.integer_key and all(unique) and not any(nullable) and not spec.masked


def probe_range(bounds: tuple[int, int], rows: float, size: int = PROBE_ROWS) -> tuple[int, int]:
    """A key range in the middle of ``bounds`` that holds about ``size`` of the side's ``rows``."""
    lo, hi = bounds
    span = hi - lo + 1
    width = max(1, min(span, -(-span * size // max(int(rows), 1))))  # integers: int8 keys stay exact
    start = lo + (span - width) // 2
    return start, start + width - 1


def _same_fingerprints(src: Side, tgt: Side, pool: ThreadPoolExecutor) -> Fingerprint | None:
    """The sides' common fingerprint, or ``None`` as soon as they differ.

    A small key range goes first: when rows differ all over the table (the usual drift), it
    differs too and the full scan starts after a few milliseconds, not after a whole pass.
    """
    bounds = src.key_bounds()
    if bounds is not None:
        probe = probe_range(bounds, src.size()[1], PROBE_ROWS)
        s_probe, t_probe = pool.submit(src.fingerprint, probe), pool.submit(tgt.fingerprint, probe)
        if s_probe.result() != t_probe.result():
            return None
    s_fp, t_fp = pool.submit(src.fingerprint), pool.submit(tgt.fingerprint)
    same = s_fp.result()
    return same if same == t_fp.result() else None


def _equal_diff(
    spec: PairSpec, same: Fingerprint, *, schema: SchemaDiff | None, src: Side, started: float, note: str
) -> TableDiff:
    return TableDiff(
        name=spec.name, source=spec.source.label, target=spec.target.label, key=spec.key,
        schema=schema or SchemaDiff(), source_rows=same.rows, target_rows=same.rows, source_only=(),
        target_only=(), changed=(), unchanged=same.rows, seconds=time.perf_counter() - started,
        snapshot_lsn=src.lsn, snapshot_at=src.started_at, note=note,
    )


class FixRows(Mapping[Key, dict[str, Any]]):
    """Real key → the row a fix writes (target column names): each row is built when it is read.

    Holds the clear columns (``spec.hashed`` order) of the differing source rows as read, and
    their masked columns as masked for the comparison: masking happens once, and the row
    dicts are made while the fix writes earlier batches (``reconcile.apply``).
    """

    def __init__(
        self,
        spec: PairSpec,
        keys: Sequence[Key],
        values: Sequence[tuple[Any, ...]],
        masked: Mapping[str, Any],
        rows: np.ndarray,
    ) -> None:
        import pyarrow as pa  # noqa: PLC0415

        self._names = [c.name for c in spec.hashed] + [c.name for c in spec.masked]
        self._values = values
        self._at = {keys[i]: n for n, i in enumerate(rows.tolist())}
        self._rows = rows.tolist()
        picked = pa.array(rows, pa.int64())
        self._masked = [masked[c.name].take(picked).to_pylist() for c in spec.masked]

    def __getitem__(self, key: Key) -> dict[str, Any]:
        n = self._at[key]
        extra = tuple(col[n] for col in self._masked)
        return dict(zip(self._names, (*self._values[self._rows[n]], *extra), strict=True))

    def __iter__(self) -> Iterator[Key]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


@contextlib.contextmanager
def snapshot_connection(dsn: str, *, what: str) -> Iterator[psycopg.Connection[Any]]:
    """A short-lived connection for catalog look-ups."""
    conn = connect(dsn, what=what)
    try:
        yield conn
    finally:
        conn.close()
