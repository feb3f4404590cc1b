"""One side of a comparison in its snapshot: parallel hash scans, fingerprints, and re-reading differing rows.

A side opens a REPEATABLE READ transaction and exports its snapshot; up to ``connections``
connections import it and scan disjoint parts of the table in parallel (ctid block ranges; a
filtered side splits by key instead), so all of them see one consistent state. The SQL comes
from ``reconcile.scan_sql``, the packed answers are decoded by ``reconcile.packed``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import psycopg
from psycopg import sql

from reconcile.classify import Detail
from reconcile.columns import quote_table
from reconcile.connections import connect, key_is_nullable, query_error
from reconcile.fingerprints import Fingerprint
from reconcile.model import Key, KeyArray, PairSpec
from reconcile.packed import KEY_FIELDS, TID_FIELDS, SideScan, concat_scans, parse_scan, positions_of, unpack_tids
from reconcile.scan_sql import (
    Part,
    column_hashes_sql,
    column_sql,
    fingerprint_sql,
    int8_literal,
    key_null_sql,
    key_sql,
    scan_sql,
    tid_literal,
    where_sql,
)

T = TypeVar("T")
# Rows per packed answer of a re-read: far below PostgreSQL's 1 GB value limit.
ROWS_PER_RANGE = 1_000_000
# Rows per hashed part of a scan: big enough that round trips do not matter, small enough that
# the parts in flight (up to two per connection: one arriving, one being kept) stay a few tens
# of MB. With 1M-row parts a 10M-row diff held four 16-48 MB parts at once. Wide records (a
# hash per column, masked text) get fewer rows: about PART_BYTES of records per part.
PART_ROWS = 250_000
PART_BYTES = 8 * 1024 * 1024
MASKED_BYTES = 40  # a masked value as it travels (text and its length), an estimate
# Above this share of a side's rows, a fix reads the whole side rather than a ctid list.
WHOLE_SIDE_SHARE = 0.3


# The positions a fix may be stamped with, read before the snapshot: the current one, and one
# below every change not delivered yet. The event path orders a change by its own WAL position,
# and a transaction still open at the snapshot may have written its changes long before: the
# current position would mask them once they are delivered (a stale fix, until the next run).
# A logical slot of the database (Debezium's) keeps its restart position at or below the first
# change of every transaction it has not delivered; minus one, as the sink's guard is strict.
STAMP_SQL = (
    "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn, least(pg_current_wal_lsn(), (SELECT min(restart_lsn) "
    "FROM pg_replication_slots WHERE database = current_database() AND slot_type = 'logical')) - '0/0'::pg_lsn - 1"
)
# Whether a transaction that may write this database was open when the snapshot was taken (run
# in the snapshot): one still running in another database cannot touch it, one that ended since
# might have, so it counts.
OPEN_WRITERS_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS x(xid) "
    "WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname IS DISTINCT FROM current_database() "
    "AND a.backend_xid = ((x.xid::text::numeric % 4294967296)::text)::xid))"
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
        stamps = conn.execute(STAMP_SQL).fetchone() if read_lsn else None
        if self.rel.table is not None:
            self.nullable_key = key_is_nullable(
                conn, self.rel.table, [column_sql(self.spec.column(k), self.side) for k in self.spec.key]
            )
        self._no_parallel_workers(conn)
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        row = conn.execute(
            "SELECT now(), pg_export_snapshot(), least(now(), (SELECT min(xact_start) FROM pg_stat_activity "
            "WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()))"
        ).fetchone()
        assert row is not None  # noqa: S101
        self.started_at, self.snapshot_id, self.complete_until = row[0], str(row[1]), row[2]
        if stamps is not None:
            # Open writers: the lower stamp (a later fix can then be skipped as stale and waits
            # for the next run; a masked event would not be seen again). None: the current one.
            open_writers = conn.execute(OPEN_WRITERS_SQL).fetchone()
            self.lsn = int(stamps[1] if open_writers and open_writers[0] else stamps[0])

    def _no_parallel_workers(self, conn: psycopg.Connection[Any]) -> None:
        # The side already spreads its work over its connections (and the other side runs at
        # the same time): parallel workers on top only crowd the CPUs (measured: slower).
        if self.connections > 1:
            conn.execute("SET max_parallel_workers_per_gather = 0")

    def close_workers(self) -> None:
        """Close the connections that imported the snapshot; the main one keeps it open."""
        for conn in self.workers:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            conn.close()
        self.workers = []

    def close(self) -> None:
        self.close_workers()
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")
                self.conn.close()
            self.conn = None

    def parts(self) -> list[Part | None]:
        """Disjoint parts covering the side, one query each, about ``part_rows()`` rows per part.

        A whole table is read in parts even on one connection: parts bound what is in flight.

        A whole table splits into ctid block ranges. A filtered one (an incremental's window, or
        the target restricted to the window's keys) splits by key instead, one share per
        connection, when that keeps the parts small enough: its rows can sit in a few blocks
        (updated rows move to the end of the table), and every part would wait for the range
        that holds them. Each share scans the table but hashes only its own rows.
        """
        if self.rel.table is None:
            return [None]
        pages, tuples = self.size()
        if pages < 2 * self.connections:
            return [None]
        if self.rel.where or self.key_filter is not None:
            if self.connections == 1:
                return [None]
            expected = self.key_filter_rows if self.key_filter is not None else self._estimate_rows()
            # Each share reads the table once: worth it while one share per connection is enough.
            if expected <= self.connections * ROWS_PER_RANGE:
                return [Part(share=(i, self.connections)) for i in range(self.connections)]
        n = max(self.connections, math.ceil(tuples / self.part_rows()))
        step = max(1, math.ceil(pages / n))
        bounds = list(range(0, pages, step))
        return [Part(blocks=(lo, bounds[i + 1] if i + 1 < len(bounds) else None)) for i, lo in enumerate(bounds)]

    def part_rows(self) -> int:
        """Rows per part: ``PART_ROWS``, fewer for wide records (at least 20,000)."""
        width = 8 + 8 * (len(self.spec.hashed) if self.per_column else 1) + (6 if self.with_tid else 0)
        width += MASKED_BYTES * len(self.spec.masked)
        return max(20_000, min(PART_ROWS, PART_BYTES // width))

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
        k = column_sql(self.spec.column(self.spec.key[0]), self.side)  # uncast: its index answers
        try:
            row = self.conn.execute(f"SELECT min({k}), max({k}) FROM {self.rel.sql}{where_sql(self.rel)}").fetchone()
        except psycopg.Error as exc:
            raise query_error(exc, self.rel) from None
        return (int(row[0]), int(row[1])) if row and row[0] is not None else None

    def _estimate_rows(self) -> float:
        """The planner's estimate of the rows the side's filter keeps (no rows are read)."""
        assert self.conn is not None  # noqa: S101
        row = self.conn.execute(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {self.rel.sql}{where_sql(self.rel)}").fetchone()
        try:
            return float(row[0][0]["Plan"]["Plan Rows"]) if row else math.inf
        except (KeyError, IndexError, TypeError, ValueError):
            return math.inf

    def scan(self, into: Callable[[SideScan], None] | None = None) -> SideScan:
        """Hash every row of this side, in parallel over its parts, in the shared snapshot.

        With ``into``, each part is handed over as it arrives (appended to the comparison's
        DuckDB table) and dropped: the result then holds the counts only, never the rows.
        """
        if into is None:
            return concat_scans(self._each_part(self.parts(), self._scan_one), self.spec)

        def load(conn: psycopg.Connection[Any], part: Part | None) -> tuple[int, int]:
            got = self._scan_one(conn, part)
            into(got)
            return got.rows, got.null_keys

        counts = self._each_part(self.parts(), load)
        empty = np.zeros(0, dtype=np.int64)
        return SideScan(empty, empty, None, {}, sum(r for r, _ in counts), sum(n for _, n in counts))

    def fingerprint(self, key_range: tuple[int, int] | None = None) -> Fingerprint:
        """Row count and XOR of the row hashes of this side (or of its keys in ``key_range``)."""
        if key_range is not None:
            assert self.conn is not None  # noqa: S101
            return self._fingerprint_one(self.conn, None, key_range)
        parts = self._each_part(self.parts(), lambda conn, part: self._fingerprint_one(conn, part, None))
        return Fingerprint(sum(p.rows for p in parts), functools.reduce(operator.xor, (p.xor for p in parts), 0))

    def _each_part(
        self, parts: Sequence[Part | None], run: Callable[[psycopg.Connection[Any], Part | None], T]
    ) -> list[T]:
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
            raise query_error(exc, self.rel) from None
        assert row is not None  # noqa: S101 — an aggregate always returns a row
        return Fingerprint(int(row[0]), int(row[1] or 0))

    def _scan_one(self, conn: psycopg.Connection[Any], part: Part | None) -> SideScan:
        query = scan_sql(
            self.spec,
            self.side,
            with_tid=self.with_tid,
            part=part,
            key_filter=self.key_filter,
            nullable_key=self.nullable_key,
            per_column=self.per_column,
        )
        try:
            row = conn.execute(query, binary=True).fetchone()
        except psycopg.Error as exc:
            raise query_error(exc, self.rel) from None
        assert row is not None  # noqa: S101 — an aggregate always returns a row
        return parse_scan(row, self.spec, with_tid=self.with_tid, per_column=self.per_column)

    def _predicate(self, keys: np.ndarray, tids: np.ndarray | None) -> str:
        if tids is not None:
            return f"ctid = ANY({tid_literal(tids)})"
        return f"{key_sql(self.spec, self.side)} = ANY({int8_literal(keys)})"

    def detail(
        self,
        keys: np.ndarray,
        tids: np.ndarray | None,
        *,
        hashes: np.ndarray | None = None,
        offset: int = 0,
        rows: int = 0,
    ) -> Detail:
        """Per-column hashes and real keys of the given rows (scan keys, and ctids when shipped), in that order.

        ``hashes`` are the rows' column hashes when the scan shipped them already (from row
        ``offset`` on: the rows before it are side-only and need none). When more
        than ``WHOLE_SIDE_SHARE`` of the side's ``rows`` are asked for, one scan of the whole
        side beats a list of keys. The values a fix writes are read later, batch by batch
        (``reconcile.fix_rows``).
        """
        assert self.conn is not None  # noqa: S101
        spec, side = self.spec, self.side
        hashed = spec.hashed
        if len(keys) == 0:
            return Detail(keys, KeyArray(keys) if spec.integer_key else [], np.zeros((0, len(hashed)), dtype=np.int64))
        if hashes is not None and spec.integer_key:
            return Detail(keys, KeyArray(keys), hashes, offset)  # nothing left to read
        ident = "tidsend(ctid)" if tids is not None else f"int8send({key_sql(spec, side)})"
        packed = ident if hashes is not None else f"{ident} || {column_hashes_sql(spec, side)}"
        n_hashes = 0 if hashes is not None else len(hashed)
        item = np.dtype([*(TID_FIELDS if tids is not None else KEY_FIELDS), ("h", ">i8", (n_hashes,))])
        if self.key_filter is None and len(keys) > WHOLE_SIDE_SHARE * max(1, rows):
            # Rows without a key were never asked for (and would pack to NULL).
            where = where_sql(self.rel, [f"NOT ({key_null_sql(spec, side)})"])
        else:
            where = where_sql(self.rel, [self._predicate(keys, tids)])
        # The real key is the scan key for one integer column; else the key columns' values.
        key_cols = [] if spec.integer_key else [column_sql(spec.column(k), side) for k in spec.key]
        # One packed value for what fits comfortably in one PostgreSQL value, else one per row.
        aggregate = len(keys) <= ROWS_PER_RANGE
        if aggregate:
            aggs = "".join(f", array_agg({k})" for k in key_cols)
            query = f"SELECT string_agg({packed}, ''::bytea){aggs} FROM {self.rel.sql}{where}"
        else:
            query = f"SELECT {', '.join([packed, *key_cols])} FROM {self.rel.sql}{where}"
        try:
            fetched = self.conn.execute(query, binary=True).fetchall()
        except psycopg.Error as exc:
            raise query_error(exc, self.rel) from None
        if aggregate:
            rec = np.frombuffer(fetched[0][0] or b"", dtype=item)
            real: list[Key] = list(zip(*fetched[0][1:], strict=True)) if key_cols and len(rec) else []
        else:
            rec = np.frombuffer(b"".join(r[0] for r in fetched), dtype=item)
            real = [r[1:] for r in fetched]
        at = positions_of(
            unpack_tids(rec) if tids is not None else rec["k"].astype(np.int64),
            tids if tids is not None else keys,
            self.rel,
        )
        if hashes is None:
            hashes, offset = rec["h"][at].astype(np.int64), 0
        if not key_cols:
            return Detail(keys, KeyArray(keys), hashes, offset)
        return Detail(keys, [real[i] for i in at.tolist()], hashes, offset)
