"""The SQL one side of a comparison runs: hash scans, fingerprints, column hashes, row lists.

Pure string building over a ``PairSpec``; ``reconcile.side`` executes it. A hash scan returns,
per part, one bytea of fixed-width records (key, row hash[, ctid]) that ``reconcile.packed``
turns into numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reconcile.model import ColumnSpec, PairSpec, Relation


def where_sql(rel: Relation, extra: Sequence[str] = ()) -> str:
    preds = [*(f"({p})" for p in rel.where), *extra]
    return " WHERE " + " AND ".join(preds) if preds else ""


def column_sql(col: ColumnSpec, side: str) -> str:
    expr = col.source_expr if side == "source" else col.target_expr
    return f"({expr})::text" if col.as_text or col.mask.lossy else expr


def key_sql(spec: PairSpec, side: str) -> str:
    keys = [spec.column(k) for k in spec.key]
    if spec.integer_key:
        return f"({column_sql(keys[0], side)})::int8"
    return f"hash_record_extended(ROW({', '.join(column_sql(k, side) for k in keys)}), 0)"


@dataclass(frozen=True)
class Part:
    """What one query of a side's scan reads: a range of ctid blocks, or one share of the keys."""

    blocks: tuple[int, int | None] | None = None  # [first, last) block; the last part is open-ended
    share: tuple[int, int] | None = None  # (i, n): the rows whose key modulo n is i


# A column's hash by the family of its type: the family's own extended hash function, called
# directly (equal values hash alike across the family: 5 as smallint and bigint, 1.50 and 1.5,
# varchar and text). A one-column ``hash_record_extended(ROW(x))`` calls the same functions but
# builds a row per value: a third of the cost of hashing a million rows. NULL gets a fixed hash
# of its own.
_FAMILY_HASH = {
    "integer": "hashint8extended(({}), {})",
    "text": "hashtextextended(({})::text, {})",
    "numeric": "hash_numeric_extended(({}), {})",
}
_NULL_HASH = -7_046_029_254_386_353_131
# Families hashed exactly as ``hash_record_extended(ROW(x), seed)`` hashes them (NULL: 0), by the
# function PostgreSQL's hash operator class of the type names, reached without the row: kept
# snapshots' column hashes of these types stay what earlier versions wrote. A date is stored as
# its days since 2000-01-01, which the subtraction gives back (it refuses the infinite dates).
_RECORD_HASH = {
    "date": "CASE WHEN isfinite({0}) THEN hashint4extended(({0}) - date '2000-01-01', {1}) ELSE {2} END",
    "timestamptz": "coalesce(timestamp_hash_extended(({0}) AT TIME ZONE 'UTC', {1}), 0)",
    "timestamp": "coalesce(timestamp_hash_extended(({0}), {1}), 0)",
    "uuid": "coalesce(uuid_hash_extended(({0}), {1}), 0)",
}


def _column_hash_sql(col: ColumnSpec, side: str, seed: int = 0) -> str:
    expr = column_sql(col, side)
    record = f"hash_record_extended(ROW({expr}), {seed})"
    family = col.family or ""
    if family in _FAMILY_HASH:
        return f"coalesce({_FAMILY_HASH[family].format(expr, seed)}, {_NULL_HASH})"
    if family in _RECORD_HASH:
        return _RECORD_HASH[family].format(expr, seed, record)
    return record


def column_hashes_sql(spec: PairSpec, side: str) -> str:
    """One big-endian int8 hash per clear column, concatenated (type-aware, as the row hash)."""
    return " || ".join(f"int8send({_column_hash_sql(c, side)})" for c in spec.hashed)


def row_hash_sql(spec: PairSpec, side: str) -> str:
    """One int8 hash of a row's clear columns, type-aware: equal values of a family hash alike.

    Each column is hashed directly with a seed of its own (two columns swapping values change
    the row's hash) and the XOR of them hashed once more, so that a side's fingerprint (the XOR
    of its row hashes) still binds every value to its row. A quarter cheaper than
    ``hash_record_extended`` over the whole row, which builds a row to hash.
    """
    cells = " # ".join(_column_hash_sql(c, side, seed=i + 1) for i, c in enumerate(spec.hashed))
    return f"hashint8extended({cells}, 0)"


def key_null_sql(spec: PairSpec, side: str) -> str:
    return " OR ".join(f"({column_sql(spec.column(k), side)}) IS NULL" for k in spec.key)


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
        extra.append(f"coalesce(abs(mod({key_sql(spec, side)}, {n})), 0) = {i}")
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
    key_null = key_null_sql(spec, side) if nullable_key else "false"
    hashes = column_hashes_sql(spec, side) if per_column else f"int8send({row_hash_sql(spec, side)})"
    inner = [f"{key_sql(spec, side)} AS _k", f"{hashes} AS _h", f"({key_null}) AS _null"]
    if with_tid:
        inner.append("ctid AS _tid")
    for i, col in enumerate(spec.masked):
        inner.append(f"textsend({column_sql(col, side)}) AS _m{i}")
    extra = _part_filter(spec, side, part)
    if key_filter is not None:
        extra.append(f"{key_sql(spec, side)} = ANY({key_filter})")
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
    return f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {rel.sql}{where_sql(rel, extra)}) AS _s"


def fingerprint_sql(
    spec: PairSpec, side: str, *, part: Part | None = None, key_range: tuple[int, int] | None = None
) -> str:
    """Count and XOR of the row hashes of one part (or of the keys in ``key_range``, both ends included)."""
    rel = spec.source if side == "source" else spec.target
    extra = _part_filter(spec, side, part)
    if key_range is not None:  # the uncast integer key: its index finds the range
        key = column_sql(spec.column(spec.key[0]), side)
        extra.append(f"{key} BETWEEN {int(key_range[0])} AND {int(key_range[1])}")
    return f"SELECT count(*), bit_xor({row_hash_sql(spec, side)}) FROM {rel.sql}{where_sql(rel, extra)}"


# Key and ctid lists travel inlined in the query as one array literal: dumping 100K Python
# values one by one is slower, and a query without parameters may hold any ``%`` of a filter.


def int8_literal(values: np.ndarray) -> str:
    """``'{1,2,3}'::int8[]``: an int8[] literal (digits only, nothing to escape)."""
    return "'{" + ",".join(map(str, values.tolist())) + "}'::int8[]"


def tid_literal(tids: np.ndarray) -> str:
    """``'{"(0,1)","(4,2)"}'::tid[]``: a tid[] literal of packed ``block << 16 | offset`` values."""
    blocks, offsets = (tids >> 16).tolist(), (tids & 0xFFFF).tolist()
    return "'{" + ",".join(f'"({b},{o})"' for b, o in zip(blocks, offsets, strict=True)) + "}'::tid[]"
