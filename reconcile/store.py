"""Where a comparison's two snapshots meet: DuckDB tables filled part by part, joined and classified there.

Each side's hash scan arrives from PostgreSQL one part at a time (``reconcile.side``); every
part is appended to that side's DuckDB table (key, row hash or column hashes, ctid, masked
forms) and dropped, so the client never holds a whole side. DuckDB keeps the tables within
``memory_limit`` and spills the rest to ``temp_dir``. Masked source columns are masked before
they are appended (``mask_source``): no clear personal value ever enters DuckDB, its spill
files or a kept snapshot (``reconcile.snapshots``).

The join is a full outer join on the scan key in DuckDB; only the differing rows come back to
Python (as numpy arrays), where ``reconcile.classify`` names their changed columns.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from masking import masker_for
from reconcile.model import PairSpec
from reconcile.packed import SideScan
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import Settings

SIDES = ("source", "target")


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
    source_hashes: np.ndarray | None  # column hashes (rows × columns) when the scan shipped them
    target_keys: np.ndarray
    target_tids: np.ndarray | None
    target_hashes: np.ndarray | None
    matched_differing: int
    masked_flags: np.ndarray
    masked: dict[str, Any] = field(default_factory=dict)


class DiffStore:
    """One comparison's DuckDB database: a table per side, filled part by part, then joined."""

    def __init__(self, spec: PairSpec, *, with_tid: bool, per_column: bool, limits: EngineLimits) -> None:
        self.spec = spec
        self.with_tid = with_tid
        self.per_column = per_column
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
            self.db.execute(f"CREATE TABLE {side} ({', '.join(cols)})")
            self._cursors[side] = self.db.cursor()  # one per side: both sides load at once

    def close(self) -> None:
        for cur in self._cursors.values():
            cur.close()
        self.db.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def append(self, side: str, scan: SideScan) -> None:
        """Append one scan part to ``side``'s table (source masked columns masked first)."""
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
        with self._locks[side]:
            cur = self._cursors[side]
            cur.register("_part", part)
            cur.execute(f"INSERT INTO {side} SELECT * FROM _part")
            cur.unregister("_part")

    def keys(self, side: str) -> np.ndarray:
        """Every scan key of ``side`` (an incremental's window: the target is restricted to them)."""
        got = self.db.execute(f"SELECT k FROM {side}").to_arrow_table()
        return np.asarray(got.column(0).to_numpy(), dtype=np.int64)

    def check_unique(self, side: str, label: str) -> None:
        row = self.db.execute(f"SELECT count(*) - count(DISTINCT k) FROM {side}").fetchone()
        if row and row[0]:
            msg = f"duplicate keys in {label}: key {list(self.spec.key)} is not unique"
            raise ReconcileError(msg, hint="give --key columns that identify one row")

    def differing(self, *, check_duplicates: tuple[bool, bool], keep_masked: bool) -> Found:
        """Full outer join on the scan key; the rows missing on one side or differing in a hash or masked form."""
        for side, rel, check in zip(SIDES, (self.spec.source, self.spec.target), check_duplicates, strict=True):
            if check:
                self.check_unique(side, rel.label)
        hash_differ = " OR ".join(f"s.{h} <> t.{h}" for h in self.hash_cols)
        flags = [f"(s.{m} IS DISTINCT FROM t.{m} AND t.k IS NOT NULL AND s.k IS NOT NULL)" for m in self.masked_cols]
        select = ["s.k AS sk", "t.k AS tk"]
        select += [f"s.{h} AS s_{h}" for h in self.hash_cols] + [f"t.{h} AS t_{h}" for h in self.hash_cols]
        select += ["s.tid AS stid", "t.tid AS ttid"] if self.with_tid else []
        select += [f"{f} AS f{i}" for i, f in enumerate(flags)]
        select += [f"s.{m} AS s_{m}" for m in self.masked_cols] if keep_masked else []
        differs = " OR ".join(["s.k IS NULL", "t.k IS NULL", f"({hash_differ})", *flags])
        query = f"SELECT {', '.join(select)} FROM source s FULL OUTER JOIN target t ON s.k = t.k WHERE {differs}"
        got = self.db.execute(query).to_arrow_table()
        return self._found(got, keep_masked=keep_masked)

    def _found(self, got: pa.Table, *, keep_masked: bool) -> Found:
        def ints(name: str, rows: np.ndarray) -> np.ndarray:
            col = got.column(name).combine_chunks() if got.num_rows else pa.array([], pa.int64())
            values: np.ndarray = np.asarray(col.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
            picked: np.ndarray = values[rows]
            return picked

        def present(name: str) -> np.ndarray:
            return np.asarray(got.column(name).is_valid().to_numpy(zero_copy_only=False), dtype=bool)

        has_s, has_t = present("sk"), present("tk")
        # Source-only rows first, then the matched ones (the order a fix's masked values follow).
        s_rows = np.concatenate([np.flatnonzero(has_s & ~has_t), np.flatnonzero(has_s & has_t)])
        t_rows = np.concatenate([np.flatnonzero(has_t & ~has_s), np.flatnonzero(has_s & has_t)])
        matched = int(np.count_nonzero(has_s & has_t))

        def hashes(prefix: str, rows: np.ndarray) -> np.ndarray | None:
            if not self.per_column:
                return None
            return np.stack([ints(f"{prefix}_{h}", rows) for h in self.hash_cols], axis=1)

        n_masked = len(self.masked_cols)
        flags = np.zeros((len(s_rows), n_masked), dtype=bool)
        for i in range(n_masked):
            flags[:, i] = np.asarray(got.column(f"f{i}").fill_null(fill_value=False).to_numpy(zero_copy_only=False))[
                s_rows
            ]
        masked: dict[str, Any] = {}
        if keep_masked:
            pick = pa.array(s_rows, pa.int64())
            for m, col in zip(self.masked_cols, self.spec.masked, strict=True):
                masked[col.name] = got.column(f"s_{m}").combine_chunks().take(pick).cast(pa.large_string())
        return Found(
            source_keys=ints("sk", s_rows),
            source_tids=ints("stid", s_rows) if self.with_tid else None,
            source_hashes=hashes("s", s_rows),
            target_keys=ints("tk", t_rows),
            target_tids=ints("ttid", t_rows) if self.with_tid else None,
            target_hashes=hashes("t", t_rows),
            matched_differing=matched,
            masked_flags=flags,
            masked=masked,
        )

    def export(self, side: str, path: Path) -> None:
        """Write ``side``'s table (scan key, hashes, masked forms; no ctid) to a Parquet file."""
        cols = ["k", *self.hash_cols, *self.masked_cols]
        self.db.execute(
            f"COPY (SELECT {', '.join(cols)} FROM {side} ORDER BY k) TO '{_sql_path(path)}' "
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
