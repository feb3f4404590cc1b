"""The catalog's rules, checked against the table declarations of ``smartsync.core.tables``.

Unknown tables or columns, keys that are not the target's primary key, a lossy mask on a key,
a citizen-bound column without a masking classification, uncovered source columns, and cycles
of syncs that would echo a change back to where it came from: each problem names the sync and
the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smartsync.core.catalog.enums import BatchMode, DerivedValue, EventMode, Pattern, Trigger
from smartsync.core.tables import SYNC_COLUMNS, Database, Schema

if TYPE_CHECKING:
    from smartsync.core.catalog.models import Catalog, Sync

_SYNC_COLUMN_NAMES = frozenset(c.name for c in SYNC_COLUMNS)


def _check_sync(sync: Sync, schema: Schema) -> list[str]:  # noqa: C901, PLR0912 — one flat list of rules
    problems: list[str] = []
    where = f"sync {sync.name!r}"
    if not schema.has(sync.source_database, sync.source):
        return [f"{where}: field 'source': unknown table {sync.source!r} in {sync.source_database}"]
    if not schema.has(sync.target_database, sync.target):
        return [f"{where}: field 'target': unknown table {sync.target!r} in {sync.target_database}"]
    source = schema.table(sync.source_database, sync.source)
    target = schema.table(sync.target_database, sync.target)

    if sync.key != target.primary_key:
        problems.append(
            f"{where}: field 'key': {list(sync.key)} is not the primary key {list(target.primary_key)} of {sync.target}"
        )
    for tcol, col in sync.columns.items():
        if tcol not in target.column_names:
            problems.append(f"{where}: field 'columns': unknown column {tcol!r} in target {sync.target}")
        if col.source is not None and col.source not in source.column_names:
            problems.append(f"{where}: field 'columns.{tcol}': unknown source column {col.source!r} in {sync.source}")
        if (
            col.expr is not None
            and sync.event_mode is EventMode.APPEND
            and col.expr not in DerivedValue.__members__.values()
        ):
            problems.append(f"{where}: field 'columns.{tcol}': unknown derived value {col.expr!r}")
        if sync.citizen_bound and col.mask is None:
            problems.append(
                f"{where}: field 'columns.{tcol}': no masking classification for a column that reaches "
                f"smart_citizen (give mask=MaskRule.CLEAR if it is safe)"
            )
        if tcol in sync.key and col.mask is not None and col.mask.lossy:
            problems.append(f"{where}: field 'columns.{tcol}': key column cannot use the lossy mask {col.mask.value!r}")
    for name in sync.key:
        if name not in sync.columns:
            problems.append(f"{where}: field 'key': key column {name!r} is not mapped in 'columns'")
    for name in sync.dropped:
        if name not in source.column_names:
            problems.append(f"{where}: field 'dropped': unknown source column {name!r} in {sync.source}")
    if sync.citizen_bound:
        covered = {c.source for c in sync.columns.values() if c.source} | set(sync.dropped)
        for name in source.column_names:
            if name not in covered and name not in _SYNC_COLUMN_NAMES:
                problems.append(
                    f"{where}: field 'columns': source column {sync.source}.{name} is neither mapped nor dropped"
                )
    if sync.has_event_path:
        if sync.trigger is None or sync.event_mode is None or sync.topic is None or sync.latency_target_s is None:
            problems.append(
                f"{where}: fields 'trigger', 'event_mode', 'topic', 'latency_target_s' "
                f"are required for {sync.pattern} syncs"
            )
        if sync.topic is not None:
            keyed = source.column_names if sync.trigger is Trigger.CDC else tuple(sync.columns)
            for name in sync.topic.key_columns:
                if name not in keyed:
                    problems.append(f"{where}: field 'topic.key_columns': unknown column {name!r}")
    elif sync.topic is not None or sync.trigger is not None:
        problems.append(f"{where}: field 'topic': a batch sync has no topic or trigger")
    if sync.has_batch_path and not sync.schedules:
        problems.append(f"{where}: field 'schedules': a {sync.pattern} sync needs at least one schedule")
    # An event sync's only schedule is its fixing reconcile (a full diff and fix that repairs lost events).
    if sync.pattern is Pattern.EVENT and any(sch.mode is not BatchMode.FULL for sch in sync.schedules):
        problems.append(f"{where}: field 'schedules': an event sync has only full fixing reconciles (make it hybrid)")
    for sch in sync.schedules:
        if sch.mode is not BatchMode.FULL and sch.watermark_column not in source.column_names:
            problems.append(
                f"{where}: field 'schedules.{sch.job}.watermark_column': "
                f"{sch.watermark_column!r} is not a column of {sync.source}"
            )
    if sync.event_mode is EventMode.TOP_N:
        if sync.top_n is None:
            problems.append(f"{where}: field 'top_n' is required for event_mode top_n")
        else:
            for name in (*sync.top_n.group_by, sync.top_n.rank_by, sync.top_n.status_column):
                if name not in source.column_names:
                    problems.append(f"{where}: field 'top_n': unknown source column {name!r}")
    return problems


def _find_cycle(syncs: tuple[Sync, ...]) -> list[str] | None:
    """A path of syncs that leads a change back to the table it came from, if any."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for s in syncs:
        edges.setdefault(f"{s.source_database}.{s.source}", []).append((f"{s.target_database}.{s.target}", s.name))

    def walk(node: str, path: list[str], seen: set[str]) -> list[str] | None:
        for nxt, name in edges.get(node, []):
            if nxt == path[0]:
                return [*path[1:], name]
            if nxt not in seen:
                seen.add(nxt)
                found = walk(nxt, [*path, name], seen)
                if found:
                    return found
        return None

    for start in edges:
        found = walk(start, [start], {start})
        if found:
            return found
    return None


def validate_catalog(catalog: Catalog, schema: Schema) -> list[str]:
    """Every problem of a catalog, each naming the sync and the field."""
    problems: list[str] = []
    names = [s.name for s in catalog.syncs]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"sync {dup!r}: field 'name': declared more than once")
    targets: dict[tuple[Database, str], str] = {}
    for sync in catalog.syncs:
        problems.extend(_check_sync(sync, schema))
        other = targets.setdefault((sync.target_database, sync.target), sync.name)
        if other != sync.name:
            problems.append(f"sync {sync.name!r}: field 'target': {sync.target} is already written by sync {other!r}")
    topic_names = [t.name for t in catalog.topics()]
    for dup in sorted({n for n in topic_names if topic_names.count(n) > 1}):
        problems.append(f"topic {dup!r}: used by more than one sync")
    jobs = [sch.job for _, sch in catalog.jobs()]
    for dup in sorted({j for j in jobs if jobs.count(j) > 1}):
        problems.append(f"job {dup!r}: field 'schedules.job': declared more than once")
    cycle = _find_cycle(catalog.syncs)
    if cycle:
        problems.append(f"syncs {' → '.join(cycle)}: form a cycle that would echo a change back to its source")
    return problems
