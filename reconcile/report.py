"""Reconciliation reports: which pairs a scope covers, their comparisons (fixed when asked), integrity checks.

Building a report reads the databases; rendering it is ``reconcile.render``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from reconcile.apply import summary
from reconcile.columns import quote_ident, quote_table
from reconcile.compare import compare, compare_and_fix
from reconcile.connections import connect, has_unique_key
from reconcile.cron import last_days, next_run
from reconcile.kinds import fix_order
from reconcile.model import IntegrityCheck, Report, TableDiff
from smartsync.core.catalog import Catalog, Direction, Sync
from smartsync.core.errors import ReconcileError, SmartSyncError
from smartsync.core.settings import Settings
from smartsync.core.tables import SCHEMA, Database

SCOPES = ("hourly", "daily", "weekly")
# The weekly reconciliation recomputes this many complete days of an aggregate sync.
AGGREGATE_DAYS = {"daily": 1, "weekly": 7, "hourly": 1}

Step = Callable[[str], None]


def _interval_hours(cron: str) -> float:
    base = datetime(2026, 1, 5, tzinfo=UTC)
    first = next_run(cron, base)
    return (next_run(cron, first) - first).total_seconds() / 3600


def syncs_in_scope(catalog: Catalog, scope: str) -> list[Sync]:
    """hourly: syncs with an hourly job; daily: with a daily (or hourly) job; weekly: every sync."""
    if scope not in SCOPES:
        msg = f"unknown scope {scope!r}"
        raise ReconcileError(msg, hint=f"use one of: {', '.join(SCOPES)}")
    if scope == "weekly":
        return list(catalog.syncs)
    limit = 1.0 if scope == "hourly" else 24.0
    return [s for s in catalog.syncs if any(_interval_hours(sch.cron) <= limit for sch in s.schedules)]


def find_sync(catalog: Catalog, name: str) -> Sync:
    """A sync by its name or by its target (or source) table name."""
    for sync in catalog.syncs:
        if name in (sync.name, sync.target, sync.target.split(".", 1)[1]):
            return sync
    for sync in catalog.syncs:
        if name in (sync.source, sync.source.split(".", 1)[1]):
            return sync
    known = ", ".join(s.name for s in catalog.syncs)
    msg = f"unknown table or sync {name!r}"
    raise ReconcileError(msg, hint=f"synced pairs: {known}")


def aggregate_window(scope: str, now: datetime) -> tuple[datetime, datetime]:
    """The complete UTC days a scope's comparison of an aggregate sync recomputes."""
    return last_days(AGGREGATE_DAYS.get(scope, 1), now)


def _check_pair(
    sync: Sync,
    settings: Settings,
    *,
    scope: str,
    fix: bool,
    now: datetime | None = None,
    allow_mass_delete: bool = False,
) -> tuple[TableDiff, dict[str, int] | None]:
    """One pair of a report: its diff, and what a fix wrote (``None`` when not fixed or report-only)."""
    days = aggregate_window(scope, now or datetime.now(UTC))
    if not fix:
        return compare(sync, settings, days=days).diff, None
    fixed = compare_and_fix(sync, settings, days=days, allow_mass_delete=allow_mass_delete)
    return fixed.diff, None if fixed.applied is None else summary(fixed.applied)


# ── integrity checks ────────────────────────────────────────────────────────────────────


def citizen_registries(catalog: Catalog) -> dict[Database, str]:
    """The table of record for citizens in each database: both ends of the citizen profile sync."""
    found: dict[Database, str] = {}
    for sync in catalog.syncs:
        if sync.direction is Direction.CITIZEN_TO_WAREHOUSE and sync.key == ("citizen_id",) and sync.has_event_path:
            found[sync.source_database] = sync.source
            found[sync.target_database] = sync.target
    return found


def integrity_checks(
    catalog: Catalog, settings: Settings, syncs: Iterable[Sync], diffs: dict[str, TableDiff]
) -> list[IntegrityCheck]:
    """Null keys, duplicate keys and orphaned citizen references of every table of the pairs."""
    checks: list[IntegrityCheck] = []
    registries = citizen_registries(catalog)
    seen: set[tuple[Database, str]] = set()
    for sync in syncs:
        diff = diffs.get(sync.name)
        for database, name, is_target in (
            (sync.source_database, sync.source, False),
            (sync.target_database, sync.target, True),
        ):
            if (database, name) in seen:
                continue
            seen.add((database, name))
            table = SCHEMA.table(database, name)
            label = f"{database.value}.{name}"
            conn = connect(settings.dsn(database), what=database.value)
            try:
                key = table.primary_key
                nulls = _count(
                    conn,
                    f"SELECT count(*) FROM {quote_table(name)} WHERE "
                    + " OR ".join(f"{quote_ident(k)} IS NULL" for k in key),
                )
                if diff is not None and is_target:
                    nulls = max(nulls, diff.target_null_keys)
                checks.append(IntegrityCheck(label, "null keys", nulls, f"key {list(key)}"))
                dups = 0
                if not has_unique_key(conn, name, list(key)):
                    cols = ", ".join(quote_ident(k) for k in key)
                    dups = _count(
                        conn,
                        f"SELECT count(*) FROM (SELECT 1 FROM {quote_table(name)} GROUP BY {cols} HAVING count(*) > "
                        "1) d",
                    )
                checks.append(IntegrityCheck(label, "duplicate keys", dups, "unique index present" if not dups else ""))
                registry = registries.get(database)
                if registry and registry != name and "citizen_id" in table.column_names:
                    orphans = _count(
                        conn,
                        f"SELECT count(*) FROM {quote_table(name)} x WHERE NOT EXISTS "
                        f"(SELECT 1 FROM {quote_table(registry)} r WHERE r.citizen_id = x.citizen_id)",
                    )
                    checks.append(IntegrityCheck(label, "orphans: citizen_id", orphans, f"not in {registry}"))
            finally:
                conn.close()
    return checks


def _count(conn: Any, query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def build_report(
    catalog: Catalog,
    settings: Settings,
    *,
    scope: str,
    fix: bool = False,
    tables: Iterable[str] | None = None,
    now: datetime | None = None,
    on_step: Step | None = None,
    allow_mass_delete: bool = False,
    before_pair: Callable[[], None] | None = None,
) -> Report:
    """Diff every pair of the scope (fix when asked); the weekly scope adds integrity checks.

    ``before_pair`` runs before each pair starts (a scheduled run waits out the maintenance window there).
    """
    step = on_step or (lambda _m: None)
    syncs = fix_order([find_sync(catalog, t) for t in tables] if tables else syncs_in_scope(catalog, scope))
    diffs: dict[str, TableDiff] = {}
    fixed: dict[str, dict[str, int]] = {}
    errors: dict[str, str] = {}
    for sync in syncs:
        if before_pair is not None:
            before_pair()
        step(f"diff {sync.name}")
        try:
            diff, result = _check_pair(
                sync, settings, scope=scope, fix=fix, now=now, allow_mass_delete=allow_mass_delete
            )
        except SmartSyncError as exc:
            errors[sync.name] = str(exc)
            continue
        diffs[sync.name] = diff
        if result is not None:
            fixed[sync.name] = result
    integrity: list[IntegrityCheck] = []
    if scope == "weekly":
        step("integrity checks")
        try:
            integrity = integrity_checks(catalog, settings, syncs, diffs)
        except SmartSyncError as exc:
            errors["integrity"] = str(exc)
    return Report(scope, now or datetime.now(UTC), tuple(diffs.values()), tuple(integrity), fixed, errors)
