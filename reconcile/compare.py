"""Compare a catalog sync, and fix it: the one way every caller diffs and repairs a pair.

``compare`` plans the sync against its live tables (its kind decides how: ``reconcile.kinds``)
and runs ``reconcile.engine.compare_pair`` on the connections that read the catalog.
``compare_and_fix`` also writes the difference (``reconcile.apply``): the batch jobs, the
reports and ``smartsync reconcile diff --fix`` all repair through it. Any two tables, with no sync
of the catalog, are compared by ``reconcile.generic``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from connectors.postgres.apply import ApplyResult
from masking import check_live_columns, check_policy
from reconcile.apply import MASS_DELETE_HINT, apply_plan, mass_delete_refusal, plan_changes, plan_events
from reconcile.columns import quote_ident, quote_table
from reconcile.connections import connect, has_unique_key, live_columns, query_columns
from reconcile.cron import last_days
from reconcile.engine import Comparison, compare_pair
from reconcile.fix_rows import FixRows
from reconcile.kinds import Kind, aggregate_source_column, day_column, deletes_on_fix, fixable, kind_of, note_for
from reconcile.model import Relation, TableDiff
from reconcile.snapshots import Keeper, SnapshotPolicy
from reconcile.specs import (
    Planned,
    Window,
    aggregate_sql,
    literal,
    plan_pair,
    query_pair,
    sync_pair,
    top_n_sql,
)
from reconcile.store import EngineLimits
from smartsync.core.catalog import Sync
from smartsync.core.errors import ReconcileError
from smartsync.core.redact import db_error
from smartsync.core.settings import Settings
from smartsync.core.tables import SCHEMA

Step = Callable[[str], None]
Conns = tuple[psycopg.Connection[Any], psycopg.Connection[Any]]


@dataclass(frozen=True)
class FixOutcome:
    """What ``compare_and_fix`` found and wrote; ``applied`` is ``None`` for a report-only kind."""

    comparison: Comparison
    applied: ApplyResult | None

    @property
    def diff(self) -> TableDiff:
        return self.comparison.diff


def compare(
    sync: Sync,
    settings: Settings,
    *,
    window: Window | None = None,
    days: tuple[datetime, datetime] | None = None,
    restrict_target: bool = False,
    keep_rows: bool = False,
    on_step: Step | None = None,
) -> Comparison:
    """Compare one catalog sync's source with its target.

    ``window`` limits the source rows (an incremental); ``restrict_target`` then compares only
    the target rows of the window's keys. ``days`` are the UTC days an aggregate sync
    recomputes (other kinds ignore them; default: the last complete day). ``keep_rows`` keeps
    the source snapshot open for a fix to read its rows from (close the comparison after).
    """
    # Refuse an incomplete masking policy before reading anything; the diff masks column-wise
    # with the same rules (``PairSpec.masked``), and a fix writes those masked values.
    check_policy(sync)
    kind = kind_of(sync)
    conns = connect_pair(sync, settings)
    found: Comparison | None = None
    try:
        planned, live = plan_sync(sync, settings, conns=conns, window=window, days=days)
        found = compare_pair(
            planned.spec,
            max_connections=settings.batch_max_connections,
            schema=planned.schema,
            stamp=fixable(kind),
            unique=live.unique,
            restrict_target=restrict_target,
            keep_rows=keep_rows and fixable(kind),
            on_step=on_step,
            note=note_for(kind, sync),
            conns=conns,  # the snapshots are taken on the connections that read the catalog
            limits=EngineLimits.of(settings),
            # A full comparison keeps both sides as Parquet (`smartsync reconcile changes`).
            on_sides=Keeper(SnapshotPolicy.of(settings), planned.spec) if window is None else None,
            column_hashes=window is None,
        )
        return found
    finally:
        for conn in conns:
            # The source snapshot a fix reads its rows from stays open with the comparison.
            if found is None or not isinstance(found.fix_rows, FixRows) or not found.fix_rows.holds(conn):
                conn.close()


def compare_and_fix(
    sync: Sync,
    settings: Settings,
    *,
    window: Window | None = None,
    days: tuple[datetime, datetime] | None = None,
    restrict_target: bool = False,
    deletes: bool | None = None,
    on_compared: Callable[[Comparison], None] | None = None,
    after: Callable[[psycopg.Connection[Any], Comparison], None] | None = None,
    on_step: Step | None = None,
    allow_mass_delete: bool = False,
) -> FixOutcome:
    """Compare one catalog sync (as ``compare``) and write the difference to its target.

    ``deletes`` overrides the kind's rule (``deletes_on_fix``): an incremental's window never
    proves a row is gone. ``on_compared`` sees the comparison before anything is written;
    ``after`` runs in the fix's transaction (a job's watermark goes there). Refuses to write
    while columns are missing on a side; a report-only kind is compared and left alone.

    Guard rail: a fix that would delete more than ``batch_max_delete_pct`` of the target (and
    more than ``batch_mass_delete_floor_rows``) is refused, nothing written, unless
    ``allow_mass_delete``: an emptied or truncated source must not empty the target.
    """
    kind = kind_of(sync)
    found = compare(
        sync, settings, window=window, days=days, restrict_target=restrict_target, keep_rows=True, on_step=on_step
    )
    try:
        return _fix(
            sync,
            settings,
            kind,
            found,
            deletes=deletes,
            on_compared=on_compared,
            after=after,
            on_step=on_step,
            allow_mass_delete=allow_mass_delete,
        )
    finally:
        found.close()  # ends the source snapshot the rows were read from


def _fix(
    sync: Sync,
    settings: Settings,
    kind: Kind,
    found: Comparison,
    *,
    deletes: bool | None,
    on_compared: Callable[[Comparison], None] | None,
    after: Callable[[psycopg.Connection[Any], Comparison], None] | None,
    on_step: Step | None,
    allow_mass_delete: bool,
) -> FixOutcome:
    if on_compared is not None:
        on_compared(found)
    if not fixable(kind):
        return FixOutcome(found, None)
    schema = found.diff.schema
    if schema.missing_in_target or schema.missing_in_source:
        msg = (
            f"{found.diff.name}: cannot fix while the tables differ in shape "
            f"(missing in source: {list(schema.missing_in_source)}, in target: {list(schema.missing_in_target)})"
        )
        raise ReconcileError(msg, hint="run `smartsync db migrate` or fix the schema first; nothing was applied")
    will_delete = deletes_on_fix(kind, sync) if deletes is None else deletes
    if will_delete and not allow_mass_delete:
        refusal = mass_delete_refusal(
            found.diff,
            max_pct=settings.batch_max_delete_pct,
            floor_rows=settings.batch_mass_delete_floor_rows,
        )
        if refusal is not None:
            raise ReconcileError(refusal, hint=MASS_DELETE_HINT)
    if on_step is not None:
        on_step("apply")
    if kind is Kind.EVENT_LOG:
        changes = plan_events(found, held=recently_changed(sync, settings, found))
    else:
        changes = plan_changes(found, deletes=will_delete)

    def in_transaction(conn: psycopg.Connection[Any]) -> None:
        if after is not None:
            after(conn, found)

    applied = apply_plan(
        settings.dsn(sync.target_database),
        SCHEMA.table(sync.target_database, sync.target),
        changes,
        what=sync.target_database.value,
        after=in_transaction if after is not None else None,
    )
    return FixOutcome(found, applied)


# An application changed this recently may still have its event on the way through the event path:
# appending a reconciled event now could record the same change twice. It waits for the next run.
SETTLE = "15 minutes"


def recently_changed(sync: Sync, settings: Settings, found: Comparison) -> frozenset[tuple[Any, ...]]:
    """Differing keys of an append log whose source row changed within ``SETTLE`` (by its ``updated_at``)."""
    keys = [*found.diff.source_only, *(c.key for c in found.diff.changed)]
    source = SCHEMA.table(sync.source_database, sync.source)
    if not keys or "updated_at" not in source.column_names or len(source.primary_key) != 1:
        return frozenset()
    col = quote_ident(source.primary_key[0])
    conn = connect(settings.dsn(sync.source_database), what=sync.source_database.value)
    try:
        recent = conn.execute(
            f"SELECT {col} FROM {quote_table(sync.source)} WHERE {col} = ANY(%s) "
            f"AND updated_at >= now() - interval '{SETTLE}'",
            ([k[0] for k in keys],),
        ).fetchall()
    finally:
        conn.close()
    return frozenset((r[0],) for r in recent)


# ── planning a sync against its live tables ─────────────────────────────────────────────


@dataclass(frozen=True)
class Live:
    """Live column types (by name) of both tables and whether a unique index covers each side's key."""

    source_columns: dict[str, str]
    target_columns: dict[str, str]
    unique: tuple[bool, bool]


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
) -> tuple[Planned, Live]:
    """The comparison of one sync (its kind decides how), planned against the live tables (on ``conns``)."""
    kind = kind_of(sync)
    live = read_live(sync, conns)
    sdsn, tdsn = settings.dsn(sync.source_database), settings.dsn(sync.target_database)
    if kind in (Kind.MIRROR, Kind.APPEND):
        planned = sync_pair(
            sync,
            source_dsn=sdsn,
            target_dsn=tdsn,
            source_types=live.source_columns,
            target_types=live.target_columns,
            window=window,
        )
        return planned, live
    if kind is Kind.TOP_N:
        query = top_n_sql(sync)
        label = f"{sync.source_database.value}.{sync.source} (top {sync.top_n.n if sync.top_n else '?'})"
        # The source side is unique by construction (one row per group and rank).
        planned = _query_plan(sync, settings, conns[0], query=query, label=label, live=live, target_where=())
        return planned, Live(live.source_columns, live.target_columns, (True, live.unique[1]))
    if kind is Kind.AGGREGATE:
        start, end = days or last_days(1, datetime.now(UTC))
        query = aggregate_sql(sync, start, end, aggregate_source_column(sync))
        col = quote_ident(day_column(sync))
        where = (f"{col} >= {literal(start.date())} AND {col} < {literal(end.date())}",)
        label = f"{sync.source_database.value}.{sync.source} (aggregated)"
        planned = _query_plan(sync, settings, conns[0], query=query, label=label, live=live, target_where=where)
        return planned, Live(live.source_columns, live.target_columns, (True, live.unique[1]))
    # DISTINCT ON makes the target side unique by construction.
    return _event_log_plan(sync, settings, live), Live(live.source_columns, live.target_columns, (True, True))


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
        msg = f"sync {sync.name!r}: its source query failed: {db_error(exc)}"
        raise ReconcileError(msg) from None
    return query_pair(
        sync,
        query=query,
        source_label=label,
        source_dsn=sdsn,
        target_dsn=tdsn,
        query_types=qtypes,
        target_types=live.target_columns,
        target_where=target_where,
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
    target = Relation(
        tdsn, f"{target_query} AS _latest", f"{sync.target_database.value}.{sync.target} (latest event per key)"
    )
    mapped = {t: c.source for t, c in sync.columns.items() if c.source is not None}
    return plan_pair(
        name=sync.name,
        source=source,
        target=target,
        key=key,
        mapping={t: quote_ident(s) for t, s in mapped.items()},
        expected_source=dict(mapped),
        masks={},
        source_types={t: live.source_columns[s] for t, s in mapped.items() if s in live.source_columns},
        target_types={t: v for t, v in live.target_columns.items() if t in mapped},
    )
