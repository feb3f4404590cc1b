"""The merge of two sides' scans on the key: which rows differ, with masked columns compared here.

Pure numpy and Arrow over the arrays the scans returned (``reconcile.packed.SideScan``): a sort
(skipped when a side arrives in key order) and a binary search. Masked columns never reach the
server's hash (the target holds masked values), so the source's are masked once per distinct
value and compared as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from masking import masker_for
from reconcile.model import PairSpec
from reconcile.packed import SideScan
from smartsync.core.errors import ReconcileError


def mask_source(scan: SideScan, spec: PairSpec, positions: np.ndarray | None = None) -> dict[str, Any]:
    """Mask each masked source column (the rows at ``positions``, default all) once per distinct value."""
    import pyarrow as pa  # noqa: PLC0415

    out: dict[str, Any] = {}
    for col in spec.masked:
        values = scan.masked[col.name]
        if positions is not None:
            values = values.take(pa.array(positions))
        enc = values.dictionary_encode()
        fn = masker_for(col.mask)
        masked = pa.array([fn(v) for v in enc.dictionary.to_pylist()], pa.large_string())
        out[col.name] = masked.take(enc.indices)
    return out


def distinct(a: Any, b: Any) -> np.ndarray:
    """Element-wise ``a IS DISTINCT FROM b`` of two Arrow string arrays."""
    import pyarrow.compute as pc  # noqa: PLC0415

    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    differ = pc.fill_null(pc.not_equal(a, b), fill_value=True)
    return np.asarray(pc.and_(differ, pc.invert(both_null)).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class Found:
    """Positions (in scan order) of the rows that differ, and how many matched keys differ."""

    source: np.ndarray  # source-only rows first, then the matched rows that differ
    target: np.ndarray
    matched_differing: int
    # Which masked columns differ, per ``source`` row (False for source-only rows): masked
    # values never reach the server's hash, so they are compared here.
    masked_flags: np.ndarray
    # The masked values of the ``source`` rows, when asked for: a fix writes them.
    masked: dict[str, Any] = field(default_factory=dict)


def in_key_order(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Scan positions in key order, the sorted keys, and whether a key repeats.

    A side read in key order (a table filled in key order, scanned by ctid) needs no sort.
    """
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        return np.arange(len(keys)), keys, False
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    return order, ordered, bool(np.any(ordered[1:] == ordered[:-1]))


def join_scans(
    src: SideScan,
    tgt: SideScan,
    spec: PairSpec,
    *,
    check_duplicates: tuple[bool, bool] = (True, True),
    keep_masked: bool = False,
    masked_source: Mapping[str, Any] | None = None,
) -> Found:
    """Merge the two scans on the key (sort + binary search) and keep the rows that differ.

    Rows arrive from PostgreSQL nearly in key order, so sorting them is cheap (measured: faster
    than a DuckDB hash join over the same arrays, which this code no longer carries).
    ``keep_masked`` keeps the masked source values of the differing rows (a fix writes them,
    so they are masked once). ``masked_source`` holds them for every source row when they were
    masked already (``mask_source``).
    """
    so, sk, s_dup = in_key_order(src.keys)
    to, tk, t_dup = in_key_order(tgt.keys)
    for rel, dup, check in ((spec.source, s_dup, check_duplicates[0]), (spec.target, t_dup, check_duplicates[1])):
        if check and dup:
            msg = f"duplicate keys in {rel.label}: key {list(spec.key)} is not unique"
            raise ReconcileError(msg, hint="give --key columns that identify one row")
    if len(tk):
        pos = np.minimum(np.searchsorted(tk, sk), len(tk) - 1)
        found = tk[pos] == sk
    else:
        pos, found = np.zeros(len(sk), dtype=np.int64), np.zeros(len(sk), dtype=bool)
    matched_s = so[found]  # scan positions of matched source rows
    matched_t = to[pos[found]]
    only_s = so[~found]
    differ = src.hashes[matched_s] != tgt.hashes[matched_t]
    if differ.ndim == 2:  # one hash per column
        differ = differ.any(axis=1)
    flags = np.zeros((len(matched_s), len(spec.masked)), dtype=bool)
    masked: dict[str, Any] = {}
    if spec.masked:
        import pyarrow as pa  # noqa: PLC0415

        # Source-only rows need their masked values only for a fix.
        at = np.concatenate([matched_s, only_s]) if keep_masked else matched_s
        if masked_source is None:
            values = mask_source(src, spec, at)
        else:
            values = {name: arr.take(pa.array(at)) for name, arr in masked_source.items()}
        for i, col in enumerate(spec.masked):
            flags[:, i] = distinct(
                values[col.name].slice(0, len(matched_s)), tgt.masked[col.name].take(pa.array(matched_t))
            )
        differ |= flags.any(axis=1)
        if keep_masked:
            pick = pa.array(np.concatenate([np.arange(len(matched_s), len(at)), np.flatnonzero(differ)]))
            masked = {name: arr.take(pick) for name, arr in values.items()}
    t_matched = np.zeros(len(tk), dtype=bool)
    t_matched[pos[found]] = True
    source = np.concatenate([only_s, matched_s[differ]])
    target = np.concatenate([to[~t_matched], matched_t[differ]])
    masked_flags = np.concatenate([np.zeros((len(only_s), len(spec.masked)), dtype=bool), flags[differ]])
    return Found(source, target, int(np.count_nonzero(differ)), masked_flags, masked)
