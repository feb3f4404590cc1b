"""One comparison of a ``PairSpec``, wired from its parts: PostgreSQL hashes, numpy merges in memory.

How ``compare_pair`` runs (each step measured against alternatives in ``bench/bench_reconcile.py``):

1. Snapshot (``reconcile.side``): the source's WAL position is read first (every fix is stamped
   with it, so a row the event path wrote later is never overwritten); then each side opens a
   REPEATABLE READ transaction and exports its snapshot, which up to ``max_connections // 2``
   connections per side import to scan disjoint parts in parallel.
2. Fingerprints (``reconcile.fingerprints``): two sides with one integer key, unique and NOT
   NULL on both, and no masked columns, are compared by row count and XOR of row hashes first
   (a key range in the middle goes first); equal fingerprints end the comparison.
3. Hash (``reconcile.scan_sql``, ``reconcile.packed``): PostgreSQL hashes each row
   (``hash_record_extended``, type-aware) and ships packed (key, hash[, ctid]) records that
   become numpy arrays; masked columns travel as text.
4. Join (``reconcile.join``): the sides are merged on the key in memory with numpy (sort and
   binary search); masked columns are masked once per distinct value and compared as strings.
5. Fetch and classify (``Side.detail``, ``reconcile.classify``): for the differing rows only,
   each side returns one hash per column and the real keys, which names the changed columns;
   for a fix the source returns its clear values in the same query (``reconcile.fix_rows``).

There is no DuckDB in this path: the hashing is PostgreSQL's and the join is numpy's.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import psycopg

from reconcile.classify import classify
from reconcile.fingerprints import PROBE_ROWS, Fingerprint, fingerprint_first, probe_range
from reconcile.fix_rows import FixRows
from reconcile.join import join_scans, mask_source
from reconcile.model import Key, PairSpec, SchemaDiff, TableDiff
from reconcile.scan_sql import int8_literal
from reconcile.side import Side


@dataclass(frozen=True)
class Comparison:
    """A diff plus what a fix needs: the masked source rows of every differing key."""

    diff: TableDiff
    fix_rows: Mapping[Key, dict[str, Any]] = field(default_factory=dict)
    source_ts: datetime | None = None  # when the source snapshot was taken (a fix stamps its rows with it)
    # No source row committed after this instant can be missing from the snapshot (an incremental's next watermark).
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


def _take(values: np.ndarray | None, positions: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[positions]


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
) -> Comparison:
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
                same = same_fingerprints(src, tgt, pool)
                if same is not None:
                    diff = _equal_diff(spec, same, schema=schema, src=src, started=started, note=note)
                    return Comparison(diff, {}, src.started_at, src.complete_until)
            step("hash")
            masked_source = None
            if restrict_target:
                s_scan = src.scan()
                tgt.key_filter, tgt.key_filter_rows = int8_literal(s_scan.keys), len(s_scan.keys)
                t_future = pool.submit(tgt.scan)
                # Every row of the window is compared (matched) or written (source-only, in a
                # fix): mask them while the target is read, rather than after.
                masked_source = mask_source(s_scan, spec) if spec.masked else None
                t_scan = t_future.result()
            else:
                scans = [pool.submit(src.scan), pool.submit(tgt.scan)]
                s_scan, t_scan = (f.result() for f in scans)
        step("join")
        found = join_scans(
            s_scan,
            t_scan,
            spec,
            check_duplicates=(not unique[0], not unique[1]),
            keep_masked=keep_rows,
            masked_source=masked_source,
        )
        step("fetch")
        with ThreadPoolExecutor(2) as pool:
            fs = pool.submit(
                src.detail,
                s_scan.keys[found.source],
                _take(s_scan.tids, found.source),
                with_rows=keep_rows,
                rows=s_scan.rows,
                hashes=s_scan.hashes[found.source] if src.per_column else None,
            )
            ft = pool.submit(
                tgt.detail,
                t_scan.keys[found.target],
                _take(t_scan.tids, found.target),
                rows=t_scan.rows,
                hashes=t_scan.hashes[found.target] if tgt.per_column else None,
            )
            (s_detail, s_values), (t_detail, _) = fs.result(), ft.result()
        cls = classify(
            s_detail, t_detail, [c.name for c in spec.hashed], [c.name for c in spec.masked], found.masked_flags
        )
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
            note=note,
        )
        return Comparison(diff, fix_rows, src.started_at, src.complete_until)
    finally:
        src.close()
        tgt.close()


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
