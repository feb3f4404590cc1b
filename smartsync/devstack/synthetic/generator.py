"""Column-wise generation of every sync source table, as Arrow tables.

Rows are generated in aligned chunks of ``CHUNK_ROWS``. A column's random numbers come
from a generator keyed by (seed, entity, column, chunk number), so:

- the same seed, scale and anchor give identical rows;
- the first ``n`` rows of a table do not depend on how many rows are asked for;
- tables of the same *entity* share values: golden records, profile_360 and the portal's
  citizens are the same people (row ``i`` is citizen ``i + 1`` everywhere), and the
  portal's service applications are the first applications of ``decision.applications``.

Which source tables exist comes from the catalog; their columns come from
``smartsync.core.tables``; the value of each column comes from the generators that
``columns.SPECS`` names (``people``, ``schemes``, ``activity``). A column without a generator
there gets a plain value of its SQL type (``unmapped_columns()`` lists such columns; a unit
test keeps it empty).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from smartsync.core.catalog import Catalog, load_catalog
from smartsync.core.tables import SCHEMA, SYNC_COLUMNS, Column, Database, Table
from smartsync.devstack.synthetic import ids, vocab
from smartsync.devstack.synthetic.columns import COMMON, SIZING, SPECS
from smartsync.devstack.synthetic.draw import F64, HOUSEHOLD, I64, US_PER_DAY, ColumnFn, Nullable, Spec, Values
from smartsync.devstack.synthetic.vocab import DEFAULT_SEED

CHUNK_ROWS = 50_000  # a multiple of every group size used below (households, evaluations)

_SYNC_COLUMN_NAMES = frozenset(c.name for c in SYNC_COLUMNS)


# ── The world: sizes and shared lookups for one (seed, scale, anchor) ─────────────────


@dataclass(frozen=True)
class World:
    """Everything a chunk needs besides its own rows."""

    seed: int
    scale: float
    anchor_us: int  # "now" of the data set (microseconds since the epoch), a UTC midnight
    catalog: Catalog = field(repr=False, compare=False)

    @functools.cached_property
    def rows(self) -> dict[Table, int]:
        return rows_at_scale(self.scale, self.catalog)

    @functools.cached_property
    def people(self) -> int:
        return self.rows[_source_of(self.catalog, "golden_records")]

    @functools.cached_property
    def active_schemes(self) -> pa.StringArray:
        """Codes of the schemes whose status is active: the ones citizens deal with."""
        table = _source_of(self.catalog, "scheme_master")
        schemes = generate(table, self.rows[table], world=self)
        active = pc.equal(schemes["status"], "active")
        return schemes["scheme_code"].filter(active).combine_chunks()

    @functools.cached_property
    def portal_applications(self) -> int:
        return self.rows[_source_of(self.catalog, "application_submissions")]

    def column_of(self, sync: str, column: str, index: I64) -> pa.Array:
        """Values of ``column`` at global row ``index`` of a sync's source table."""
        table = _source_of(self.catalog, sync)
        spec = SPECS[sync]
        out: list[pa.Array] = []
        positions: list[I64] = []
        chunks = index // CHUNK_ROWS
        for k in np.unique(chunks):
            start = int(k) * CHUNK_ROWS
            n = min(CHUNK_ROWS, self.rows[table] - start)
            chunk = Chunk(self, table, spec, start, n)
            where = np.flatnonzero(chunks == k)
            out.append(pc.take(chunk.array(column), index[where] - start))
            positions.append(where)
        merged = pa.concat_arrays(out) if out else pa.array([], pa.int64())
        order = np.argsort(np.concatenate(positions)) if positions else np.array([], dtype=np.int64)
        return pc.take(merged, order)


def make_world(seed: int = DEFAULT_SEED, scale: float = 1.0, anchor: datetime | None = None) -> World:
    return World(seed=seed, scale=scale, anchor_us=_anchor_us(anchor), catalog=load_catalog())


