"""The end of every fault scenario: a full reconciliation of the sync proves source == target.

The batch path's own compare (``reconcile.compare.compare``, what ``smartsync reconcile diff --table``
runs) reads every row of both tables, not only the rows a scenario touched, and must find no
source-only, target-only or changed row. ``even_out`` repairs the pair before a scenario starts:
earlier tests of the session plant drift in the shared tables on purpose (a truncated target, rows
written on one side only), and that drift is theirs, not the scenario's.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from dataflows.testing import RunningFlow
from reconcile.compare import compare, compare_and_fix
from reconcile.model import TableDiff
from smartsync.core.catalog import Sync
from smartsync.core.settings import Settings, load_settings


def _settings(snapshots: Path) -> Settings:
    # A full comparison keeps both sides as Parquet: keep them out of the checkout.
    return load_settings().model_copy(update={"snapshot_dir": snapshots})


def even_out(sync: Sync) -> TableDiff:
    """Make the pair equal with the batch path's fix (what the daily job does); returns what it found."""
    with tempfile.TemporaryDirectory(prefix="smartsync-chaos-") as tmp:
        return compare_and_fix(sync, _settings(Path(tmp)), allow_mass_delete=True).diff


def describe(diff: TableDiff) -> str:
    """Counts, the differing columns and a few keys (identifiers only, never row values)."""
    keys = [*diff.source_only[:3], *diff.target_only[:3], *(c.key for c in diff.changed[:3])]
    return (
        f"{diff.name}: {len(diff.source_only)} source-only, {len(diff.target_only)} target-only, "
        f"{len(diff.changed)} changed {diff.changed_by_column()} of {diff.source_rows} source and "
        f"{diff.target_rows} target rows; schema {diff.schema}; keys {keys}"
    )


def assert_reconciled(sync: Sync, *, flow: RunningFlow | None = None, timeout_s: float | None = None) -> TableDiff:
    """Compare the whole pair until nothing differs; fail with the last difference after ``timeout_s``.

    With a running ``flow`` the comparison is repeated while it catches up, and a flow that dies
    fails at once (default 180 s). Without one the pair must already be equal (10 s cover a
    comparison taken while the last commit was landing).
    """
    timeout_s = timeout_s if timeout_s is not None else (180.0 if flow is not None else 10.0)
    deadline = time.monotonic() + timeout_s
    with tempfile.TemporaryDirectory(prefix="smartsync-chaos-") as tmp:
        settings = _settings(Path(tmp))
        while True:
            if flow is not None:
                flow.check_alive()
            diff = compare(sync, settings).diff
            if diff.differing == 0 and diff.schema.empty:
                assert diff.source_rows == diff.target_rows == diff.unchanged
                return diff
            if time.monotonic() > deadline:
                msg = f"source != target after {timeout_s:.0f}s: {describe(diff)}"
                raise AssertionError(msg)
            time.sleep(1.0)
