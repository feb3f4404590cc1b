"""The pure half of the diff: schema comparison, column plans and row classification.

Nothing here touches a database: the engine (``reconcile.engine``) feeds these functions
what it read, so the rules (which columns are compared how, which rows are source-only,
target-only, changed or unchanged) are unit-tested on plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconcile.model import ChangedRow, ColumnSpec, SchemaDiff
from smartsync.catalog import MaskRule

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
        specs.append(ColumnSpec(tcol, mapping[tcol], quote_ident(tcol), mask, as_text))
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


def classify_digests(
    source: Mapping[int, tuple[Key, Sequence[int]]],
    target: Mapping[int, tuple[Key, Sequence[int]]],
    hashed: Sequence[str],
    masked_changes: Mapping[int, tuple[str, ...]],
) -> tuple[list[Key], list[Key], list[ChangedRow], int, dict[Key, int]]:
    """Classify the differing rows from their digests: scan key → (real key, per-column hashes).

    ``masked_changes`` names the masked columns that differ per scan key (compared on the
    client). Returns source-only, target-only, changed, unchanged candidates, and the scan key
    of every real source key. Two real keys that share a 64-bit scan key are kept apart.
    """
    source_only: list[Key] = []
    target_only: list[Key] = []
    changed: list[ChangedRow] = []
    unchanged = 0
    by_key: dict[Key, int] = {}
    for k, (key, hashes) in source.items():
        by_key[key] = k
        other = target.get(k)
        if other is None or other[0] != key:
            source_only.append(key)
            continue
        cols = [name for name, a, b in zip(hashed, hashes, other[1], strict=True) if a != b]
        cols += masked_changes.get(k, ())
        if cols:
            changed.append(ChangedRow(key, tuple(cols)))
        else:
            unchanged += 1
    for k, (key, _) in target.items():
        mine = source.get(k)
        if mine is None or mine[0] != key:
            target_only.append(key)
    sort_keys(source_only)
    sort_keys(target_only)
    order = [c.key for c in changed]
    sort_keys(order)
    by = {c.key: c for c in changed}
    changed = [by[k] for k in order]
    return source_only, target_only, changed, unchanged, by_key