def default_anchor() -> datetime:
    """Midnight (UTC) of today: behaviour events then fill the previous UTC day."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def _anchor_us(anchor: datetime | None) -> int:
    anchor = anchor or default_anchor()
    if anchor.tzinfo is None:
        msg = "anchor must be timezone-aware (UTC)"
        raise ValueError(msg)
    return int(anchor.timestamp()) * 1_000_000 + anchor.microsecond


# ── A chunk of rows being generated ───────────────────────────────────────────────────


class Chunk:
    """Rows ``start .. start + n`` of one table; columns are generated lazily and cached."""

    world: World
    table: Table
    spec: Spec
    start: int
    n: int
    index: I64

    def __init__(self, world: World, table: Table, spec: Spec, start: int, n: int) -> None:
        self.world = world
        self.table = table
        self.spec = spec
        self.start = start
        self.n = n
        self.index = np.arange(start, start + n, dtype=np.int64)
        self._values: dict[str, Values] = {}

    @property
    def anchor(self) -> int:
        return self.world.anchor_us

    def rng(self, stream: str) -> np.random.Generator:
        """The random numbers of one stream of this chunk: draw from it once, so that the
        first rows do not depend on how many rows the chunk has."""
        key = [
            self.world.seed,
            zlib.crc32(self.spec.entity.encode()),
            zlib.crc32(stream.encode()),
            self.start // CHUNK_ROWS,
        ]
        return np.random.default_rng(key)

    def key(self, stream: str) -> int:
        """A stable integer key for keyed permutations."""
        return zlib.crc32(f"{self.world.seed}:{self.spec.entity}:{stream}".encode())

    def get(self, column: str) -> Values:
        if column not in self._values:
            self._values[column] = _generator(self.spec, column, self.table)(self)
        return self._values[column]

    def array(self, column: str) -> pa.Array:
        """The column as Arrow, typed like the table's column (or as generated)."""
        values = self.get(column)
        if column in self.table.column_names:
            return to_arrow(values, self.table.column(column))
        return values if isinstance(values, pa.Array) else pa.array(values)

    def numbers(self, column: str) -> npt.NDArray[Any]:
        values = self.get(column)
        if isinstance(values, Nullable):
            return values.values
        if isinstance(values, pa.Array):
            return np.asarray(values.to_numpy(zero_copy_only=False))
        return np.asarray(values)

    def grouped(self, values: npt.NDArray[Any], size: int) -> npt.NDArray[Any]:
        """Each row takes the value of the first row of its group of ``size`` rows."""
        local = np.arange(self.n)
        return np.asarray(values[local - local % size])


# ── Table specs ───────────────────────────────────────────────────────────────────────


def _generator(spec: Spec, column: str, table: Table) -> ColumnFn:
    """The spec's generator of a column, else the shared one, else the type fallback."""
    found = spec.columns.get(column) or COMMON.get(column)
    if found is not None:
        return found
    if column in table.column_names:
        return _fallback(table.column(column))
    msg = f"no generator for helper column {column!r}"
    raise KeyError(msg)


def _source_of(catalog: Catalog, sync: str) -> Table:
    found = catalog.sync(sync)
    return SCHEMA.table(found.source_database, found.source)


def source_tables(catalog: Catalog | None = None) -> tuple[Table, ...]:
    """Every source table of every sync, warehouse first, in the catalog's order."""
    catalog = catalog or load_catalog()
    found = {_source_of(catalog, s.name): None for s in catalog.syncs}
    return tuple(sorted(found, key=lambda t: t.database is not Database.WAREHOUSE))


def spec_for(table: Table, catalog: Catalog | None = None) -> tuple[str, Spec]:
    catalog = catalog or load_catalog()
    for sync in catalog.syncs:
        if sync.source_database == table.database and sync.source == table.qualified_name:
            return sync.name, SPECS[sync.name]
    msg = f"{table.database}.{table.qualified_name} is not the source of any sync"
    raise KeyError(msg)


def rows_at_scale(scale: float, catalog: Catalog | None = None) -> dict[Table, int]:
    """Rows of each source table at a scale: 1.0 is the seeds' daily volumes.

    Every table scales with its sync's ``volume_per_day``, except: the portal's citizens
    are all the people of the golden records; the scheme master is reference data and
    keeps its ~200 schemes at any scale; eligibility snapshots come in whole evaluations
    of ``SCHEMES_PER_EVALUATION`` schemes per citizen.
    """
    if scale <= 0:
        msg = f"scale must be positive, got {scale}"
        raise ValueError(msg)
    catalog = catalog or load_catalog()
    out: dict[Table, int] = {}
    people = max(HOUSEHOLD, round(catalog.sync("golden_records").volume_per_day * scale))
    for sync in catalog.syncs:
        table = _source_of(catalog, sync.name)
        kind = SIZING.get(sync.name)
        if kind == "people":
            n = people
        elif kind == "fixed":
            n = sync.volume_per_day
        elif kind == "evaluations":
            per = vocab.SCHEMES_PER_EVALUATION
            n = per * min(people, max(1, round(sync.volume_per_day * scale / per)))
        else:
            n = max(1, round(sync.volume_per_day * scale))
        out[table] = n
    return out


def generate(
    table: Table | str,
    n: int | None = None,
    seed: int = DEFAULT_SEED,
    *,
    scale: float = 1.0,
    anchor: datetime | None = None,
    world: World | None = None,
) -> pa.Table:
    """The first ``n`` rows (default: the table's rows at ``scale``) of a source table."""
    batches = list(iter_batches(table, n, seed, scale=scale, anchor=anchor, world=world))
    return pa.concat_tables(batches) if batches else _empty(resolve_table(table))


