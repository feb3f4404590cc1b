"""Kept snapshots: retention keeps evidence and the newest one; a run is found by name or time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconcile.snapshots import SnapshotPolicy, pick_since, prune, safe_name, snapshots_of
from smartsync.core.errors import ReconcileError

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _snap(root: Path, days_ago: int, evidence: str | None = None) -> str:
    taken = NOW - timedelta(days=days_ago)
    path = root / "golden_records" / taken.strftime("%Y%m%dT%H%M%S.%fZ")
    path.mkdir(parents=True)
    (path / "meta.json").write_text(json.dumps({"taken_at": taken.isoformat(), "evidence": evidence}))
    return path.name


def test_retention_drops_old_snapshots_but_keeps_evidence_and_the_newest(tmp_path: Path) -> None:
    policy = SnapshotPolicy(tmp_path, retention_days=7)
    old, weekly, recent = _snap(tmp_path, 30), _snap(tmp_path, 20, "weekly run 4"), _snap(tmp_path, 1)
    dropped = prune(policy, "golden_records", now=NOW)
    assert [p.name for p in dropped] == [old]
    assert [s.run for s in snapshots_of(policy, "golden_records")] == [weekly, recent]
    only = SnapshotPolicy(tmp_path / "other", retention_days=0)
    lone = _snap(only.root, 40)
    assert prune(only, "golden_records", now=NOW) == []  # the newest snapshot stays
    assert [s.run for s in snapshots_of(only, "golden_records")] == [lone]


def test_since_names_a_run_or_a_time(tmp_path: Path) -> None:
    policy = SnapshotPolicy(tmp_path)
    first, second = _snap(tmp_path, 10), _snap(tmp_path, 3)
    snaps = snapshots_of(policy, "golden_records")
    assert pick_since(snaps, first).run == first
    assert pick_since(snaps, (NOW - timedelta(days=5)).isoformat()).run == first
    assert pick_since(snaps, "2026-11-29").run == second
    with pytest.raises(ReconcileError, match="no snapshot was kept"):
        pick_since(snaps, "2020-01-01")
    with pytest.raises(ReconcileError, match="not a time"):
        pick_since(snaps, "yesterday-ish")


def test_names_become_one_folder() -> None:
    assert safe_name("a.b → c/d") == "a.b_c_d"
    assert safe_name("../..") == "pair"
