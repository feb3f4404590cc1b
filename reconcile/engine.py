"""The I/O half of the diff: consistent snapshots of both sides, hashed in PostgreSQL, merged here.

How a comparison runs (measured against alternatives in ``bench/bench_reconcile.py``):

1. Each side opens a REPEATABLE READ transaction and exports its snapshot; up to
   ``max_connections // 2`` connections per side import it and scan disjoint ctid ranges of
   the table in parallel, so all of them see one consistent state.
2. PostgreSQL hashes each row (``hash_record_extended`` over the compared columns: type-aware,
   so ``1.50`` equals ``1.5``) and returns, per range, the keys (or 64-bit hashes of composite
   and text keys), the row hashes and, unless the key is an integer, the ctids as binary
   arrays (``array_send``). 16–22 bytes per row travel and become numpy arrays without a
   Python loop. Masked columns cannot be hashed on the server (the target holds masked
   values), so they travel as text, are masked once per distinct value and compared as strings.
3. The two sides are merged on the key (sort and binary search: the keys arrive nearly
   sorted; a DuckDB hash join over the same arrays, ``join_scans_duckdb``, was slower).
4. For the differing keys only, each side returns the real key and one hash per column, which
   names the changed columns: source-only, target-only, changed (with which columns),
   unchanged. A fix then reads the full source rows of those keys and masks them.

Before snapshotting, the source's WAL position is read: every fix the batch path writes is
stamped with it, so a row the event path wrote later (a higher position) is never overwritten.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from masking import masker_for
from reconcile.diff import classify_digests, quote_table
from reconcile.model import ColumnSpec, PairSpec, Relation, SchemaDiff, TableDiff
from smartsync.errors import ReconcileError

Key = tuple[Any, ...]
Digest = tuple[Key, tuple[int, ...]]
# Rows per hashed range: big enough that round trips do not matter, small enough that one
# range's packed bytes stay far below PostgreSQL's 1 GB value limit and memory stays flat.
ROWS_PER_RANGE = 1_000_000
# Above this share of a side's rows, a fix reads the whole side rather than a ctid list.
WHOLE_SIDE_SHARE = 0.3


@dataclass
class SideScan:
    """What one side's hash scan returned."""

    keys: np.ndarray  # int64: the key itself (integer keys) or a 64-bit hash of it
    hashes: np.ndarray  # int64 row hash of the hashed columns
    tids: np.ndarray | None  # int64 block << 16 | offset, when the relation is a table
    masked: dict[str, Any]  # masked columns as Arrow text arrays, in row order
    rows: int = 0
    null_keys: int = 0


@dataclass
class DiffOutcome:
    """A diff plus what a fix needs: the masked source rows of every differing key."""

    diff: TableDiff
    source_rows: dict[Key, dict[str, Any]] = field(default_factory=dict)
    source_ts: datetime | None = None
    complete_until: datetime | None = None


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


def scan_sql(
    spec: PairSpec,
    side: str,
    *,
    with_tid: bool,
    tid_range: tuple[int, int | None] | None,
    key_filter: bool = False,
    nullable_key: bool = True,
) -> str:
    """One range's hash scan: row count, null keys, packed (key, hash[, tid]) and masked columns."""
    rel = spec.source if side == "source" else spec.target
    keys = [spec.column(k) for k in spec.key]
    key_null = " OR ".join(f"({_expr(k, side)}) IS NULL" for k in keys) if nullable_key else "false"
    hashed = ", ".join(_expr(c, side) for c in spec.hashed)
    inner = [f"{_key_sql(spec, side)} AS _k", f"hash_record_extended(ROW({hashed}), 0) AS _h", f"({key_null}) AS _null"]
    if with_tid:
        inner.append("ctid AS _tid")
    for i, col in enumerate(spec.masked):
        inner.append(f"textsend({_expr(col, side)}) AS _m{i}")
    extra: list[str] = []
    if tid_range is not None:
        lo, hi = tid_range
        extra.append(f"ctid >= '({lo},0)'::tid")
        if hi is not None:
            extra.append(f"ctid < '({hi},0)'::tid")
    if key_filter:
        extra.append(f"{_key_sql(spec, side)} = ANY(%s::int8[])")
    # A NOT NULL key needs no filtering (it costs a tenth of the scan on a million rows).
    agg = "FILTER (WHERE NOT _null)" if nullable_key else ""
    outer = [
        "count(*)",
        "count(*) FILTER (WHERE _null)" if nullable_key else "0",
        f"array_send(array_agg(_k) {agg})",
        f"array_send(array_agg(_h) {agg})",
        f"array_send(array_agg(_tid) {agg})" if with_tid else "NULL::bytea",
    ]
    for i in range(len(spec.masked)):
        outer.append(f"string_agg(_m{i}, ''::bytea) {agg}")
        outer.append(f"string_agg(int4send(coalesce(length(_m{i}), -1)), ''::bytea) {agg}")
    return f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {rel.sql}{_where(rel, extra)}) AS _s"


