"""What PostgreSQL's packed scans become on the client: numpy and Arrow arrays, without a Python loop.

A scan part arrives as one bytea of big-endian fixed-width records (``int8send(key) ||
int8send(hash)[ || tidsend(ctid)]``) and, for masked columns, concatenated text plus int4
lengths. Pure functions: unit-tested on bytes built in the test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reconcile.model import PairSpec, Relation
from smartsync.core.errors import ReconcileError


@dataclass
class SideScan:
    """What one side's hash scan returned."""

    keys: np.ndarray  # int64: the key itself (integer keys) or a 64-bit hash of it
    hashes: np.ndarray  # int64 row hash of the hashed columns, or one hash per column (rows × columns)
    tids: np.ndarray | None  # int64 block << 16 | offset, when the relation is a table
    masked: dict[str, Any]  # masked columns as Arrow text arrays, in row order
    rows: int = 0
    null_keys: int = 0


# Packed records as PostgreSQL sends them (big-endian): int8send, tidsend (block, offset).
TID_FIELDS = [("b", ">u4"), ("o", ">u2")]
KEY_FIELDS = [("k", ">i8")]


def scan_item(*, with_tid: bool, columns: int | None = None) -> np.dtype[Any]:
    """A scan record: key, row hash (or ``columns`` column hashes), ctid when shipped."""
    hashes = ("h", ">i8") if columns is None else ("h", ">i8", (columns,))
    return np.dtype([("k", ">i8"), hashes, *(TID_FIELDS if with_tid else [])])


def records_of(data: bytes | None, item: np.dtype[Any]) -> np.ndarray:
    """Fixed-width records concatenated by ``string_agg``, as a structured array (no copy)."""
    return np.frombuffer(data or b"", dtype=item)


def unpack_tids(records: np.ndarray) -> np.ndarray:
    """``block << 16 | offset`` of the ``b``/``o`` fields of packed records."""
    return (records["b"].astype(np.int64) << 16) | records["o"].astype(np.int64)


def text_array(data: bytes | None, lengths: bytes | None) -> Any:
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


def parse_scan(row: Sequence[Any], spec: PairSpec, *, with_tid: bool, per_column: bool = False) -> SideScan:
    count, nulls = int(row[0]), int(row[1])
    rec = records_of(row[2], scan_item(with_tid=with_tid, columns=len(spec.hashed) if per_column else None))
    tids = unpack_tids(rec) if with_tid else None
    masked = {col.name: text_array(row[3 + 2 * i], row[4 + 2 * i]) for i, col in enumerate(spec.masked)}
    return SideScan(rec["k"].astype(np.int64), rec["h"].astype(np.int64), tids, masked, count, nulls)


def _concat_arrow(arrays: Sequence[Any]) -> Any:
    import pyarrow as pa  # noqa: PLC0415

    return pa.concat_arrays(arrays)


def concat_scans(parts: Sequence[SideScan], spec: PairSpec) -> SideScan:
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


def positions_of(got: np.ndarray, wanted: np.ndarray, rel: Relation) -> np.ndarray:
    """Where each ``wanted`` identifier (scan key or ctid, unique on the side) is in ``got``."""
    order = np.argsort(got, kind="stable")
    at = np.minimum(np.searchsorted(got[order], wanted), max(len(got) - 1, 0))
    if len(got) == 0 or not np.array_equal(got[order][at], wanted):
        msg = f"reading {rel.label} again did not find every row of its snapshot"
        raise ReconcileError(msg, hint="rerun the diff; report it if it persists")
    return order[at]
