"""A diff becomes upserts and deletes on the target: one transaction per table, bounded batches.

Every change is stamped with the source snapshot's WAL position, and written through the
event path's order-safe sink (``connectors.postgres.apply.apply_changes``): a target row the event
path wrote after the snapshot carries a higher position and is left alone, and a delete is
remembered in ``smartsync.tombstones``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import psycopg

from connectors.postgres.apply import ApplyResult, RowChange, apply_changes, classify_error
from reconcile.connections import connect
from reconcile.engine import Comparison, bulk_objects
from smartsync.core.errors import ReconcileError, SinkError
from smartsync.core.tables import Table

BATCH_ROWS = 10_000
T = TypeVar("T")


def plan_changes(outcome: Comparison, *, deletes: bool) -> Iterator[RowChange]:
    """Upserts for source-only and changed rows, deletes for target-only rows (when asked).

    The changes come one by one: each row is built when its batch is about to be written.
    """
    diff = outcome.diff
    if diff.snapshot_lsn is None:
        msg = f"{diff.name}: the diff carries no source position, so its fix cannot be ordered"
        raise ReconcileError(msg, hint="diff with a stamped snapshot (catalog syncs are)")
    pos, ts, rows = diff.snapshot_lsn, outcome.source_ts, outcome.fix_rows
    upserts = (RowChange(k, rows[k], pos, ts) for k in itertools.chain(diff.source_only, (c.key for c in diff.changed)))
    removals = (RowChange(k, None, pos, ts) for k in diff.target_only) if deletes else ()
    return itertools.chain(upserts, removals)


def batches(changes: Iterable[T], size: int = BATCH_ROWS) -> Iterator[list[T]]:
    it = iter(changes)
    while batch := list(itertools.islice(it, size)):
        yield batch


@bulk_objects()
def apply_plan(
    dsn: str,
    table: Table,
    changes: Iterable[RowChange],
    *,
    what: str,
    after: Callable[[psycopg.Connection[Any]], None] | None = None,
) -> ApplyResult:
    """Write the changes in one transaction, ``BATCH_ROWS`` at a time; all or nothing.

    ``after`` runs inside the same transaction (the job's watermark goes there). The changes
    are read batch by batch, so rows built on demand (``plan_changes``) never all exist at once.
    """
    batched = batches(changes)
    first = next(batched, None)
    if first is None and after is None:
        return ApplyResult()
    conn = connect(dsn, what=what)
    total = ApplyResult()
    try:
        with conn.transaction():
            for batch in itertools.chain([first] if first else [], batched):
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
