"""Which columns a comparison reads and how: SQL quoting, type families, the schema diff, column plans.

Pure functions over ``format_type`` strings: the specs (``reconcile.specs``) call them with
the live column types, and the hash SQL (``reconcile.scan_sql``) follows the plans they make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconcile.model import ColumnSpec, SchemaDiff
from smartsync.core.catalog import MaskRule

# Types whose values PostgreSQL hashes with a type-aware extended hash, so equal values hash
# equal on both sides (numeric 1.50 and 1.5, timestamptz in any time zone). Others are
# compared on their text form.
HASHABLE_TYPES = frozenset(
    {
        "smallint",
        "integer",
        "bigint",
        "numeric",
        "text",
        "character varying",
        "date",
        "timestamp with time zone",
        "timestamp without time zone",
        "boolean",
        "uuid",
        "real",
        "double precision",
        "bytea",
        "jsonb",
        "interval",
        "time without time zone",
        "inet",
        "name",
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


# Types of one family each, hashed directly when both sides have that very type.
_SAME_TYPE_FAMILIES = {
    "date": "date",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "uuid": "uuid",
}


def hash_family(source_type: str, target_type: str, *, as_text: bool) -> str | None:
    """The family whose hash function hashes a column directly: its values on both sides hash alike."""
    if as_text:
        return "text"
    src, tgt = base_type(source_type), base_type(target_type)
    for family, types in (("integer", INTEGER_TYPES), ("text", _TEXT_TYPES), ("numeric", frozenset({"numeric"}))):
        if src in types and tgt in types:
            return family
    return _SAME_TYPE_FAMILIES.get(src) if src == tgt else None


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
        as_text = not same_family(st, tt) or base_type(tt) not in HASHABLE_TYPES or base_type(st) not in HASHABLE_TYPES
        specs.append(
            ColumnSpec(tcol, mapping[tcol], quote_ident(tcol), mask, as_text, hash_family(st, tt, as_text=as_text))
        )
    return tuple(specs)