def iter_batches(
    table: Table | str,
    n: int | None = None,
    seed: int = DEFAULT_SEED,
    *,
    scale: float = 1.0,
    anchor: datetime | None = None,
    world: World | None = None,
) -> Iterator[pa.Table]:
    """The same rows as ``generate``, as Arrow tables of at most ``CHUNK_ROWS`` rows."""
    world = world or make_world(seed, scale, anchor)
    resolved = resolve_table(table)
    sync, spec = spec_for(resolved, world.catalog)
    del sync
    total = world.rows[resolved] if n is None else n
    cols = loaded_columns(resolved)
    for start in range(0, total, CHUNK_ROWS):
        chunk = Chunk(world, resolved, spec, start, min(CHUNK_ROWS, total - start))
        yield pa.table({c.name: chunk.array(c.name) for c in cols})


def resolve_table(table: Table | str) -> Table:
    """A source table from its declaration or its qualified name ("schema.table")."""
    if isinstance(table, Table):
        return table
    matches = [t for t in source_tables() if table in {t.qualified_name, f"{t.database}.{t.qualified_name}"}]
    if len(matches) != 1:
        known = ", ".join(t.qualified_name for t in source_tables())
        msg = f"{table!r} is not a sync source table; known: {known}"
        raise KeyError(msg)
    return matches[0]


def loaded_columns(table: Table) -> tuple[Column, ...]:
    """The columns the generator fills: all but the sync bookkeeping columns."""
    return tuple(c for c in table.columns if c.name not in _SYNC_COLUMN_NAMES)


def unmapped_columns(catalog: Catalog | None = None) -> list[str]:
    """``database.schema.table.column`` of every source column filled by the type fallback."""
    catalog = catalog or load_catalog()
    out = []
    for table in source_tables(catalog):
        _, spec = spec_for(table, catalog)
        for col in loaded_columns(table):
            if col.name not in spec.columns and col.name not in COMMON:
                out.append(f"{table.database}.{table.qualified_name}.{col.name}")
    return out


# ── Arrow conversion ──────────────────────────────────────────────────────────────────


def arrow_type(sql_type: str) -> pa.DataType:
    base = sql_type.split("(", 1)[0].strip().lower()
    simple: dict[str, pa.DataType] = {
        "bigint": pa.int64(),
        "integer": pa.int32(),
        "int": pa.int32(),
        "smallint": pa.int16(),
        "text": pa.string(),
        "uuid": pa.string(),
        "date": pa.date32(),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "boolean": pa.bool_(),
        "double precision": pa.float64(),
        "jsonb": pa.string(),
    }
    if base == "numeric":
        precision, scale = (int(p) for p in sql_type.split("(", 1)[1].rstrip(")").split(","))
        return pa.decimal128(precision, scale)
    if base not in simple:
        msg = f"no Arrow type for SQL type {sql_type!r}"
        raise KeyError(msg)
    return simple[base]


def to_arrow(values: Values, column: Column) -> pa.Array:
    kind = arrow_type(column.sql_type)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == kind else values.cast(kind)
    nulls = None
    if isinstance(values, Nullable):
        values, nulls = values
    if pa.types.is_date(kind):
        values = np.asarray(values).astype(np.int32)
    elif pa.types.is_timestamp(kind):
        values = np.asarray(values).astype(np.int64)
    elif pa.types.is_integer(kind):
        values = np.asarray(values).astype(kind.to_pandas_dtype())
    if pa.types.is_decimal(kind):
        arr = _decimals(np.asarray(values, dtype=np.float64), kind)
        return arr if nulls is None else pc.if_else(pa.array(nulls), pa.scalar(None, kind), arr)
    return pa.array(values, type=kind, mask=nulls)


def _decimals(values: F64, kind: pa.Decimal128Type) -> pa.Array:
    """Exact decimals: round to the scale, store the scaled integer as a 128-bit value."""
    scaled = np.rint(values * 10**kind.scale).astype(np.int64)
    words = np.empty((len(scaled), 2), dtype=np.int64)
    words[:, 0] = scaled
    words[:, 1] = scaled >> 63  # sign extension of a little-endian two's-complement int128
    return pa.Array.from_buffers(kind, len(scaled), [None, pa.py_buffer(words)])


def _empty(table: Table) -> pa.Table:
    return pa.table({c.name: pa.array([], arrow_type(c.sql_type)) for c in loaded_columns(table)})


def _fallback(column: Column) -> ColumnFn:
    """A plain value of the column's type: NULL where allowed, else something valid."""

    def fn(c: Chunk) -> Values:
        kind = arrow_type(column.sql_type)
        if column.nullable:
            return pa.nulls(c.n, kind)
        if pa.types.is_string(kind):
            if column.sql_type == "uuid":
                return ids.uuid4_strings(c.rng(column.name), c.n)
            return pc.binary_join_element_wise(f"{column.name}-", pc.cast(pa.array(c.index + 1), pa.string()), "")
        if pa.types.is_timestamp(kind):
            return np.full(c.n, c.anchor - 1, dtype=np.int64)
        if pa.types.is_date(kind):
            return np.full(c.n, c.anchor // US_PER_DAY - 1, dtype=np.int64)
        return np.zeros(c.n)

    return fn
