"""Where a comparison's two snapshots meet: Arrow parts or DuckDB tables, joined and classified in DuckDB.

Each side's hash scan arrives from PostgreSQL one part at a time (``reconcile.side``) as Arrow
columns (key, row hash or column hashes, ctid, masked forms). While both sides together fit
in ``ARROW_SHARE`` of the memory limit, the parts are kept as they are and DuckDB joins them
in place (registered, no copy: a 1M-row pair spares the inserts and a slower join, about 0.4 s
of CPU). Past that share a side's parts go into its DuckDB table, which DuckDB keeps within
``memory_limit`` and spills to ``temp_dir``; the rest of the limit is DuckDB's for the join.
Masked source columns are masked before they are kept (``mask_source``): no clear personal
value ever enters DuckDB, its spill files or a kept snapshot (``reconcile.snapshots``).

The join is a full outer join on the scan key in DuckDB; only the differing rows come back to
Python (as numpy arrays), where ``reconcile.classify`` names their changed columns.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from masking import masker_for
from reconcile.model import PairSpec
from reconcile.packed import SideScan
from smartsync.core.errors import ReconcileError

if TYPE_CHECKING:
    from smartsync.core.settings import Settings

SIDES = ("source", "target")
# Share of the memory limit the Arrow parts of both sides may take before they go into DuckDB tables.
ARROW_SHARE = 0.5
# What DuckDB keeps for itself however much the Arrow parts hold.
MIN_ENGINE_BYTES = 64 * 1024 * 1024
_UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}


def memory_bytes(limit: str) -> int:
    """``512MB`` → bytes (DuckDB's units: KB/MB/GB powers of 1000, KiB/MiB/GiB of 1024)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|KiB|MiB|GiB)\s*", limit)
    if found is None:
        msg = f"memory limit {limit!r} is not a size"
        raise ReconcileError(msg, hint="set SMARTSYNC_BATCH_MEMORY_LIMIT like 512MB or 1GiB")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


_allocators_tuned = False


def return_freed_memory_to_the_os() -> None:
    """Have freed scan buffers go back to the system, so that RSS follows what a diff holds.

    Two allocators kept freed memory resident. glibc raises its mmap threshold each time a
    multi-MB buffer (a scan part) is freed and then serves the next ones from the loading
    threads' heap arenas, which keep the memory: the threshold is fixed at 1 MiB (which also
    turns that adjustment off). pyarrow's default pool (mimalloc) kept every Arrow buffer it
    had ever held (masked columns, parts moved into DuckDB): measured, 600 MB of freed Arrow
    arrays stayed resident; Arrow allocates from the system pool instead. Process-wide, once.
    """
    global _allocators_tuned  # noqa: PLW0603 — one setting of the process's allocators
    if _allocators_tuned:
        return
    _allocators_tuned = True
    pa.set_memory_pool(pa.system_memory_pool())
    if not sys.platform.startswith("linux"):
        return
    m_mmap_threshold = -3
    try:
        ctypes.CDLL(None).mallopt(m_mmap_threshold, 1 << 20)
    except (OSError, AttributeError):  # not glibc: its own allocator decides
        return


def trim_free_heap() -> None:
    """Give the free pages of glibc's heap arenas back to the system (``malloc_trim``).

    Decoding and masking scan parts in two threads leaves hundreds of MB of small freed
    chunks in their arenas, which glibc keeps resident: measured on a 10M-row first load,
    the RSS while loading fell from 1,025 MB to 776 MB with trims. A trim takes a few
    milliseconds; it runs once per part only past the Arrow share (big diffs) and at the
    ends of the load and the join.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(None).malloc_trim(0)


def mask_source(scan: SideScan, spec: PairSpec) -> dict[str, Any]:
    """Mask each masked source column of one scan part once per distinct value (Arrow in, Arrow out)."""
    out: dict[str, Any] = {}
    for col in spec.masked:
        enc = scan.masked[col.name].dictionary_encode()
        fn = masker_for(col.mask)
        masked = pa.array([fn(v) for v in enc.dictionary.to_pylist()], pa.large_string())
        out[col.name] = masked.take(enc.indices)
    return out


@dataclass(frozen=True)
class EngineLimits:
    """How much DuckDB may hold in memory before it spills to ``temp_dir``, and its threads."""

    memory_limit: str = "512MB"
    threads: int = 2
    temp_dir: Path | None = None
    arrow_share: float = ARROW_SHARE  # of the limit, for parts kept as Arrow (0: every part into a table)

    @classmethod
    def of(cls, settings: Settings) -> EngineLimits:
        return cls(settings.batch_memory_limit, settings.batch_engine_threads, settings.snapshot_dir / "spill")


@dataclass(frozen=True)
class Found:
    """The differing rows of both sides, as the join returned them (scan keys, ctids, hashes).

    Source rows: the source-only ones first, then the matched rows that differ. ``masked_flags``
    says which masked columns differ per source row (False for source-only rows); ``masked``
    holds the masked values of the source rows when a fix asked for them.
    """

    source_keys: np.ndarray
    source_tids: np.ndarray | None
    # Column hashes (matched rows × columns) when the scan shipped them: of the matched rows
    # only, which follow the side-only ones (``Detail.offset``).
    source_hashes: np.ndarray | None
    target_keys: np.ndarray
    target_tids: np.ndarray | None
    target_hashes: np.ndarray | None
    matched_differing: int
    masked_flags: np.ndarray
    masked: dict[str, Any] = field(default_factory=dict)


# Rows per record batch of the join's result.
FOUND_BATCH_ROWS = 100_000


class _Pieces:
    """Per-batch pieces of the join's result, put together once at the end.

    A key or ctid column of a side goes straight into one array with room for every row of
    that side (``capacity``): its pages are resident only once written, so the column never
    exists twice, as its pieces and their concatenation would (a first load's 10M source-only
    keys and ctids: 150 MB spared at the peak).
    """

    def __init__(self, capacity: Mapping[str, int] | None = None) -> None:
        self._np: dict[str, list[np.ndarray]] = {}
        self._pa: dict[str, list[Any]] = {}
        self._filled: dict[str, tuple[np.ndarray, int]] = {
            name: (np.empty(rows, dtype=np.int64), 0) for name, rows in (capacity or {}).items()
        }

    def add(self, name: str, values: np.ndarray) -> None:
        if name in self._filled:
            buf, n = self._filled[name]
            if n + len(values) <= len(buf):
                buf[n : n + len(values)] = values
                self._filled[name] = (buf, n + len(values))
                return
            # More rows than the side had (a key that is not unique): pieces from here on.
            self._np[name] = [buf[:n].copy()]
            del self._filled[name]
        self._np.setdefault(name, []).append(values)

    def arrow(self, name: str, values: Any) -> None:
        self._pa.setdefault(name, []).append(values)

    def arrows(self, name: str) -> list[Any]:
        return self._pa.get(name, [])

    def _take(self, name: str) -> list[np.ndarray]:
        if name in self._filled:
            buf, n = self._filled.pop(name)
            return [buf[:n]] if n else []
        return self._np.pop(name, [])

    def ints(self, *names: str) -> np.ndarray:
        """The pieces of ``names`` in that order, as one array (not copied when there is one piece)."""
        parts = [p for name in names for p in self._take(name)]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def count(self, name: str) -> int:
        if name in self._filled:
            return self._filled[name][1]
        return sum(len(p) for p in self._np.get(name, []))

    def matrix(self, name: str, width: int, dtype: Any) -> np.ndarray:
        parts = self._np.pop(name, [])
        return np.concatenate(parts) if parts else np.zeros((0, width), dtype=dtype)


def _ints(batch: pa.RecordBatch, name: str) -> np.ndarray:
    col = batch.column(name)
    return np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _bools(batch: pa.RecordBatch, name: str) -> np.ndarray:
    col = batch.column(name)
    return np.asarray(col.fill_null(fill_value=False).to_numpy(zero_copy_only=False), dtype=bool)


def _valid(batch: pa.RecordBatch, name: str) -> np.ndarray:
    return np.asarray(batch.column(name).is_valid().to_numpy(zero_copy_only=False), dtype=bool)


class DiffStore:
    """One comparison's DuckDB database: a table per side, filled part by part, then joined."""

    def __init__(self, spec: PairSpec, *, with_tid: bool, per_column: bool, limits: EngineLimits) -> None:
        return_freed_memory_to_the_os()
        # DuckDB reads Arrow through pyarrow.dataset, imported on first use (0.1-0.3 s): import it
        # while PostgreSQL hashes, not after the scans when the join waits for it.
        threading.Thread(target=importlib.import_module, args=("pyarrow.dataset",), daemon=True).start()
        self.spec = spec
        self.with_tid = with_tid
        self.per_column = per_column
        self._limit = memory_bytes(limits.memory_limit)
        self._arrow_budget = self._limit * limits.arrow_share
        self._held: dict[str, list[pa.Table]] = {side: [] for side in SIDES}
        self._held_bytes = 0
        self._rows = dict.fromkeys(SIDES, 0)  # rows appended per side
        self._in_table: set[str] = set()  # sides whose parts went into their DuckDB table
        self._relations: dict[str, str] = {}  # side → what queries read (its table, or its registered parts)
        self._budget = threading.Lock()
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": limits.memory_limit,
            "threads": max(1, limits.threads),
        }
        self.db = duckdb.connect(":memory:", config=config)
        # Spill files hold hashes and masked forms only; a private folder of their own, removed on close.
        if limits.temp_dir is not None:
            limits.temp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._spill = Path(tempfile.mkdtemp(prefix="diff-", dir=limits.temp_dir))
        self.db.execute(f"SET temp_directory = '{_sql_path(self._spill)}'")
        self.db.execute("SET preserve_insertion_order = false")  # no order is needed: spares memory
        self.hash_cols = [f"h{i}" for i in range(len(spec.hashed))] if per_column else ["h"]
        self.masked_cols = [f"m{i}" for i in range(len(spec.masked))]
        cols = ["k BIGINT", *(f"{h} BIGINT" for h in self.hash_cols)]
        cols += ["tid BIGINT"] if with_tid else []
        cols += [f"{m} VARCHAR" for m in self.masked_cols]
        self._cursors = {}
        self._locks = {side: threading.Lock() for side in SIDES}
        for side in SIDES:
            self.db.execute(f"CREATE TABLE {side}_table ({', '.join(cols)})")
            self._cursors[side] = self.db.cursor()  # one per side: both sides load at once

    def close(self) -> None:
        for cur in self._cursors.values():
            cur.close()
        self.db.close()
        self._held = {side: [] for side in SIDES}
        shutil.rmtree(self._spill, ignore_errors=True)

    def trim(self) -> None:
        """Give the heap the loaded parts' decoding left free back to the system (``trim_free_heap``)."""
        trim_free_heap()

    @property
    def held_bytes(self) -> int:
        """Bytes of the Arrow parts kept outside DuckDB's tables."""
        return self._held_bytes

    def append(self, side: str, scan: SideScan) -> None:
        """Keep one scan part of ``side`` (source masked columns masked first): as Arrow, or in its table."""
        masked = mask_source(scan, self.spec) if side == "source" and self.spec.masked else scan.masked
        arrays: dict[str, Any] = {"k": scan.keys}
        if self.per_column:
            hashes = scan.hashes.reshape(len(scan.keys), len(self.hash_cols))
            arrays.update({h: np.ascontiguousarray(hashes[:, i]) for i, h in enumerate(self.hash_cols)})
        else:
            arrays["h"] = scan.hashes
        if self.with_tid:
            arrays["tid"] = scan.tids
        for m, col in zip(self.masked_cols, self.spec.masked, strict=True):
            arrays[m] = masked[col.name]
        part = pa.table(arrays)  # numpy columns are wrapped, not copied; DuckDB reads the Arrow table
        with self._budget:
            self._rows[side] += len(scan.keys)
            if side in self._relations:
                msg = f"{side} was appended to after it was read"
                raise RuntimeError(msg)
            keep = side not in self._in_table and self._held_bytes + part.nbytes <= self._arrow_budget
            if keep:
                self._held[side].append(part)
                self._held_bytes += part.nbytes
                return
            # Over the share: this side's parts go into its table, where DuckDB bounds and spills them.
            moved, self._held[side] = self._held[side], []
            self._held_bytes -= sum(p.nbytes for p in moved)
            self._in_table.add(side)
        with self._locks[side]:
            cur = self._cursors[side]
            for got in [*moved, part]:
                cur.register("_part", got)
                cur.execute(f"INSERT INTO {side}_table SELECT * FROM _part")
                cur.unregister("_part")
        del moved, part, arrays, masked
        trim_free_heap()

    def relation(self, side: str) -> str:
        """What queries read for ``side``: its table, or its Arrow parts registered as one (chunked, no copy)."""
        with self._budget:
            if side not in self._relations:
                parts = self._held[side]
                if side in self._in_table or not parts:
                    self._relations[side] = f"{side}_table"
                else:
                    self.db.register(f"{side}_parts", pa.concat_tables(parts))
                    self._relations[side] = f"{side}_parts"
                # DuckDB's share is what the Arrow parts leave of the limit.
                engine = max(MIN_ENGINE_BYTES, self._limit - self._held_bytes)
                self.db.execute(f"SET memory_limit = '{engine // 1024}KiB'")
            return self._relations[side]

    def keys(self, side: str) -> np.ndarray:
        """Every scan key of ``side`` (an incremental's window: the target is restricted to them)."""
        got = self.db.execute(f"SELECT k FROM {self.relation(side)}").to_arrow_table()
        return np.asarray(got.column(0).to_numpy(), dtype=np.int64)

    def check_unique(self, side: str, label: str) -> None:
        row = self.db.execute(f"SELECT count(*) - count(DISTINCT k) FROM {self.relation(side)}").fetchone()
        if row and row[0]:
            msg = f"duplicate keys in {label}: key {list(self.spec.key)} is not unique"
            raise ReconcileError(msg, hint="give --key columns that identify one row")

    def check_keys(self, check_duplicates: tuple[bool, bool]) -> None:
        """Refuse the comparison when a side not known to be unique has a key twice."""
        for side, rel, check in zip(SIDES, (self.spec.source, self.spec.target), check_duplicates, strict=True):
            if check:
                self.check_unique(side, rel.label)

    def differing(self, *, check_duplicates: tuple[bool, bool], keep_masked: bool) -> Found:
        """Full outer join on the scan key; the rows missing on one side or differing in a hash or masked form."""
        self.check_keys(check_duplicates)
        hash_differ = " OR ".join(f"s.{h} <> t.{h}" for h in self.hash_cols)
        flags = [f"(s.{m} IS DISTINCT FROM t.{m} AND t.k IS NOT NULL AND s.k IS NOT NULL)" for m in self.masked_cols]
        select = ["s.k AS sk", "t.k AS tk"]
        select += [f"s.{h} AS s_{h}" for h in self.hash_cols] + [f"t.{h} AS t_{h}" for h in self.hash_cols]
        select += ["s.tid AS stid", "t.tid AS ttid"] if self.with_tid else []
        select += [f"{f} AS f{i}" for i, f in enumerate(flags)]
        select += [f"s.{m} AS s_{m}" for m in self.masked_cols] if keep_masked else []
        differs = " OR ".join(["s.k IS NULL", "t.k IS NULL", f"({hash_differ})", *flags])
        query = (
            f"SELECT {', '.join(select)} FROM {self.relation('source')} s FULL OUTER JOIN {self.relation('target')} t "
            f"ON s.k = t.k WHERE {differs}"
        )
        # Streamed a batch at a time: a first load's millions of source-only rows keep their key
        # (and ctid) only, never their hashes, and no whole result table exists at once.
        reader = self.db.execute(query).to_arrow_reader(FOUND_BATCH_ROWS)
        return self._found(reader, keep_masked=keep_masked)

    def _found(self, reader: pa.RecordBatchReader, *, keep_masked: bool) -> Found:
        # Each side's rows bound its key and ctid columns (source-only and matched alike).
        rows = {"s": self._rows["source"], "t": self._rows["target"]}
        columns = ["s_only", "sk", "t_only", "tk"]
        columns += ["s_only_tid", "stid", "t_only_tid", "ttid"] if self.with_tid else []
        got = _Pieces({c: rows[c[0]] for c in columns})
        for batch in reader:
            has_s, has_t = _valid(batch, "sk"), _valid(batch, "tk")
            only_s, only_t, both = has_s & ~has_t, has_t & ~has_s, has_s & has_t
            got.add("s_only", _ints(batch, "sk")[only_s])
            got.add("t_only", _ints(batch, "tk")[only_t])
            got.add("sk", _ints(batch, "sk")[both])
            got.add("tk", _ints(batch, "tk")[both])
            if self.with_tid:
                got.add("s_only_tid", _ints(batch, "stid")[only_s])
                got.add("t_only_tid", _ints(batch, "ttid")[only_t])
                got.add("stid", _ints(batch, "stid")[both])
                got.add("ttid", _ints(batch, "ttid")[both])
            if self.per_column:
                got.add("sh", np.stack([_ints(batch, f"s_{h}")[both] for h in self.hash_cols], axis=1))
                got.add("th", np.stack([_ints(batch, f"t_{h}")[both] for h in self.hash_cols], axis=1))
            flags = [_bools(batch, f"f{i}")[both] for i in range(len(self.masked_cols))]
            got.add("flags", np.stack(flags, axis=1) if flags else np.zeros((int(both.sum()), 0), dtype=bool))
            if keep_masked:
                for m in self.masked_cols:
                    col = batch.column(f"s_{m}")
                    got.arrow(f"s_only_{m}", col.filter(pa.array(only_s)))
                    got.arrow(f"s_{m}", col.filter(pa.array(both)))
        n_only_s, matched_differing = got.count("s_only"), got.count("sk")
        flag_rows = got.matrix("flags", len(self.masked_cols), np.bool_)
        masked: dict[str, Any] = {}
        if keep_masked:
            for m, col in zip(self.masked_cols, self.spec.masked, strict=True):
                chunks = [*got.arrows(f"s_only_{m}"), *got.arrows(f"s_{m}")]
                masked[col.name] = (
                    pa.concat_arrays([c.cast(pa.large_string()) for c in chunks])
                    if chunks
                    else pa.array([], pa.large_string())
                )
        # Source rows: the source-only ones first, then the matched ones (the order a fix's masked values follow).
        found = Found(
            source_keys=got.ints("s_only", "sk"),
            source_tids=got.ints("s_only_tid", "stid") if self.with_tid else None,
            source_hashes=got.matrix("sh", len(self.hash_cols), np.int64) if self.per_column else None,
            target_keys=got.ints("t_only", "tk"),
            target_tids=got.ints("t_only_tid", "ttid") if self.with_tid else None,
            target_hashes=got.matrix("th", len(self.hash_cols), np.int64) if self.per_column else None,
            matched_differing=matched_differing,
            masked_flags=np.concatenate([np.zeros((n_only_s, flag_rows.shape[1]), dtype=np.bool_), flag_rows]),
            masked=masked,
        )
        del got
        trim_free_heap()
        return found

    def export(self, side: str, path: Path) -> None:
        """Write ``side``'s table (scan key, hashes, masked forms; no ctid) to a Parquet file."""
        cols = ["k", *self.hash_cols, *self.masked_cols]
        self.db.execute(
            f"COPY (SELECT {', '.join(cols)} FROM {self.relation(side)}) TO '{_sql_path(path)}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def column_names(spec: PairSpec, *, per_column: bool) -> Mapping[str, str]:
    """Store column → compared column name (the hash and masked columns a snapshot keeps)."""
    names: dict[str, str] = {}
    if per_column:
        names.update({f"h{i}": c.name for i, c in enumerate(spec.hashed)})
    names.update({f"m{i}": c.name for i, c in enumerate(spec.masked)})
    return names