_INT8_ITEM = np.dtype([("len", ">i4"), ("v", ">i8")])
_TID_ITEM = np.dtype([("len", ">i4"), ("b", ">u4"), ("o", ">u2")])


def _array_values(data: bytes | None, item: np.dtype[Any]) -> np.ndarray:
    """The elements of a one-dimensional PostgreSQL array in binary form (``array_send``), loop-free."""
    if not data:
        return np.zeros(0, dtype=item)
    ndim = int.from_bytes(data[0:4], "big")
    header = 12 + 8 * ndim
    return np.frombuffer(data, dtype=item, offset=header)


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


def _parse_range(row: Sequence[Any], spec: PairSpec, *, with_tid: bool) -> SideScan:
    count, nulls = int(row[0]), int(row[1])
    keys = _array_values(row[2], _INT8_ITEM)["v"].astype(np.int64)
    hashes = _array_values(row[3], _INT8_ITEM)["v"].astype(np.int64)
    tids = None
    if with_tid:
        t = _array_values(row[4], _TID_ITEM)
        tids = (t["b"].astype(np.int64) << 16) | t["o"].astype(np.int64)
    masked = {col.name: _text_array(row[5 + 2 * i], row[6 + 2 * i]) for i, col in enumerate(spec.masked)}
    return SideScan(keys, hashes, tids, masked, count, nulls)


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

    def open(self, *, read_lsn: bool = False) -> None:
        conn = connect(self.rel.dsn, what=self.rel.label)
        self.conn = conn
        if read_lsn:
            # Read before the snapshot: whatever the snapshot sees committed at or below it,
            # and a change the event path writes later carries a higher position.
            row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
            self.lsn = int(row[0]) if row else None
        if self.rel.table is not None:
            self.nullable_key = _nullable(conn, self.rel.table, [_expr(self.spec.column(k), self.side) for k in self.spec.key])
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute(
            "SELECT now(), pg_export_snapshot(), least(now(), (SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()))"
        ).fetchone()
        assert row is not None  # noqa: S101
        self.started_at, self.snapshot_id, self.complete_until = row[0], str(row[1]), row[2]

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")
                self.conn.close()
            self.conn = None

    def ranges(self) -> list[tuple[int, int | None] | None]:
        """Disjoint ctid block ranges covering the table (the last one open-ended)."""
        assert self.conn is not None  # noqa: S101
        if self.rel.table is None or self.connections == 1:
            return [None]
        row = self.conn.execute(
            "SELECT pg_relation_size(c.oid) / current_setting('block_size')::int, greatest(c.reltuples, 0) "
            "FROM pg_class c WHERE c.oid = to_regclass(%s)",
            (quote_table(self.rel.table),),
        ).fetchone()
        pages, tuples = (int(row[0]), float(row[1])) if row else (0, 0.0)
        if pages < 2 * self.connections:
            return [None]
        n = max(self.connections, math.ceil(tuples / ROWS_PER_RANGE))
        step = max(1, math.ceil(pages / n))
        bounds = list(range(0, pages, step))
        return [(lo, bounds[i + 1] if i + 1 < len(bounds) else None) for i, lo in enumerate(bounds)]

    def scan(self) -> SideScan:
        """Hash every row of this side, in parallel over ctid ranges, in the shared snapshot."""
        assert self.conn is not None  # noqa: S101
        ranges = self.ranges()
        if len(ranges) == 1:
            return self._scan_one(self.conn, ranges[0])
        results: list[SideScan | None] = [None] * len(ranges)
        todo = iter(enumerate(ranges))
        lock = threading.Lock()

        def work(conn: psycopg.Connection[Any]) -> None:
            while True:
                with lock:
                    nxt = next(todo, None)
                if nxt is None:
                    return
                results[nxt[0]] = self._scan_one(conn, nxt[1])

        workers = min(self.connections, len(ranges))
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(work, self.conn)]
            futures += [pool.submit(self._imported_worker, work) for _ in range(workers - 1)]
            for fut in futures:
                fut.result()
        return _concat([r for r in results if r is not None], self.spec)

    def _imported_worker(self, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        conn = connect(self.rel.dsn, what=self.rel.label)
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self.snapshot_id)))
            work(conn)
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            conn.close()

    def _scan_one(self, conn: psycopg.Connection[Any], tid_range: tuple[int, int | None] | None) -> SideScan:
        query = scan_sql(
            self.spec, self.side, with_tid=self.with_tid, tid_range=tid_range, key_filter=self.key_filter is not None,
            nullable_key=self.nullable_key,
        )
        params = (self.key_filter,) if self.key_filter is not None else None
        try:
            row = conn.execute(query, params, binary=True).fetchone()
        except psycopg.Error as exc:
            raise _query_error(exc, self.rel) from None
        assert row is not None  # noqa: S101 — an aggregate always returns a row
        return _parse_range(row, self.spec, with_tid=self.with_tid)

    def _predicate(self, keys: np.ndarray, tids: np.ndarray | None) -> tuple[str, str]:
        # Arrays travel as one text literal: dumping 100K Python values one by one is slower.
        if tids is not None:
            return "ctid = ANY(%s::tid[])", tid_literal(tids)
        return f"{_key_sql(self.spec, self.side)} = ANY(%s::int8[])", int8_literal(keys)

    def digests(self, keys: np.ndarray, tids: np.ndarray | None) -> dict[int, Digest]:
        """Scan key → (real key, one hash per hashed column) of the given rows: enough to tell which columns differ."""
        assert self.conn is not None  # noqa: S101
        if len(keys) == 0:
            return {}
        pred, arg = self._predicate(keys, tids)
        key_cols = ", ".join(_expr(self.spec.column(k), self.side) for k in self.spec.key)
        hashes = ", ".join(f"hash_record_extended(ROW({_expr(c, self.side)}), 0)" for c in self.spec.hashed)
        query = (
            f"SELECT {_key_sql(self.spec, self.side)}, ARRAY[{hashes}]::int8[], {key_cols} "
            f"FROM {self.rel.sql}{_where(self.rel, [pred])}"
        )
        try:
            cur = self.conn.execute(query, (arg,), binary=True)
        except psycopg.Error as exc:
            raise _query_error(exc, self.rel) from None
        return {int(r[0]): (tuple(r[2:]), tuple(r[1])) for r in cur}

    def fetch(
        self, keys: np.ndarray, tids: np.ndarray | None, *, wanted: set[Key] | None = None, rows: int = 0
    ) -> dict[Key, dict[str, Any]]:
        """Full compared rows (target column names) of the given scan keys, in this side's snapshot.

        ``wanted`` (the real keys) and ``rows`` (the side's size) let a large request read the
        whole side instead and keep only the wanted rows.
        """
        assert self.conn is not None  # noqa: S101
        if len(keys) == 0:
            return {}
        cols = ", ".join(f"{_expr(c, self.side)} AS {sql.Identifier(c.name).as_string(self.conn)}" for c in self.spec.columns)
        if wanted is not None and len(keys) > WHOLE_SIDE_SHARE * max(1, rows):
            # Most rows are wanted (a first load): one scan beats a list of ctids.
            query, params = f"SELECT {cols} FROM {self.rel.sql}{_where(self.rel)}", None
        else:
            pred, arg = self._predicate(keys, tids)
            query, params = f"SELECT {cols} FROM {self.rel.sql}{_where(self.rel, [pred])}", (arg,)
        try:
            cur = self.conn.execute(query, params, binary=True)
        except psycopg.Error as exc:
            raise _query_error(exc, self.rel) from None
        names = [c.name for c in self.spec.columns]
        out: dict[Key, dict[str, Any]] = {}
        key_at = [names.index(k) for k in self.spec.key]
        for values in cur:
            key = tuple(values[i] for i in key_at)
            if wanted is None or key in wanted:
                out[key] = dict(zip(names, values, strict=True))
        return out


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


