"""What the batch path compares and what it finds: plain frozen data, no I/O."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

from smartsync.core.catalog import MaskRule

if TYPE_CHECKING:
    import numpy as np

# A row's key values, in the order of the pair's key columns.
Key = tuple[Any, ...]


class KeyArray(Sequence[Key]):
    """One-column integer keys held as one int64 array; a key tuple is made only when read.

    A first load of 10M rows has 10M source-only keys: as Python tuples they alone would take
    about 1 GB, as an array 80 MB. Reports read their counts and a few samples.
    """

    __slots__ = ("values",)

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> Key: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Key, ...]: ...
    def __getitem__(self, index: int | slice) -> Key | tuple[Key, ...]:
        if isinstance(index, slice):
            return tuple((v,) for v in self.values[index].tolist())
        return (int(self.values[index]),)

    def __iter__(self) -> Iterator[Key]:
        step = 65_536  # a slice at a time: never a list of every key
        for start in range(0, len(self.values), step):
            yield from ((v,) for v in self.values[start : start + step].tolist())

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, tuple) or len(key) != 1 or not isinstance(key[0], int):
            return False
        return bool((self.values == key[0]).any())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, KeyArray):
            return len(self) == len(other) and bool((self.values == other.values).all())
        if isinstance(other, Sequence):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable array inside

    def __repr__(self) -> str:
        return f"KeyArray({len(self)} keys)"


@dataclass(frozen=True)
class Relation:
    """One side of a comparison: a table (optionally filtered) or an SQL query.

    ``sql`` is a quoted table name when ``table`` is set, else a parenthesised query; every
    column in ``columns`` is an expression over it that yields the target column's value.
    """

    dsn: str
    sql: str
    label: str  # what reports call it: "smart_warehouse.eligibility.scheme_master"
    table: str | None = None  # "schema.table" when the relation is a plain table (ctid ranges work)
    where: tuple[str, ...] = ()  # SQL predicates ANDed together


@dataclass(frozen=True)
class ColumnSpec:
    """One compared column: its target name, the source and target expressions, its mask."""

    name: str
    source_expr: str
    target_expr: str
    mask: MaskRule = MaskRule.CLEAR
    # Compared on its text form on both sides (types differ, or the type has no hash function).
    as_text: bool = False
    # "integer", "text", "numeric", "date", "timestamptz", "timestamp" or "uuid" when both sides'
    # types are of that family: their hashes then call its hash function directly (``reconcile.scan_sql``).
    family: str | None = None


@dataclass(frozen=True)
class PairSpec:
    """A keyed comparison of a source relation (after mapping and masking) with a target relation."""

    name: str  # the sync name, or "source → target" in generic mode
    source: Relation
    target: Relation
    key: tuple[str, ...]  # target key column names (also the names of the key ColumnSpecs)
    columns: tuple[ColumnSpec, ...]  # every compared column, keys first
    integer_key: bool = False  # one integer key column: sent as is rather than hashed

    @property
    def masked(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.mask is not MaskRule.CLEAR)

    @property
    def hashed(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.mask is MaskRule.CLEAR)

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        msg = f"{self.name}: no compared column {name!r}"
        raise KeyError(msg)


@dataclass(frozen=True)
class SchemaDiff:
    """Columns the comparison expects that one side lacks, or has with another type."""

    missing_in_source: tuple[str, ...] = ()
    missing_in_target: tuple[str, ...] = ()
    retyped: tuple[tuple[str, str, str], ...] = ()  # (column, source type, target type)

    @property
    def empty(self) -> bool:
        return not (self.missing_in_source or self.missing_in_target or self.retyped)


@dataclass(frozen=True)
class ChangedRow:
    key: tuple[Any, ...]
    columns: tuple[str, ...]  # target columns whose values differ


@dataclass(frozen=True)
class TableDiff:
    """The outcome of one keyed comparison."""

    name: str
    source: str
    target: str
    key: tuple[str, ...]
    schema: SchemaDiff
    source_rows: int
    target_rows: int
    # Tuples, or a sorted ``KeyArray`` (one integer key column).
    source_only: Sequence[Key]
    target_only: Sequence[Key]
    changed: tuple[ChangedRow, ...]
    unchanged: int
    source_null_keys: int = 0
    target_null_keys: int = 0
    seconds: float = 0.0
    # Source position of the snapshot the diff saw: every fix is stamped with it.
    snapshot_lsn: int | None = None
    note: str = ""

    @property
    def differing(self) -> int:
        return len(self.source_only) + len(self.target_only) + len(self.changed)

    @property
    def drift_pct(self) -> float:
        """Differing rows as a percentage of the larger side (0 for two empty sides)."""
        base = max(self.source_rows, self.target_rows)
        return 100.0 * self.differing / base if base else 0.0

    def changed_by_column(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.changed:
            for col in row.columns:
                counts[col] = counts.get(col, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class IntegrityCheck:
    """One integrity finding of the weekly reconciliation (0 offenders is a pass)."""

    table: str  # "database.schema.table"
    check: str  # "null keys", "duplicate keys", "orphans: citizen_id"
    offenders: int
    detail: str = ""


@dataclass(frozen=True)
class Report:
    scope: str
    generated_at: datetime
    diffs: tuple[TableDiff, ...]
    integrity: tuple[IntegrityCheck, ...] = ()
    fixed: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def max_drift_pct(self) -> float:
        return max((d.drift_pct for d in self.diffs), default=0.0)
