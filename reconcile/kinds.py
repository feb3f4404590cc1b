"""How each kind of catalog sync is compared and fixed: pure rules over the catalog.

- mirror syncs (and the scheme master's full refresh): the mapped, masked, filtered source
  table against the target, row by row; a fix upserts and deletes;
- the top-N sync (eligibility hints): each group's top N computed from the source, the same
  rule as the event path, against the target; a fix upserts and deletes;
- the aggregate sync (user behaviour): the catalog's aggregates over given UTC days against
  the target's rows of those days; a fix upserts and deletes;
- the batch append sync (feedback): row by row like a mirror, but a fix never deletes;
- the append event sync (application events, one row per change): not a mirror, so the
  current source rows are compared with the *latest* event of each key; a fix appends the
  missing events (``reconcile.apply.plan_events``) and never rewrites or deletes the log.

A fix never deletes from a target that holds more than its sync writes (``owns_target``: the
warehouse's golden records), nor from a callback-fed target (``callback_fed``): the callback
service delivers forecasts and alerts straight to the portal, so the warehouse table is not
the truth of what the portal holds (an empty warehouse table would otherwise wipe them).
"""

from __future__ import annotations

from enum import StrEnum

from reconcile.specs import BOOKKEEPING
from smartsync.core.catalog import BatchMode, EventMode, Sync, Trigger
from smartsync.core.errors import ReconcileError
from smartsync.core.tables import SCHEMA


class Kind(StrEnum):
    MIRROR = "mirror"
    TOP_N = "top_n"
    AGGREGATE = "aggregate"
    APPEND = "append"  # batch append: compared like a mirror, fixed without deletes
    EVENT_LOG = "event_log"  # append event sync: latest event per key; a fix appends the missing events


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
    return True  # every kind has a fix; what it may write differs (``deletes_on_fix``, ``plan_events``)


def callback_fed(sync: Sync) -> bool:
    """The callback service writes this sync's target through Kafka; the warehouse table is only a copy."""
    return sync.trigger is Trigger.CALLBACK


def owns_target(sync: Sync) -> bool:
    """True when the sync writes every column of its target: the target is a pure copy.

    A target that holds more (the warehouse's golden records, enriched by other processes)
    keeps rows the source lacks: a fix then upserts but never deletes.
    """
    target = SCHEMA.table(sync.target_database, sync.target)
    return {c for c in target.column_names if c not in BOOKKEEPING} <= set(sync.columns)


def deletes_on_fix(kind: Kind, sync: Sync) -> bool:
    return kind in (Kind.MIRROR, Kind.TOP_N, Kind.AGGREGATE) and owns_target(sync) and not callback_fed(sync)


def note_for(kind: Kind, sync: Sync) -> str:
    """What a report says about how the pair was compared (empty for a plain mirror)."""
    if kind is Kind.MIRROR:
        if callback_fed(sync):
            return "callback-fed: the callback service writes the target; a fix never deletes"
        return "" if owns_target(sync) else "the target holds more than this sync writes: a fix never deletes"
    return {
        Kind.EVENT_LOG: "append log: current source rows vs the latest event of each key; a fix appends",
        Kind.TOP_N: "expected top N per group computed from the source",
        Kind.AGGREGATE: "aggregates recomputed from the raw events",
        Kind.APPEND: "append: a fix never deletes",
    }[kind]


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