def int8_literal(values: np.ndarray) -> str:
    """``{1,2,3}``: an int8[] literal."""
    return "{" + ",".join(map(str, values.tolist())) + "}"


def tid_literal(tids: np.ndarray) -> str:
    """``{"(0,1)","(4,2)"}``: a tid[] literal of packed ``block << 16 | offset`` values."""
    blocks, offsets = (tids >> 16).tolist(), (tids & 0xFFFF).tolist()
    return "{" + ",".join(f'"({b},{o})"' for b, o in zip(blocks, offsets, strict=True)) + "}"


def _query_error(exc: psycopg.Error, rel: Relation) -> ReconcileError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ReconcileError(f"reading {rel.label} failed: {first}", hint="check the table, its columns and their types")


# ── the comparison ──────────────────────────────────────────────────────────────────────


def _masked_source(scan: SideScan, spec: PairSpec) -> dict[str, Any]:
    """Mask each masked source column once per distinct value (vectorised over Arrow)."""
    import pyarrow as pa  # noqa: PLC0415

    out: dict[str, Any] = {}
    for col in spec.masked:
        enc = scan.masked[col.name].dictionary_encode()
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

    source: np.ndarray
    target: np.ndarray
    matched_differing: int
    # Scan key → masked columns that differ, for matched rows (masked values never reach the server's hash).
    masked_changes: dict[int, tuple[str, ...]] = field(default_factory=dict)


