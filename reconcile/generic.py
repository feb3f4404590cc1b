"""Compare any two tables on a key: the CLI's generic mode (``smartsync reconcile diff --source ... --key``).

No sync of the catalog is involved, so nothing of the catalog's models, the masking policy or
the fix path is imported: the command starts hashing sooner (see ``reconcile.engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from reconcile.connections import connect, has_unique_key, live_columns
from reconcile.engine import compare_pair
from reconcile.model import TableDiff
from reconcile.specs import generic_pair
from smartsync.core.errors import ReconcileError

if TYPE_CHECKING:
    from reconcile.store import EngineLimits


def compare_tables(
    *,
    source_dsn: str,
    target_dsn: str,
    source_table: str,
    target_table: str,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    connections: int | None = None,
    on_step: Callable[[str], None] | None = None,
    limits: EngineLimits | None = None,
) -> TableDiff:
    """Compare any two tables on ``key`` (columns matched by name; bookkeeping columns ignored).

    ``connections`` (default 4, between 2 and 10) are shared by the two sides. ``limits``
    default to the settings' (``SMARTSYNC_BATCH_MEMORY_LIMIT``, ``SMARTSYNC_BATCH_ENGINE_THREADS``).
    """
    if not key:
        msg = "--key names no column"
        raise ReconcileError(msg)
    sconn = connect(source_dsn, what="the source database")
    tconn = connect(target_dsn, what="the target database")
    try:
        stypes = live_columns(sconn, source_table, what="the source database")
        ttypes = live_columns(tconn, target_table, what="the target database")
        unique = (has_unique_key(sconn, source_table, key), has_unique_key(tconn, target_table, key))
        planned = generic_pair(
            source_dsn=source_dsn,
            target_dsn=target_dsn,
            source_table=source_table,
            target_table=target_table,
            key=key,
            source_types=stypes,
            target_types=ttypes,
            columns=columns,
        )
        return compare_pair(
            planned.spec,
            max_connections=max(2, min(10, connections or 4)),
            schema=planned.schema,
            unique=unique,
            on_step=on_step,
            conns=(sconn, tconn),
            limits=limits,
        ).diff
    finally:
        sconn.close()
        tconn.close()
