"""One comparison of a ``PairSpec``, wired from its parts: PostgreSQL hashes, DuckDB joins out of core.

How ``compare_pair`` runs (each step measured against alternatives in ``bench/bench_reconcile.py``):

1. Snapshot (``reconcile.side``): the source's WAL position is read first (every fix is stamped
   with it, so a row the event path wrote later is never overwritten); then each side opens a
   REPEATABLE READ transaction and exports its snapshot, which up to ``max_connections // 2``
   connections per side import to scan disjoint parts in parallel.
2. Fingerprints (``reconcile.fingerprints``): two sides with one integer key, unique and NOT
   NULL on both, and no masked columns, are compared by row count and XOR of row hashes first
   (a key range in the middle goes first); equal fingerprints end the comparison.
3. Hash and load (``reconcile.scan_sql``, ``reconcile.packed``, ``reconcile.store``): PostgreSQL
   hashes each row (each column by its type's hash function, type-aware) and ships packed (key,
   hash[, ctid]) records per part; each part becomes Arrow columns kept by the store (opened on
   its own thread meanwhile), or appended to the side's DuckDB table past the Arrow share.
   Masked columns travel as text and are masked before they are kept. DuckDB holds the tables
   within ``EngineLimits.memory_limit`` and spills the rest to disk.
4. Join (``DiffStore.differing``): a full outer join on the key in DuckDB; only the differing
   rows come back (``on_sides`` may keep both tables as Parquet before it: ``reconcile.snapshots``).
5. Fetch and classify (``Side.detail``, ``reconcile.classify``): for the differing rows only,
   each side returns one hash per column and the real keys, which names the changed columns
   (an integer key's source-only and target-only rows need nothing read: their keys are known).
6. For a fix, the source side's snapshot stays open: ``reconcile.fix_rows`` reads the rows to
   write from it through a server-side cursor, a batch at a time, while they are written.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg

from reconcile.classify import Classified, Detail, classify
from reconcile.fingerprints import PROBE_ROWS, Fingerprint, fingerprint_first, probe_range
from reconcile.fix_rows import FixRow, FixRows
from reconcile.model import KeyArray, PairSpec, SchemaDiff, TableDiff
from reconcile.packed import SideScan
from reconcile.scan_sql import int8_literal
from reconcile.side import Side

if TYPE_CHECKING:
    from reconcile.store import DiffStore, EngineLimits, Found


@dataclass(frozen=True)
class Comparison:
    """A diff plus what a fix needs: the source rows to write, read from the diff's snapshot on demand.

    With ``fix_rows`` the source snapshot stays open until ``close`` (or the comparison is dropped).
    """

    diff: TableDiff
    fix_rows: FixRows | Sequence[FixRow] | None = None  # a sequence: rows built in memory (tests)
    source_ts: datetime | None = None  # when the source snapshot was taken (a fix stamps its rows with it)
    # No source row committed after this instant can be missing from the snapshot (an incremental's next watermark).
    complete_until: datetime | None = None

    def close(self) -> None:
        if isinstance(self.fix_rows, FixRows):
            self.fix_rows.close()

    def __enter__(self) -> Comparison:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


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


@bulk_objects()
def compare_pair(
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
    limits: EngineLimits | None = None,
    on_sides: Callable[[DiffStore], None] | None = None,
    column_hashes: bool = False,
) -> Comparison:
    """Compare the two relations of ``spec``; keep the masked source rows a fix would write.

    ``stamp`` reads the source's WAL position before its snapshot (batch fixes carry it).
    ``unique`` says which sides have a unique index on the key (no duplicate check needed).
    ``restrict_target`` compares only the target rows whose keys the source has (incrementals:
    the source is a window, so the target's other rows are not target-only).
    ``keep_rows`` keeps the source snapshot open for a fix: ``Comparison.fix_rows`` reads the
    rows of every source-only and changed key from it, batch by batch (close the comparison
    when done). Without it only keys and hashes travel.
    ``conns`` are idle connections to the source and the target to take the snapshots on
    (closed when the diff ends). ``limits`` bound DuckDB's memory (default: the settings');
    ``on_sides`` sees both loaded sides before the store is dropped (snapshots are kept there);
    ``column_hashes`` ships one hash per clear column rather than per row (a kept snapshot's).
    """
    started = time.perf_counter()
    fix_rows: FixRows | None = None
    step = on_step or (lambda _msg: None)
    per_side = max(1, max_connections // 2)
    src, tgt = Side(spec, "source", per_side), Side(spec, "target", per_side)
    # An incremental's window holds the rows updated since its watermark; when the event path
    # lagged, most of them differ. Their column hashes cost the scan about 15% more and spare
    # reading every differing row again to name its changed columns.
    # A kept snapshot ships them too: `reconcile changes` then names the changed columns.
    src.per_column = tgt.per_column = restrict_target or column_hashes
    store: DiffStore | None = None
    try:
        step("snapshot")
        with ThreadPoolExecutor(2) as pool:
            given = conns or (None, None)
            opened = [pool.submit(src.open, read_lsn=stamp, conn=given[0]), pool.submit(tgt.open, conn=given[1])]
            for fut in opened:
                fut.result()
            # A snapshot to keep needs every row: equal fingerprints would end the diff without them.
            nullable = (src.nullable_key, tgt.nullable_key)
            if not restrict_target and on_sides is None and fingerprint_first(spec, unique, nullable):
                step("fingerprint")
                same = same_fingerprints(src, tgt, pool)
                if same is not None:
                    diff = _equal_diff(spec, same, schema=schema, src=src, started=started, note=note)
                    return Comparison(diff, None, src.started_at, src.complete_until)
            step("hash")
            store, s_scan, t_scan = load_sides(src, tgt, pool, limits=limits, restrict_target=restrict_target)
        store.check_keys((not unique[0], not unique[1]))
        # Snapshots are kept before the join: the join's differing rows (a first load: every row)
        # are not yet held while DuckDB writes the Parquet files.
        if on_sides is not None:
            on_sides(store)
        step("join")
        found = store.differing(check_duplicates=(False, False), keep_masked=False)
        store.close()
        store = None
        step("fetch")
        with ThreadPoolExecutor(2) as pool:
            fs = _detail(pool, src, found, source=True, rows=s_scan.rows)
            ft = _detail(pool, tgt, found, source=False, rows=t_scan.rows)
            s_detail, t_detail = fs.result(), ft.result()
        cls = classify(
            s_detail, t_detail, [c.name for c in spec.hashed], [c.name for c in spec.masked], found.masked_flags
        )
        # Rows matched on the key with equal hashes never left DuckDB: they are unchanged.
        matched = s_scan.rows - s_scan.null_keys - (len(found.source_keys) - found.matched_differing)
        unchanged = matched - found.matched_differing + cls.unchanged
        if keep_rows:
            fix_rows = _rows_to_write(src, found, s_detail, cls, side_rows=s_scan.rows)
        diff = TableDiff(
            name=spec.name,
            source=spec.source.label,
            target=spec.target.label,
            key=spec.key,
            schema=schema or SchemaDiff(),
            source_rows=s_scan.rows,
            target_rows=t_scan.rows,
            source_only=_kept(cls.source_only),
            target_only=_kept(cls.target_only),
            changed=tuple(cls.changed),
            unchanged=unchanged,
            source_null_keys=s_scan.null_keys,
            target_null_keys=t_scan.null_keys,
            seconds=time.perf_counter() - started,
            snapshot_lsn=src.lsn,
            note=note,
        )
        return Comparison(diff, fix_rows, src.started_at, src.complete_until)
    finally:
        if store is not None:
            store.close()
        if fix_rows is None:
            src.close()
        else:
            src.close_workers()  # the fix reads on the snapshot's own connection
        tgt.close()


def _kept(keys: Sequence[Any]) -> Sequence[Any]:
    """Side-only keys as a diff keeps them: a ``KeyArray`` stays one (a first load's 10M keys as
    tuples would take ~800 MB), any other sequence becomes a tuple."""
    return keys if isinstance(keys, KeyArray) else tuple(keys)


def _rows_to_write(src: Side, found: Found, detail: Detail, cls: Classified, *, side_rows: int) -> FixRows:
    """The source-only and changed rows a fix writes, read later from ``src``'s open snapshot."""
    tids = found.source_tids[cls.to_write] if found.source_tids is not None else None
    if isinstance(cls.source_only, KeyArray) and not cls.changed and tids is None:
        keys = cls.source_only.values  # sorted already (a first load): shared, not copied
    else:
        keys = detail.scan_keys[cls.to_write]
    return FixRows(src, keys, tids, new=len(cls.source_only), side_rows=side_rows)


def _detail(pool: ThreadPoolExecutor, side: Side, found: Found, *, source: bool, rows: int) -> Future[Detail]:
    """The differing rows of one side, read again where needed (on ``pool``).

    An integer key is its own real key: only the matched rows that differ need their column
    hashes (unless the scan shipped them), the side-only ones nothing at all.
    """
    keys = found.source_keys if source else found.target_keys
    tids = found.source_tids if source else found.target_tids
    hashes = found.source_hashes if source else found.target_hashes
    only = len(keys) - found.matched_differing  # side-only rows come first, then the matched ones
    if not side.spec.integer_key or hashes is not None:
        return pool.submit(side.detail, keys, tids, hashes=hashes, offset=only, rows=rows)

    def matched() -> Detail:
        width = len(side.spec.hashed)
        got = side.detail(keys[only:], None, rows=rows).hashes if found.matched_differing else np.zeros((0, width))
        return Detail(keys, KeyArray(keys), got, only)

    return pool.submit(matched)


def open_store(spec: PairSpec, *, with_tid: bool, per_column: bool, limits: EngineLimits | None) -> DiffStore:
    """A comparison's DuckDB store, within ``limits`` (default: the settings')."""
    # Imported here: ``load_sides`` opens the store while PostgreSQL hashes the first parts.
    from reconcile.store import DiffStore, EngineLimits  # noqa: PLC0415

    if limits is None:
        from smartsync.core.settings import load_settings  # noqa: PLC0415

        limits = EngineLimits.of(load_settings(needs=()))
    return DiffStore(spec, with_tid=with_tid, per_column=per_column, limits=limits)


def load_sides(
    src: Side, tgt: Side, pool: ThreadPoolExecutor, *, limits: EngineLimits | None, restrict_target: bool
) -> tuple[DiffStore, SideScan, SideScan]:
    """Scan both sides part by part into a new store; the store and the scans' row and null-key counts.

    The store opens on a thread of its own once the scans have started: DuckDB, Arrow and the
    settings' pydantic models take 0.2-0.3 s to import, which PostgreSQL spends hashing the
    first parts rather than waiting (a 1M-row diff on two cores: about 0.15 s sooner). The
    first part to arrive waits for it. ``restrict_target``: the source (a window) goes first,
    and the target is read for its keys only.
    """
    with ThreadPoolExecutor(1) as opener:
        opening = opener.submit(open_store, src.spec, with_tid=src.with_tid, per_column=src.per_column, limits=limits)

        def into(side: str) -> Callable[[SideScan], None]:
            return lambda part: opening.result().append(side, part)

        scans: list[Future[SideScan]] = []
        try:
            if restrict_target:
                s_scan = src.scan(into=into("source"))
                s_keys = opening.result().keys("source")
                tgt.key_filter, tgt.key_filter_rows = int8_literal(s_keys), len(s_keys)
                t_scan = tgt.scan(into=into("target"))
            else:
                scans = [pool.submit(src.scan, into("source")), pool.submit(tgt.scan, into("target"))]
                s_scan, t_scan = scans[0].result(), scans[1].result()
        except BaseException:
            wait(scans)  # the other side's scan may still be appending
            if opening.exception() is None:  # opened: closed here, as nobody else holds it
                opening.result().close()
            raise
    store = opening.result()
    store.trim()  # the parts' decoding buffers are free now
    return store, s_scan, t_scan


def same_fingerprints(src: Side, tgt: Side, pool: ThreadPoolExecutor) -> Fingerprint | None:
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
        name=spec.name,
        source=spec.source.label,
        target=spec.target.label,
        key=spec.key,
        schema=schema or SchemaDiff(),
        source_rows=same.rows,
        target_rows=same.rows,
        source_only=(),
        target_only=(),
        changed=(),
        unchanged=same.rows,
        seconds=time.perf_counter() - started,
        snapshot_lsn=src.lsn,
        note=note,
    )