def _duplicate(sorted_keys: np.ndarray) -> bool:
    return bool(len(sorted_keys) > 1 and np.any(sorted_keys[1:] == sorted_keys[:-1]))


def join_scans(src: SideScan, tgt: SideScan, spec: PairSpec, *, check_duplicates: tuple[bool, bool] = (True, True)) -> Found:
    """Merge the two scans on the key (sort + binary search) and keep the rows that differ.

    Measured against DuckDB's hash join over the same arrays (``join_scans_duckdb``): rows
    arrive from PostgreSQL nearly in key order, so sorting them is cheap and this is faster.
    """
    so = np.argsort(src.keys, kind="stable")
    to = np.argsort(tgt.keys, kind="stable")
    sk, tk = src.keys[so], tgt.keys[to]
    for side, keys, check in (("source", sk, check_duplicates[0]), ("target", tk, check_duplicates[1])):
        if check and _duplicate(keys):
            rel = spec.source if side == "source" else spec.target
            msg = f"duplicate keys in {rel.label}: key {list(spec.key)} is not unique"
            raise ReconcileError(msg, hint="give --key columns that identify one row")
    if len(tk) == 0 or len(sk) == 0:
        return Found(so, to, 0)
    pos = np.minimum(np.searchsorted(tk, sk), len(tk) - 1)
    found = tk[pos] == sk
    matched_s = so[found]  # scan positions of matched source rows
    matched_t = to[pos[found]]
    differ = src.hashes[matched_s] != tgt.hashes[matched_t]
    flags: list[np.ndarray] = []
    if spec.masked:
        masked = _masked_source(src, spec)
        for col in spec.masked:
            flags.append(_distinct(masked[col.name].take(matched_s), tgt.masked[col.name].take(matched_t)))
            differ |= flags[-1]
    t_matched = np.zeros(len(tk), dtype=bool)
    t_matched[pos[found]] = True
    source = np.concatenate([so[~found], matched_s[differ]])
    target = np.concatenate([to[~t_matched], matched_t[differ]])
    masked_changes: dict[int, tuple[str, ...]] = {}
    if flags:
        names = [c.name for c in spec.masked]
        grid = np.stack(flags, axis=1)
        hit = grid.any(axis=1)  # only rows where a masked column differs get an entry
        keys = src.keys[matched_s[hit]].tolist()
        rows = grid[hit].tolist()
        masked_changes = {k: tuple(n for n, h in zip(names, row, strict=True) if h) for k, row in zip(keys, rows, strict=True)}
    return Found(source, target, int(np.count_nonzero(differ)), masked_changes)


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


