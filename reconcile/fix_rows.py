"""The rows a fix writes, read from the source snapshot the diff saw, batch by batch.

A fix writes the source's version of every source-only and changed row. They are not kept
from the diff: a first load of 10M rows would hold every clear value in memory. The source
side's snapshot transaction stays open after the diff (``Side``'s main connection), and the
rows are read from it through a server-side cursor, ``batch_rows`` at a time, masked as they
come. The fix is stamped with the snapshot's source position (``reconcile.apply``): the rows
it writes are exactly the rows of that snapshot, so the event path's later changes (higher
positions) still win over them.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from masking import masker_for
from reconcile.connections import query_error
from reconcile.model import Key, PairSpec
from reconcile.scan_sql import column_sql, int8_literal, key_null_sql, key_sql, tid_literal, where_sql
from reconcile.side import WHOLE_SIDE_SHARE, Side
from smartsync.core.catalog import MaskRule

# Rows fetched from the server-side cursor at a time (the fix writes them in batches of this size).
BATCH_ROWS = 10_000
# Keys (or ctids) per listed query: the literal stays a few MB.
KEYS_PER_QUERY = 500_000


@dataclass(frozen=True)
class FixRow:
    key: Key  # the real key (target key column order)
    row: dict[str, Any]  # target column → value, masked columns masked
    new: bool  # source-only (an insert); else a changed row


def fix_select(spec: PairSpec) -> list[str]:
    """What a fix reads per row: the scan key, the clear columns (``spec.hashed`` order), the masked ones as text."""
    cols = [f"{key_sql(spec, 'source')} AS _k"]
    cols += [column_sql(c, "source") for c in spec.hashed]
    cols += [f"({column_sql(c, 'source')})::text" for c in spec.masked]
    return cols


def fix_queries(spec: PairSpec, keys: np.ndarray, tids: np.ndarray | None, *, whole_side: bool) -> list[str]:
    """The queries that read the rows to write: the whole side (filtered on the client), or the keys in chunks."""
    rel, select = spec.source, ", ".join(fix_select(spec))
    if whole_side:
        # Rows without a key were never asked for.
        has_key = f"NOT ({key_null_sql(spec, 'source')})"
        return [f"SELECT {select} FROM {rel.sql}{where_sql(rel, [has_key])}"]
    queries = []
    for lo in range(0, len(keys), KEYS_PER_QUERY):
        hi = lo + KEYS_PER_QUERY
        if tids is not None:
            pred = f"ctid = ANY({tid_literal(tids[lo:hi])})"
        else:
            pred = f"{key_sql(spec, 'source')} = ANY({int8_literal(keys[lo:hi])})"
        queries.append(f"SELECT {select} FROM {rel.sql}{where_sql(rel, [pred])}")
    return queries


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    found: np.ndarray = sorted_set[at] == values
    return found


class FixRows:
    """The source rows a fix writes (source-only and changed), streamed from the diff's source snapshot.

    Owns the source ``Side`` (its snapshot transaction) until ``close``. Iterating reads the
    rows through a server-side cursor ``batch_rows`` at a time; only one batch exists at once.
    ``keys`` (scan keys) and ``tids`` (when the side ships them) name the rows; the first
    ``new`` of them are source-only.
    """

    def __init__(
        self,
        side: Side,
        keys: np.ndarray,
        tids: np.ndarray | None,
        *,
        new: int,
        side_rows: int,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.spec = side.spec
        self._side: Side | None = side
        self._count = len(keys)
        self._whole = side.key_filter is None and len(keys) > WHOLE_SIDE_SHARE * max(1, side_rows)
        # Sorted arrays only, and one when every row is new (a first load): 8 bytes a key.
        self._new = keys if new == len(keys) else np.sort(keys[:new])
        self._wanted: np.ndarray | None = None
        self._tids: np.ndarray | None = None
        if self._whole:
            keys.sort()  # ``keys`` is this object's own (the caller's fancy-indexed copy)
            self._keys, self._tids, self._wanted = np.zeros(0, dtype=np.int64), None, keys
        else:
            self._new = self._new.copy() if self._new is keys else self._new
            self._new.sort()
            self._keys, self._tids, self._wanted = keys, tids, None
        self.batch_rows = batch_rows
        # A comparison dropped without ``close`` still ends its snapshot transaction.
        self._finalizer = weakref.finalize(self, side.close)

    def __len__(self) -> int:
        return self._count

    def holds(self, conn: psycopg.Connection[Any]) -> bool:
        """Whether ``conn`` is the snapshot connection these rows are read on (its owner must not close it)."""
        return self._side is not None and self._side.conn is conn

    def close(self) -> None:
        self._finalizer()
        self._side = None

    def __iter__(self) -> Iterator[FixRow]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[FixRow]]:
        """The rows to write, ``batch_rows`` at a time, in the order the source returns them."""
        if self._count == 0:
            return
        side = self._side
        if side is None or side.conn is None:
            msg = "the fix's rows were read after their comparison was closed"
            raise RuntimeError(msg)
        conn = side.conn
        for n, query in enumerate(fix_queries(self.spec, self._keys, self._tids, whole_side=self._whole)):
            # A named cursor: PostgreSQL keeps the result and sends one batch per fetch, inside
            # the snapshot transaction the diff read (the connection's open REPEATABLE READ).
            try:
                with conn.cursor(name=f"smartsync_fix_{n}") as cur:
                    cur.execute(query)
                    while rows := cur.fetchmany(self.batch_rows):
                        yield fix_batch(self.spec, rows, wanted=self._wanted, new=self._new)
            except psycopg.Error as exc:
                raise query_error(exc, self.spec.source) from None


def fix_batch(
    spec: PairSpec, rows: list[tuple[Any, ...]], *, wanted: np.ndarray | None, new: np.ndarray
) -> list[FixRow]:
    """One fetched batch (``fix_select`` rows) → the rows to write, masked columns masked as the diff masked them.

    ``wanted`` (sorted scan keys) keeps only those rows (a whole-side read); ``new`` (sorted)
    are the source-only scan keys.
    """
    scan_keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    keep = _member(scan_keys, wanted) if wanted is not None else np.ones(len(rows), dtype=bool)
    is_new = _member(scan_keys, new)
    names = [c.name for c in spec.hashed]
    key_at = [names.index(k) for k in spec.key]
    names += [c.name for c in spec.masked]
    n_clear = len(spec.hashed)
    masked = [_masked(c.mask, [r[1 + n_clear + i] for r in rows]) for i, c in enumerate(spec.masked)]
    out: list[FixRow] = []
    for i in np.flatnonzero(keep).tolist():
        values = rows[i][1 : 1 + n_clear]
        extra = tuple(col[i] for col in masked)
        key = tuple(values[j] for j in key_at)
        out.append(FixRow(key, dict(zip(names, itertools.chain(values, extra), strict=True)), bool(is_new[i])))
    return out


def _masked(rule: MaskRule, values: list[str | None]) -> list[Any]:
    """One masked column of a batch, masked once per distinct value; NULL stays NULL (as in the diff)."""
    fn = masker_for(rule)
    done: dict[str, Any] = {}
    out: list[Any] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if v not in done:
            done[v] = fn(v)
        out.append(done[v])
    return out
