"""Which differing rows are source-only, target-only or changed (and in which columns).

Pure numpy over what the engine re-read for the differing rows only (``Detail``): the rules
are unit-tested on plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reconcile.model import ChangedRow, Key, KeyArray


def sorted_keys(keys: list[Key]) -> list[Key]:
    """The keys sorted in place: natural order when the values compare, their text otherwise."""
    try:
        keys.sort()
    except TypeError:
        keys.sort(key=_sort_key)
    return keys


def _sort_key(key: Key) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, f"{v:>40}" if isinstance(v, int) else str(v)) for v in key)


@dataclass(frozen=True)
class Detail:
    """Some differing rows of one side, read again in its snapshot: enough to say what differs.

    ``scan_keys`` are the keys the scan shipped (the key, or a 64-bit hash of it); ``keys`` the
    real keys (a ``KeyArray`` of the scan keys when the key is one integer column); ``hashes``
    one hash per compared clear column (rows × columns).
    """

    scan_keys: np.ndarray
    keys: Sequence[Key]
    hashes: np.ndarray
    # ``hashes`` start at this row: the rows before it are side-only (never matched, never
    # compared column by column), and a first load's millions of them carry no hashes.
    offset: int = 0


@dataclass(frozen=True)
class Classified:
    source_only: Sequence[Key]
    target_only: Sequence[Key]
    changed: list[ChangedRow]
    # Matched rows whose row hashes differed but whose columns all agree.
    unchanged: int
    # Indices into the source rows of the source-only, then the changed ones: what a fix writes.
    to_write: np.ndarray


def classify(
    source: Detail,
    target: Detail,
    hashed: Sequence[str],
    masked: Sequence[str] = (),
    masked_flags: np.ndarray | None = None,
) -> Classified:
    """Classify the differing rows of both sides from their per-column hashes, loop-free.

    ``masked_flags`` (source rows × ``masked``) says which masked columns differ (compared on
    the client). Two real keys that share a 64-bit scan key are kept apart.
    """
    # Rows before a side's offset are side-only (the join found no row of that scan key on the
    # other side): only the rest can match. A first load's millions of rows skip the search.
    s0, t0 = source.offset, target.offset
    s_scan, t_scan = source.scan_keys[s0:], target.scan_keys[t0:]
    ns, nt = len(s_scan), len(t_scan)
    order = np.argsort(t_scan, kind="stable")
    sorted_t = t_scan[order]
    at = np.minimum(np.searchsorted(sorted_t, s_scan), max(nt - 1, 0))
    hit = sorted_t[at] == s_scan if nt else np.zeros(ns, dtype=bool)
    partner = order[at] if nt else np.zeros(ns, dtype=np.int64)
    candidates = np.flatnonzero(hit)
    s_keys, t_keys = source.keys, target.keys
    # Integer scan keys are the real keys: equal scan keys are the same key.
    if not (isinstance(s_keys, KeyArray) and isinstance(t_keys, KeyArray)):
        for i, j in zip(candidates.tolist(), partner[candidates].tolist(), strict=True):
            if s_keys[s0 + i] != t_keys[t0 + j]:
                hit[i] = False
    si = np.flatnonzero(hit)  # positions from the offsets on (where the hashes start)
    ti = partner[si]
    flags = source.hashes[si] != target.hashes[ti]
    if masked:
        assert masked_flags is not None  # noqa: S101 — masked columns come with their flags
        flags = np.concatenate([flags, masked_flags[s0 + si]], axis=1)
    differs = flags.any(axis=1) if flags.shape[1] else np.zeros(len(si), dtype=bool)
    t_matched = np.zeros(nt, dtype=bool)
    t_matched[ti] = True
    only_s = np.concatenate([np.arange(s0), s0 + np.flatnonzero(~hit)])
    only_t = np.concatenate([np.arange(t0), t0 + np.flatnonzero(~t_matched)])
    changed_at = s0 + si[differs]
    names = [*hashed, *masked]
    return Classified(
        source_only=_keys_at(source.keys, only_s),
        target_only=_keys_at(target.keys, only_t),
        changed=_changed_rows([source.keys[i] for i in changed_at.tolist()], flags[differs], names),
        unchanged=int(len(si) - len(changed_at)),
        to_write=np.concatenate([only_s, changed_at]),
    )


def _keys_at(keys: Sequence[Key], at: np.ndarray) -> Sequence[Key]:
    """The keys at positions ``at``, sorted: an array stays an array (a first load's millions of keys)."""
    if isinstance(keys, KeyArray):
        picked = keys.values[at]  # a copy of its own, sorted in place
        picked.sort()
        return KeyArray(picked)
    return sorted_keys([keys[i] for i in at.tolist()])


def _changed_rows(keys: list[Key], flags: np.ndarray, names: Sequence[str]) -> list[ChangedRow]:
    """``ChangedRow`` per key, sorted by key; rows share one tuple per pattern of differing columns."""
    if not keys:
        return []
    patterns, which = _patterns(flags)
    columns = [tuple(n for n, hit in zip(names, row, strict=True) if hit) for row in patterns.tolist()]
    rows = [ChangedRow(k, columns[p]) for k, p in zip(keys, which.tolist(), strict=True)]
    try:
        rows.sort(key=_row_key)
    except TypeError:
        rows.sort(key=lambda r: _sort_key(r.key))
    return rows


def _patterns(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean matrix, and which one each row is (a row-wise ``np.unique``).

    Rows are packed into bytes first: sorting one integer (or a few bytes) per row is far
    cheaper than ``np.unique(axis=0)``.
    """
    packed = np.packbits(flags, axis=1)
    width = packed.shape[1]
    codes: np.ndarray
    if width <= 8:
        padded = np.zeros((len(flags), 8), dtype=np.uint8)
        padded[:, :width] = packed
        codes = padded.view(np.uint64).reshape(-1)
    else:
        codes = np.ascontiguousarray(packed).view(np.dtype((np.void, width))).reshape(-1)
    _, first, which = np.unique(codes, return_index=True, return_inverse=True)
    return flags[first], which.reshape(-1)


def _row_key(row: ChangedRow) -> Key:
    return row.key