def diff_pair(
    spec: PairSpec,
    *,
    max_connections: int,
    schema: SchemaDiff | None = None,
    mask_row: Callable[[Mapping[str, Any]], dict[str, Any]] = dict,
    stamp: bool = False,
    unique: tuple[bool, bool] = (False, False),
    restrict_target: bool = False,
    keep_rows: bool = False,
    on_step: Callable[[str], None] | None = None,
    note: str = "",
) -> DiffOutcome:
    """Compare the two relations of ``spec``; keep the masked source rows a fix would write.

    ``stamp`` reads the source's WAL position before its snapshot (batch fixes carry it).
    ``unique`` says which sides have a unique index on the key (no duplicate check needed).
    ``restrict_target`` compares only the target rows whose keys the source has (incrementals:
    the source is a window, so the target's other rows are not target-only).
    ``keep_rows`` fetches the masked source rows of every source-only and changed key (a fix
    writes them); without it only keys and per-column hashes of the differing rows travel.
    """
    started = time.perf_counter()
    step = on_step or (lambda _msg: None)
    per_side = max(1, max_connections // 2)
    src, tgt = Side(spec, "source", per_side), Side(spec, "target", per_side)
    try:
        step("snapshot")
        with ThreadPoolExecutor(2) as pool:
            opened = [pool.submit(src.open, read_lsn=stamp), pool.submit(tgt.open)]
            for fut in opened:
                fut.result()
            step("hash")
            if restrict_target:
                s_scan = src.scan()
                tgt.key_filter = int8_literal(s_scan.keys)
                t_scan = tgt.scan()
            else:
                scans = [pool.submit(src.scan), pool.submit(tgt.scan)]
                s_scan, t_scan = (f.result() for f in scans)
        step("join")
        found = join_scans(s_scan, t_scan, spec, check_duplicates=(not unique[0], not unique[1]))
        step("fetch")
        with ThreadPoolExecutor(2) as pool:
            fs = pool.submit(src.digests, s_scan.keys[found.source], _take(s_scan.tids, found.source))
            ft = pool.submit(tgt.digests, t_scan.keys[found.target], _take(t_scan.tids, found.target))
            s_dig, t_dig = fs.result(), ft.result()
        hashed = [c.name for c in spec.hashed]
        source_only, target_only, changed, unchanged_candidates, by_key = classify_digests(
            s_dig, t_dig, hashed, found.masked_changes
        )
        # Rows matched on the key with equal hashes never left PostgreSQL: they are unchanged.
        matched = s_scan.rows - s_scan.null_keys - (len(found.source) - found.matched_differing)
        unchanged = matched - found.matched_differing + unchanged_candidates
        fix_rows: dict[Key, dict[str, Any]] = {}
        if keep_rows:
            step("rows")
            real = {*source_only, *(c.key for c in changed)}
            wanted = np.fromiter((by_key[k] for k in real), dtype=np.int64, count=len(real))
            positions = found.source[np.isin(s_scan.keys[found.source], wanted)]
            rows = src.fetch(s_scan.keys[positions], _take(s_scan.tids, positions), wanted=real, rows=s_scan.rows)
            fix_rows = {k: mask_row(r) for k, r in rows.items()}
        diff = TableDiff(
            name=spec.name,
            source=spec.source.label,
            target=spec.target.label,
            key=spec.key,
            schema=schema or SchemaDiff(),
            source_rows=s_scan.rows,
            target_rows=t_scan.rows,
            source_only=tuple(source_only),
            target_only=tuple(target_only),
            changed=tuple(changed),
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


@contextlib.contextmanager
def snapshot_connection(dsn: str, *, what: str) -> Iterator[psycopg.Connection[Any]]:
    """A short-lived connection for catalog look-ups."""
    conn = connect(dsn, what=what)
    try:
        yield conn
    finally:
        conn.close()
