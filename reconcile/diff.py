"""The pure half of the diff: schema comparison, column plans and row classification.

Nothing here touches a database: the engine (``reconcile.engine``) feeds these functions
what it read, so the rules (which columns are compared how, which rows are source-only,
target-only, changed or unchanged) are unit-tested on plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reconcile.model import ChangedRow, ColumnSpec, SchemaDiff
from smartsync.core.catalog import MaskRule

# Types whose values PostgreSQL hashes with a type-aware extended hash, so equal values hash
# equal on both sides (numeric 1.50 and 1.5, timestamptz in any time zone). Others are
# compared on their text form.
HASHABLE_TYPES = frozenset(
    {
        "smallint", "integer", "bigint", "numeric", "text", "character varying", "date",
        "timestamp with time zone", "timestamp without time zone", "boolean", "uuid", "real",
        "double precision", "bytea", "jsonb", "interval", "time without time zone", "inet", "name",
    }
)
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
_TEXT_TYPES = frozenset({"text", "character varying"})


def base_type(sql_type: str) -> str:
    """``numeric(5,4)`` → ``numeric``; ``character varying(20)`` → ``character varying``."""
    return sql_type.split("(", 1)[0].strip().lower()


def same_family(a: str, b: str) -> bool:
    """True when values of the two types hash and compare alike."""
    ba, bb = base_type(a), base_type(b)
    if ba == bb:
        return True
    return (ba in INTEGER_TYPES and bb in INTEGER_TYPES) or (ba in _TEXT_TYPES and bb in _TEXT_TYPES)


def hash_family(source_type: str, target_type: str, *, as_text: bool) -> str | None:
    """The family whose hash function hashes a column directly: its values on both sides hash alike."""
    if as_text:
        return "text"
    for family, types in (("integer", INTEGER_TYPES), ("text", _TEXT_TYPES), ("numeric", frozenset({"numeric"}))):
        if base_type(source_type) in types and base_type(target_type) in types:
            return family
    return None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_table(qualified: str) -> str:
    if "." in qualified:
        schema, table = qualified.split(".", 1)
        return f"{quote_ident(schema)}.{quote_ident(table)}"
    return quote_ident(qualified)


def schema_diff(
    expected: Mapping[str, str | None],
    source_types: Mapping[str, str],
    target_types: Mapping[str, str],
) -> SchemaDiff:
    """Compare the live columns of both sides with what a comparison needs.

    ``expected`` maps each target column to its source column (``None`` for a computed one,
    which only the target must have). Types are ``format_type`` strings.
    """
    missing_src: list[str] = []
    missing_tgt: list[str] = []
    retyped: list[tuple[str, str, str]] = []
    for tcol, scol in expected.items():
        if tcol not in target_types:
            missing_tgt.append(tcol)
        if scol is not None and scol not in source_types:
            missing_src.append(scol)
        if scol is not None and scol in source_types and tcol in target_types:
            st, tt = source_types[scol], target_types[tcol]
            if st != tt:
                retyped.append((tcol, st, tt))
    return SchemaDiff(tuple(missing_src), tuple(missing_tgt), tuple(retyped))


def plan_columns(
    mapping: Mapping[str, str],
    key: Sequence[str],
    masks: Mapping[str, MaskRule],
    source_types: Mapping[str, str],
    target_types: Mapping[str, str],
) -> tuple[ColumnSpec, ...]:
    """The compared columns, keys first: present on both sides, with how each is compared.

    ``mapping`` is target column → source SQL expression (a quoted column or an expression
    named by its target column in ``source_types``). A column missing on either side is left
    out (the schema diff reports it); one whose types differ, or whose type has no hash
    function, is compared on its text form.
    """
    order = [*key, *(c for c in mapping if c not in key)]
    specs: list[ColumnSpec] = []
    for tcol in order:
        if tcol not in target_types or tcol not in source_types:
            continue
        st, tt = source_types[tcol], target_types[tcol]
        mask = masks.get(tcol, MaskRule.CLEAR)
        as_text = (
            not same_family(st, tt)
            or base_type(tt) not in HASHABLE_TYPES
            or base_type(st) not in HASHABLE_TYPES
        )
        specs.append(ColumnSpec(tcol, mapping[tcol], quote_ident(tcol), mask, as_text, hash_family(st, tt, as_text=as_text)))
    return tuple(specs)


def changed_columns(source: Mapping[str, Any], target: Mapping[str, Any], columns: Iterable[str]) -> tuple[str, ...]:
    """Columns whose values differ; ``None`` equals only ``None``."""
    return tuple(c for c in columns if not _equal(source.get(c), target.get(c)))


def _equal(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a == b)


Key = tuple[Any, ...]


def sort_keys(keys: list[Key]) -> None:
    """Sort keys in place: natural order when the values compare, their text otherwise."""
    try:
        keys.sort()
    except TypeError:
        keys.sort(key=_sort_key)


def _sort_key(key: Key) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, f"{v:>40}" if isinstance(v, int) else str(v)) for v in key)


@dataclass(frozen=True)
class Detail:
    """Some differing rows of one side, read again in its snapshot: enough to say what differs.

    ``scan_keys`` are the keys the scan shipped (the key, or a 64-bit hash of it); ``keys`` the
    real keys; ``hashes`` one hash per compared clear column (rows × columns).
    """

    scan_keys: np.ndarray
    keys: Sequence[Key]
    hashes: np.ndarray


@dataclass(frozen=True)
class Classified:
    source_only: list[Key]
    target_only: list[Key]
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
    ns, nt = len(source.scan_keys), len(target.scan_keys)
    order = np.argsort(target.scan_keys, kind="stable")
    sorted_t = target.scan_keys[order]
    at = np.minimum(np.searchsorted(sorted_t, source.scan_keys), max(nt - 1, 0))
    hit = sorted_t[at] == source.scan_keys if nt else np.zeros(ns, dtype=bool)
    partner = order[at] if nt else np.zeros(ns, dtype=np.int64)
    candidates = np.flatnonzero(hit)
    s_keys, t_keys = source.keys, target.keys
    for i, j in zip(candidates.tolist(), partner[candidates].tolist(), strict=True):
        if s_keys[i] != t_keys[j]:
            hit[i] = False
    si = np.flatnonzero(hit)
    ti = partner[si]
    flags = source.hashes[si] != target.hashes[ti]
    if masked:
        assert masked_flags is not None  # noqa: S101 — masked columns come with their flags
        flags = np.concatenate([flags, masked_flags[si]], axis=1)
    differs = flags.any(axis=1) if flags.shape[1] else np.zeros(len(si), dtype=bool)
    t_matched = np.zeros(nt, dtype=bool)
    t_matched[ti] = True
    only_s = np.flatnonzero(~hit)
    changed_at = si[differs]
    names = [*hashed, *masked]
    return Classified(
        source_only=sorted_keys([source.keys[i] for i in only_s.tolist()]),
        target_only=sorted_keys([target.keys[i] for i in np.flatnonzero(~t_matched).tolist()]),
        changed=_changed_rows([source.keys[i] for i in changed_at.tolist()], flags[differs], names),
        unchanged=int(len(si) - len(changed_at)),
        to_write=np.concatenate([only_s, changed_at]),
    )


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


def sorted_keys(keys: list[Key]) -> list[Key]:
    sort_keys(keys)
    return keys
