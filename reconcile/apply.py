"""A diff becomes upserts and deletes on the target: one transaction per table, bounded batches.

Every change is stamped with the source snapshot's WAL position, and written through the
event path's order-safe sink (``connectors.postgres.apply_changes``): a target row the event
path wrote after the snapshot carries a higher position and is left alone, and a delete is
remembered in ``smartsync.tombstones``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg

from connectors.postgres import ApplyResult, RowChange, apply_changes, classify_error
from reconcile.engine import DiffOutcome, bulk_objects, connect
from smartsync.errors import ReconcileError, SinkError
from smartsync.tables import Table

BATCH_ROWS = 5_000


@bulk_objects()
def plan_changes(outcome: DiffOutcome, *, deletes: bool) -> list[RowChange]:
    """Upserts for source-only and changed rows, deletes for target-only rows (when asked)."""
    diff = outcome.diff
    if diff.snapshot_lsn is None:
        msg = f"{diff.name}: the diff carries no source position, so its fix cannot be ordered"
        raise ReconcileError(msg, hint="diff with a stamped snapshot (catalog syncs are)")
    pos, ts = diff.snapshot_lsn, outcome.source_ts
    changes = [RowChange(k, outcome.source_rows[k], pos, ts) for k in diff.source_only]
    changes += [RowChange(c.key, outcome.source_rows[c.key], pos, ts) for c in diff.changed]
    if deletes:
        changes += [RowChange(k, None, pos, ts) for k in diff.target_only]
    return changes


def batches(changes: Sequence[RowChange], size: int = BATCH_ROWS) -> Iterator[Sequence[RowChange]]:
    for start in range(0, len(changes), size):
        yield changes[start : start + size]


@bulk_objects()
def apply_plan(
    dsn: str,
    table: Table,
    changes: Sequence[RowChange],
    *,
    what: str,
    after: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> ApplyResult:
    """Write the changes in one transaction, ``BATCH_ROWS`` at a time; all or nothing.

    ``after`` runs inside the same transaction (the job's watermark goes there).
    """
    if not changes and after is None:
        return ApplyResult()
    conn = connect(dsn, what=what)
    total = ApplyResult()
    try:
        with conn.transaction():
            for batch in batches(changes):
                total = total + apply_changes(conn, table, batch)
            if after is not None:
                after(conn)
    except psycopg.Error as exc:
        err = classify_error(exc, table)
        msg = f"applying the fix to {what} failed: {err.message}"
        raise ReconcileError(msg, hint=err.hint) from None
    except SinkError as exc:
        msg = f"applying the fix to {what} failed: {exc.message}"
        raise ReconcileError(msg, hint=exc.hint) from None
    finally:
        conn.close()
    return total


def summary(result: ApplyResult) -> dict[str, Any]:
    return {
        "inserted": result.inserted,
        "updated": result.updated,
        "deleted": result.deleted,
        "skipped_stale": result.skipped_stale,
    }
