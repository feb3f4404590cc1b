"""How each sync of the catalog is compared, planned against the live databases.

- mirror syncs (and the scheme master's full refresh): the mapped, masked, filtered source
  table against the target, row by row; a fix upserts and deletes;
- the top-N sync (eligibility hints): each group's top N computed from the source, the same
  rule as the event path, against the target; a fix upserts and deletes;
- the aggregate sync (user behaviour): the catalog's aggregates over given UTC days against
  the target's rows of those days; a fix upserts and deletes;
- the batch append sync (feedback): row by row like a mirror, but a fix never deletes;
- the append event sync (application events, one row per change): not a mirror, so the
  current source rows are compared with the *latest* event of each key; report only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg

from masking import check_live_columns, check_policy
from reconcile.diff import quote_ident, quote_table
from reconcile.engine import DiffOutcome, connect, diff_pair, has_unique_key, live_columns, query_columns
from reconcile.model import PairSpec, Relation
from reconcile.pairs import BOOKKEEPING, Planned, Window, aggregate_sql, literal, plan, query_pair, sync_pair, top_n_sql
from smartsync.core.catalog import BatchMode, EventMode, Sync
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import Settings
from smartsync.core.tables import SCHEMA


class Kind(StrEnum):
    MIRROR = "mirror"
    TOP_N = "top_n"
    AGGREGATE = "aggregate"
    APPEND = "append"  # batch append: compared like a mirror, fixed without deletes
    EVENT_LOG = "event_log"  # append event sync: latest event per key, report only


def kind_of(sync: Sync) -> Kind:
    if sync.event_mode is EventMode.TOP_N:
        return Kind.TOP_N
    if sync.event_mode is EventMode.APPEND:
        return Kind.EVENT_LOG
    modes = {s.mode for s in sync.schedules}
    if BatchMode.AGGREGATE in modes:
        return Kind.AGGREGATE
    if BatchMode.APPEND in modes and not sync.has_event_path:
        return Kind.APPEND
    return Kind.MIRROR


def fixable(kind: Kind) -> bool:
    return kind is not Kind.EVENT_LOG


def owns_target(sync: Sync) -> bool:
    """True when the sync writes every column of its target: the target is a pure copy.

    A target that holds more (the warehouse's golden records, enriched by other processes)
    keeps rows the source lacks: a fix then upserts but never deletes.
    """
    target = SCHEMA.table(sync.target_database, sync.target)
    return {c for c in target.column_names if c not in BOOKKEEPING} <= set(sync.columns)


def deletes_on_fix(kind: Kind, sync: Sync) -> bool:
    return kind in (Kind.MIRROR, Kind.TOP_N, Kind.AGGREGATE) and owns_target(sync)


def fix_order(syncs: list[Sync]) -> list[Sync]:
    """Syncs ordered so that one reading a table comes after the sync that writes it."""
    writes = {(s.target_database, s.target): s for s in syncs}
    done: list[Sync] = []
    seen: set[str] = set()

    def visit(sync: Sync) -> None:
        if sync.name in seen:
            return
        seen.add(sync.name)
        upstream = writes.get((sync.source_database, sync.source))
        if upstream is not None:
            visit(upstream)
        done.append(sync)

    for sync in syncs:
        visit(sync)
    return done


def day_column(sync: Sync) -> str:
    """The key column of an aggregate sync that holds the day (a computed key column)."""
    for name in sync.key:
        if sync.columns[name].expr is not None:
            return name
    msg = f"sync {sync.name!r}: no computed key column holds the aggregated day"
    raise ReconcileError(msg, hint="give the day column an expr= in the catalog")


def aggregate_source_column(sync: Sync) -> str:
    for sch in sync.schedules:
        if sch.mode is BatchMode.AGGREGATE and sch.watermark_column:
            return sch.watermark_column
    msg = f"sync {sync.name!r}: its aggregate schedule names no watermark column"
    raise ReconcileError(msg, hint="set watermark_column on the schedule")


@dataclass(frozen=True)
class Live:
    source_columns: dict[str, str]
    target_columns: dict[str, str]
    unique: tuple[bool, bool]


Conns = tuple[psycopg.Connection[Any], psycopg.Connection[Any]]


def connect_pair(sync: Sync, settings: Settings) -> Conns:
    """Connections to the sync's source and target database (the caller closes them)."""
    sconn = connect(settings.dsn(sync.source_database), what=sync.source_database.value)
    try:
        return sconn, connect(settings.dsn(sync.target_database), what=sync.target_database.value)
    except BaseException:
        sconn.close()
        raise


def read_live(sync: Sync, conns: Conns) -> Live:
    """Live column types and key uniqueness of both tables; refuses a policy-breaking source."""
    sconn, tconn = conns
    scols = live_columns(sconn, sync.source, what=sync.source_database.value)
    tcols = live_columns(tconn, sync.target, what=sync.target_database.value)
    # Default deny: a column added to the source since the catalog was written stops the job.
    check_live_columns(sync, scols)
    mapped_key = tuple(sync.columns[k].source for k in sync.key)
    unique_src = None not in mapped_key and has_unique_key(sconn, sync.source, [str(k) for k in mapped_key])
    unique_tgt = has_unique_key(tconn, sync.target, list(sync.key))
    return Live(scols, tcols, (unique_src, unique_tgt))


def plan_sync(
    sync: Sync,
    settings: Settings,
    *,
    conns: Conns,
    window: Window | None = None,
    days: tuple[datetime, datetime] | None = None,
) -> tuple[Planned, Live, Kind]:
    """The comparison of one sync (its kind decides how), planned against the live tables (on ``conns``)."""
    kind = kind_of(sync)
    live = read_live(sync, conns)
    sdsn, tdsn = settings.dsn(sync.source_database), settings.dsn(sync.target_database)
    if kind in (Kind.MIRROR, Kind.APPEND):
        planned = sync_pair(
            sync, source_dsn=sdsn, target_dsn=tdsn, source_types=live.source_columns,
            target_types=live.target_columns, window=window,
        )
        return planned, live, kind
    if kind is Kind.TOP_N:
        query = top_n_sql(sync)
        label = f"{sync.source_database.value}.{sync.source} (top {sync.top_n.n if sync.top_n else '?'})"
        # The source side is unique by construction (one row per group and rank).
        planned = _query_plan(sync, settings, conns[0], query=query, label=label, live=live, target_where=())
        return planned, Live(live.source_columns, live.target_columns, (True, live.unique[1])), kind
    if kind is Kind.AGGREGATE:
        if days is None:
            msg = f"sync {sync.name!r}: an aggregate comparison needs a day range"
            raise ReconcileError(msg)
        start, end = days
        query, _ = aggregate_sql(sync, start, end, aggregate_source_column(sync))
        col = quote_ident(day_column(sync))
        where = (f"{col} >= {literal(start.date())} AND {col} < {literal(end.date())}",)
        label = f"{sync.source_database.value}.{sync.source} (aggregated)"
        planned = _query_plan(sync, settings, conns[0], query=query, label=label, live=live, target_where=where)
        return planned, Live(live.source_columns, live.target_columns, (True, live.unique[1])), kind
    # DISTINCT ON makes the target side unique by construction.
    return _event_log_plan(sync, settings, live), Live(live.source_columns, live.target_columns, (True, True)), kind


def _query_plan(
    sync: Sync,
    settings: Settings,
    sconn: psycopg.Connection[Any],
    *,
    query: str,
    label: str,
    live: Live,
    target_where: tuple[str, ...],
) -> Planned:
    sdsn, tdsn = settings.dsn(sync.source_database), settings.dsn(sync.target_database)
    try:
        qtypes = query_columns(sconn, query)
    except psycopg.Error as exc:
        msg = f"sync {sync.name!r}: its source query failed: {exc}"
        raise ReconcileError(msg) from None
    return query_pair(
        sync, query=query, source_label=label, source_dsn=sdsn, target_dsn=tdsn, query_types=qtypes,
        target_types=live.target_columns, target_where=target_where,
    )


def _event_log_plan(sync: Sync, settings: Settings, live: Live) -> Planned:
    """An append event sync: current source rows vs the latest event per source key."""
    source_table = SCHEMA.table(sync.source_database, sync.source)
    by_source = {c.source: t for t, c in sync.columns.items() if c.source is not None}
    key = tuple(by_source[k] for k in source_table.primary_key if k in by_source)
    if len(key) != len(source_table.primary_key):
        msg = f"sync {sync.name!r}: the source key is not mapped into the target"
        raise ReconcileError(msg)
    order_col = next((t for t, c in sync.columns.items() if c.expr == "source_lsn"), None)
    if order_col is None:
        msg = f"sync {sync.name!r}: an append sync needs a source_lsn column to find the latest event"
        raise ReconcileError(msg)
    tcols = [t for t, c in sync.columns.items() if c.source is not None]
    keys = ", ".join(quote_ident(k) for k in key)
    target_query = (
        f"(SELECT DISTINCT ON ({keys}) {', '.join(quote_ident(c) for c in tcols)} FROM {quote_table(sync.target)} "
        f"ORDER BY {keys}, {quote_ident(order_col)} DESC)"
    )
    sdsn, tdsn = settings.dsn(sync.source_database), settings.dsn(sync.target_database)
    source = Relation(sdsn, quote_table(sync.source), f"{sync.source_database.value}.{sync.source}", sync.source)
    target = Relation(tdsn, f"{target_query} AS _latest", f"{sync.target_database.value}.{sync.target} (latest event per key)")
    mapped = {t: c.source for t, c in sync.columns.items() if c.source is not None}
    return plan(
        name=sync.name, source=source, target=target, key=key,
        mapping={t: quote_ident(s) for t, s in mapped.items()}, expected_source=dict(mapped), masks={},
        source_types={t: live.source_columns[s] for t, s in mapped.items() if s in live.source_columns},
        target_types={t: v for t, v in live.target_columns.items() if t in mapped},
    )


def run_diff(
    sync: Sync,
    settings: Settings,
    *,
    window: Window | None = None,
    days: tuple[datetime, datetime] | None = None,
    restrict_target: bool = False,
    keep_rows: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> tuple[DiffOutcome, Kind, PairSpec]:
    # Refuse an incomplete masking policy before reading anything; the diff masks column-wise
    # with the same rules (``PairSpec.masked``), and a fix writes those masked values.
    check_policy(sync)
    conns = connect_pair(sync, settings)
    try:
        return _run_diff(sync, settings, conns, window=window, days=days, restrict_target=restrict_target,
                         keep_rows=keep_rows, on_step=on_step)
    finally:
        for conn in conns:
            conn.close()


def _run_diff(
    sync: Sync,
    settings: Settings,
    conns: Conns,
    *,
    window: Window | None,
    days: tuple[datetime, datetime] | None,
    restrict_target: bool,
    keep_rows: bool,
    on_step: Callable[[str], None] | None,
) -> tuple[DiffOutcome, Kind, PairSpec]:
    planned, live, kind = plan_sync(sync, settings, conns=conns, window=window, days=days)
    note = {
        Kind.EVENT_LOG: "append log: current source rows vs the latest event of each key (report only)",
        Kind.TOP_N: "expected top N per group computed from the source",
        Kind.AGGREGATE: "aggregates recomputed from the raw events",
        Kind.APPEND: "append: a fix never deletes",
        Kind.MIRROR: "" if owns_target(sync) else "the target holds more than this sync writes: a fix never deletes",
    }[kind]
    outcome = diff_pair(
        planned.spec,
        max_connections=settings.batch_max_connections,
        schema=planned.schema,
        stamp=fixable(kind),
        unique=live.unique,
        restrict_target=restrict_target,
        keep_rows=keep_rows and fixable(kind),
        on_step=on_step,
        note=note,
        conns=conns,  # the snapshots are taken on the connections that read the catalog
    )
    return outcome, kind, planned.spec

