"""A diff becomes upserts and deletes on the target: one transaction per table, bounded batches.

Every change is stamped with the source snapshot's WAL position, and written through the
event path's order-safe sink (``connectors.postgres.apply.apply_changes``): a target row the event
path wrote after the snapshot carries a higher position and is left alone, and a delete is
remembered in ``smartsync.tombstones``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg

from connectors.postgres.apply import ApplyResult, RowChange, apply_changes, classify_error
from reconcile.connections import connect
from reconcile.engine import Comparison, bulk_objects
from reconcile.fix_rows import FixRow
from reconcile.model import TableDiff
from smartsync.core.errors import ReconcileError, SinkError
from smartsync.core.tables import Table

BATCH_ROWS = 10_000
T = TypeVar("T")


def _fix_rows(outcome: Comparison) -> Iterable[FixRow]:
    """The source rows of a comparison kept for a fix (none when nothing differs)."""
    if outcome.fix_rows is not None:
        return outcome.fix_rows
    diff = outcome.diff
    if diff.source_only or diff.changed:
        msg = f"{diff.name}: the comparison kept no source rows to write"
        raise ReconcileError(msg, hint="compare with keep_rows=True (compare_and_fix does)")
    return ()


def plan_changes(outcome: Comparison, *, deletes: bool) -> Iterator[RowChange]:
    """Upserts for source-only and changed rows, deletes for target-only rows (when asked).

    The upserts come batch by batch from the source snapshot the diff read (``FixRows``):
    only the batch being written exists at once.
    """
    diff = outcome.diff
    if diff.snapshot_lsn is None:
        msg = f"{diff.name}: the diff carries no source position, so its fix cannot be ordered"
        raise ReconcileError(msg, hint="diff with a stamped snapshot (catalog syncs are)")
    pos, ts = diff.snapshot_lsn, outcome.source_ts
    upserts = (RowChange(r.key, r.row, pos, ts) for r in _fix_rows(outcome))
    removals = (RowChange(k, None, pos, ts) for k in diff.target_only) if deletes else ()
    return itertools.chain(upserts, removals)


# The application-event vocabulary of the append log (the event path's ``dataflows.decode.event_type``;
# a unit test keeps the two in step).
EVENT_SUBMITTED = "submitted"
EVENT_STATUS_CHANGED = "status_changed"
EVENT_WITHDRAWN = "withdrawn"


def plan_events(outcome: Comparison, *, held: frozenset[tuple[Any, ...]] = frozenset()) -> Iterator[RowChange]:
    """The missing events of an append log: one new event per application whose latest event is missing or stale.

    Appended, never rewritten: each event is keyed on the snapshot's source position, so the
    log's old rows stay as they are, and the next comparison sees the appended event as the
    latest (nothing is appended twice). ``held`` keys changed too recently at the source: their
    event may still be on its way through the event path, so they wait for the next run.
    """
    diff = outcome.diff
    if diff.snapshot_lsn is None:
        msg = f"{diff.name}: the diff carries no source position, so its missing events cannot be ordered"
        raise ReconcileError(msg, hint="diff with a stamped snapshot (catalog syncs are)")
    pos, ts = diff.snapshot_lsn, outcome.source_ts or datetime.now(UTC)
    for fix in _fix_rows(outcome):
        if fix.key in held:
            continue
        row = dict(fix.row)
        if fix.new:
            kind = EVENT_SUBMITTED
        else:
            kind = EVENT_WITHDRAWN if row.get("status") == "withdrawn" else EVENT_STATUS_CHANGED
        row.update(source_lsn=pos, event_type=kind, occurred_at=ts)
        yield RowChange((*fix.key, pos), row, pos, ts)


MASS_DELETE_HINT = (
    "nothing was applied; check the source (emptied, truncated, restored?) and, if the deletes are right, "
    "rerun with --allow-mass-delete"
)


def mass_delete_refusal(diff: TableDiff, *, max_pct: float, floor_rows: int) -> str | None:
    """Why a fix must not delete ``diff.target_only``: more than ``max_pct`` % of the target and the floor."""
    deletes = len(diff.target_only)
    if deletes <= floor_rows or diff.target_rows == 0:
        return None
    share = 100.0 * deletes / diff.target_rows
    if share <= max_pct:
        return None
    return (
        f"{diff.name}: the fix would delete {deletes:,} of {diff.target_rows:,} rows of {diff.target} "
        f"({share:.1f}%, above the {max_pct:g}% guard rail)"
    )


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
