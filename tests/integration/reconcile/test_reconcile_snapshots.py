"""Kept snapshots on the real databases: Parquet per side and run, private, masked, diffed over time."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from reconcile.compare import compare
from reconcile.snapshots import SnapshotPolicy, snapshots_of
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from tests.integration.reconcile.reconcile_fixtures import GOLDEN, execute, reset

W, C = Database.WAREHOUSE, Database.CITIZEN


@pytest.fixture
def snapshot_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "snapshots"
    monkeypatch.setenv("SMARTSYNC_SNAPSHOT_DIR", str(root))
    return root


def test_each_full_diff_keeps_both_sides_and_changes_reads_them(
    warehouse_dsn: str, citizen_dsn: str, snapshot_dir: Path
) -> None:
    reset(warehouse_dsn, W)
    reset(citizen_dsn, C)
    execute(warehouse_dsn, GOLDEN, {"lo": 1, "hi": 100})
    sync = load_catalog().sync("golden_records")
    settings = load_settings()
    first = compare(sync, settings).diff
    assert len(first.source_only) == 100
    execute(warehouse_dsn, "DELETE FROM public.golden_records WHERE citizen_id = 3")
    execute(warehouse_dsn, "UPDATE public.golden_records SET full_name = 'Renamed' WHERE citizen_id = 7")
    execute(warehouse_dsn, "UPDATE public.golden_records SET mobile = '9999999999' WHERE citizen_id = 8")
    execute(warehouse_dsn, GOLDEN, {"lo": 101, "hi": 102})
    compare(sync, settings)

    snaps = snapshots_of(SnapshotPolicy.of(settings), "golden_records")
    assert len(snaps) == 2
    for snap in snaps:
        assert stat.S_IMODE(snap.path.stat().st_mode) == 0o700
        for side in ("source", "target"):
            assert stat.S_IMODE(snap.file(side).stat().st_mode) == 0o600
    # The source snapshot holds hashes and masked forms only: no clear Aadhaar or mobile number of the fixture.
    kept = duckdb.sql(f"SELECT * FROM read_parquet('{snaps[-1].file('source')}')").fetchall()
    assert kept and not any(clear in str(v) for row in kept for v in row for clear in ("300000000007", "8000000217"))

    cmd = [sys.executable, "-m", "smartsync", "reconcile", "changes", "--sync", "golden_records", "--side", "source"]
    env = {**os.environ, "SMARTSYNC_SNAPSHOT_DIR": str(snapshot_dir)}
    out = subprocess.run(  # noqa: S603 — our own command
        [*cmd, "--since", snaps[0].run, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    got = json.loads(out.stdout)
    assert (got["inserted_keys"], got["deleted_keys"]) == ([101, 102], [3])
    changed = got["changed_keys"]
    assert set(changed) == {"7", "8"}
    assert "full_name" in changed["7"] and "mobile" in changed["8"] and "full_name" not in changed["8"]
    by_time = subprocess.run(  # noqa: S603
        [*cmd, "--since", snaps[0].taken_at.isoformat(), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert json.loads(by_time.stdout)["deleted_keys"] == [3]
