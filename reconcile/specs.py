"""Pair specs: which rows of which tables a comparison reads, and which columns it compares.

A ``PairSpec`` is built from two table names (``generic_pair``) or from a catalog sync
(``sync_pair``, ``query_pair``), given the live column types. The SQL of the relations
(filters, windows, the daily aggregate, the top-N expectation) derives from the catalog's
declarations here; ``reconcile.engine`` only executes it. Pure: no connection is opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from psycopg import sql

from reconcile.columns import INTEGER_TYPES, base_type, plan_columns, quote_ident, quote_table, schema_diff
from reconcile.model import PairSpec, Relation, SchemaDiff
from smartsync.core.catalog import EventMode, MaskRule
from smartsync.core.errors import ReconcileError
from smartsync.core.tables import SCHEMA, SYNC_COLUMNS

if TYPE_CHECKING:
    from smartsync.core.catalog import Sync

BOOKKEEPING = frozenset(c.name for c in SYNC_COLUMNS)


def literal(value: object) -> str:
    """An SQL literal for a timestamp or date bound (rendered without a connection)."""
    return sql.Literal(value).as_string(None)


@dataclass(frozen=True)
class Planned:
    """A pair spec and the schema diff of the columns it leaves out."""

    spec: PairSpec
    schema: SchemaDiff


def _label(dsn_db: str, name: str) -> str:
    return f"{dsn_db}.{name}"


def plan_pair(
    *,
    name: str,
    source: Relation,
    target: Relation,
    key: Sequence[str],
    mapping: Mapping[str, str],
    expected_source: Mapping[str, str | None],
    masks: Mapping[str, MaskRule],
    source_types: Mapping[str, str],
    target_types: Mapping[str, str],
) -> Planned:
    """A ``PairSpec`` over the columns both sides have, and the schema diff of the rest.

    ``source_types`` are keyed by *target* column name (the type of what the source yields).
    Refuses a key column that is missing, or typed incompatibly, on either side.
    """
    live_source = {str(expected_source[c]): t for c, t in source_types.items() if expected_source.get(c)}
    sd = schema_diff(expected_source, live_source, target_types)
    for k in key:
        if k not in target_types:
            msg = f"key column {k!r} is missing in {target.label}"
            raise ReconcileError(msg, hint="give key columns both tables have")
        if k not in source_types:
            msg = f"key column {k!r} is missing in {source.label}"
            raise ReconcileError(msg, hint="give key columns both tables have")
    columns = plan_columns(mapping, key, masks, source_types, target_types)
    for col in columns:
        if (
            col.name in key
            and col.as_text
            and not (
                base_type(source_types[col.name]) in INTEGER_TYPES
                and base_type(target_types[col.name]) in INTEGER_TYPES
            )
        ):
            msg = (
                f"type mismatch on key column {col.name!r}: {source_types[col.name]} in {source.label}, "
                f"{target_types[col.name]} in {target.label}"
            )
            raise ReconcileError(
                msg,
                hint="compare tables whose key columns have the same type",
            )
    integer_key = (
        len(key) == 1
        and base_type(target_types[key[0]]) in INTEGER_TYPES
        and base_type(source_types[key[0]]) in INTEGER_TYPES
    )
    spec = PairSpec(name, source, target, tuple(key), columns, integer_key)
    return Planned(spec, sd)


# ── generic mode ────────────────────────────────────────────────────────────────────────


def generic_pair(
    *,
    source_dsn: str,
    target_dsn: str,
    source_table: str,
    target_table: str,
    key: Sequence[str],
    source_types: Mapping[str, str],
    target_types: Mapping[str, str],
    columns: Sequence[str] | None = None,
) -> Planned:
    """Any two tables: the columns of the source (or ``columns``), matched by name, bookkeeping ignored."""
    wanted = list(columns) if columns else [c for c in source_types if c not in BOOKKEEPING]
    if columns:
        unknown = [c for c in columns if c not in source_types and c not in target_types]
        if unknown:
            msg = f"unknown column(s) {unknown} in both tables"
            raise ReconcileError(msg, hint="check --columns")
    for k in key:
        if k not in wanted:
            wanted.insert(0, k)
    mapping = {c: quote_ident(c) for c in wanted}
    src = Relation(source_dsn, quote_table(source_table), f"source {source_table}", source_table)
    tgt = Relation(target_dsn, quote_table(target_table), f"target {target_table}", target_table)
    return plan_pair(
        name=f"{source_table} → {target_table}",
        source=src,
        target=tgt,
        key=key,
        mapping=mapping,
        expected_source={c: c for c in wanted},
        masks={},
        source_types={c: t for c, t in source_types.items() if c in mapping},
        target_types={c: t for c, t in target_types.items() if c in mapping},
    )


# ── catalog syncs ───────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Window:
    """Which source rows a run compares: all of them, rows since a bound, or one aggregated day."""

    since: datetime | None = None  # watermark_column >= since
    column: str | None = None
    day_start: datetime | None = None  # aggregate: [day_start, day_end)
    day_end: datetime | None = None


def sync_pair(
    sync: Sync,
    *,
    source_dsn: str,
    target_dsn: str,
    source_types: Mapping[str, str],
    target_types: Mapping[str, str],
    window: Window | None = None,
) -> Planned:
    """The comparison of a mirror (or batch) sync: mapped source columns vs the target, masked."""
    window = window or Window()
    where: list[str] = []
    if sync.source_filter:
        where.append(sync.source_filter)
    if window.since is not None and window.column:
        where.append(f"{quote_ident(window.column)} >= {literal(window.since)}")
    src_label = _label(sync.source_database.value, sync.source)
    tgt_label = _label(sync.target_database.value, sync.target)
    src = Relation(source_dsn, quote_table(sync.source), src_label, sync.source, tuple(where))
    tgt = Relation(target_dsn, quote_table(sync.target), tgt_label, sync.target)
    mapped = {t: c.source for t, c in sync.columns.items() if c.source is not None}
    types = {t: source_types[s] for t, s in mapped.items() if s in source_types}
    masks = sync.masks() if sync.citizen_bound else {}
    return plan_pair(
        name=sync.name,
        source=src,
        target=tgt,
        key=sync.key,
        mapping={t: quote_ident(s) for t, s in mapped.items()},
        expected_source=dict(mapped),
        masks=masks,
        source_types=types,
        target_types={t: v for t, v in target_types.items() if t in mapped},
    )


def aggregate_sql(sync: Sync, day_start: datetime, day_end: datetime, watermark_column: str) -> str:
    """The source query of an aggregate sync over ``[day_start, day_end)``, grouped by its key columns.

    The catalog gives each target column a source column or an SQL expression; the key
    columns are the grouping, every other expression is an aggregate.
    """
    selects: list[str] = []
    groups: list[str] = []
    for tcol, col in sync.columns.items():
        expr = quote_ident(col.source) if col.source is not None else str(col.expr)
        selects.append(f"{expr} AS {quote_ident(tcol)}")
        if tcol in sync.key:
            groups.append(expr)
    wm = quote_ident(watermark_column)
    query = (
        f"(SELECT {', '.join(selects)} FROM {quote_table(sync.source)} "
        f"WHERE {wm} >= {literal(day_start)} AND {wm} < {literal(day_end)} GROUP BY {', '.join(groups)})"
    )
    return query


def query_pair(
    sync: Sync,
    *,
    query: str,
    source_label: str,
    source_dsn: str,
    target_dsn: str,
    query_types: Mapping[str, str],
    target_types: Mapping[str, str],
    target_where: Sequence[str] = (),
) -> Planned:
    """A query that yields target-named columns (a day's aggregate, a top-N selection) vs the target."""
    src = Relation(source_dsn, f"{query} AS _q", source_label)
    tgt = Relation(
        target_dsn,
        quote_table(sync.target),
        _label(sync.target_database.value, sync.target),
        sync.target,
        tuple(target_where),
    )
    cols = list(sync.columns)
    return plan_pair(
        name=sync.name,
        source=src,
        target=tgt,
        key=sync.key,
        mapping={c: quote_ident(c) for c in cols},
        expected_source=dict.fromkeys(cols),
        masks=sync.masks() if sync.citizen_bound else {},
        source_types={c: t for c, t in query_types.items() if c in cols},
        target_types={t: v for t, v in target_types.items() if t in cols},
    )


def top_n_sql(sync: Sync) -> str:
    """The rows a top-N sync's target should hold: each group's top N by rank, ties by key.

    Mirrors the event path's rule (``connectors.debezium.envelope.top_items``): included statuses
    only, highest rank first, ties broken by the key in code-point order.
    """
    spec = sync.top_n
    if spec is None or sync.event_mode is not EventMode.TOP_N:
        msg = f"sync {sync.name!r} is not a top-N sync"
        raise ReconcileError(msg)
    cols = ", ".join(f"{quote_ident(c.source)} AS {quote_ident(t)}" for t, c in sync.columns.items() if c.source)
    part = ", ".join(quote_ident(c) for c in spec.group_by)
    source = SCHEMA.table(sync.source_database, sync.source)
    ties = [
        quote_ident(k) + (' COLLATE "C"' if base_type(source.column(k).sql_type) == "text" else "") for k in sync.key
    ]
    order = ", ".join([f"{quote_ident(spec.rank_by)} DESC", *ties])
    statuses = ", ".join(literal(s) for s in spec.included_statuses)
    return (
        f"(SELECT * FROM (SELECT {cols}, row_number() OVER (PARTITION BY {part} ORDER BY {order}) AS _rank "
        f"FROM {quote_table(sync.source)} WHERE {quote_ident(spec.status_column)} IN ({statuses})) AS _r "
        f"WHERE _rank <= {int(spec.n)})"
    )
