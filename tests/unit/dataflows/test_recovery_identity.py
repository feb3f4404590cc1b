"""Recovery state bound to the Kafka cluster and topics it was taken from (pure, a temp directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataflows.recovery_identity import (
    IDENTITY_FILE,
    KafkaIdentity,
    bind,
    identity_mismatch,
    recovery_dir_from_argv,
    reset,
)
from smartsync.core.errors import ConfigurationError

LIVE = KafkaIdentity("cluster-a", {"t1": "id-1", "t2": "id-2"})


def test_the_first_start_records_the_identity_and_later_starts_accept_it(tmp_path: Path) -> None:
    assert bind(tmp_path, LIVE, "warehouse_to_citizen") is True
    assert (tmp_path / IDENTITY_FILE).exists()
    assert bind(tmp_path, LIVE, "warehouse_to_citizen") is False


def test_another_cluster_is_refused_naming_the_reset_command(tmp_path: Path) -> None:
    bind(tmp_path, LIVE, "warehouse_to_citizen")
    with pytest.raises(ConfigurationError) as info:
        bind(tmp_path, KafkaIdentity("cluster-b", LIVE.topics), "warehouse_to_citizen")
    assert "cluster-a" in str(info.value)
    assert "smartsync flow reset warehouse_to_citizen" in str(info.value)


def test_a_recreated_topic_is_refused() -> None:
    why = identity_mismatch(LIVE, KafkaIdentity("cluster-a", {"t1": "id-1", "t2": "id-9"}))
    assert why is not None
    assert "t2" in why


def test_a_topic_new_to_the_flow_is_added(tmp_path: Path) -> None:
    bind(tmp_path, LIVE, "citizen_to_warehouse")
    grown = KafkaIdentity("cluster-a", {**LIVE.topics, "t3": "id-3"})
    assert bind(tmp_path, grown, "citizen_to_warehouse") is False
    assert '"t3"' in (tmp_path / IDENTITY_FILE).read_text()


def test_an_unreadable_identity_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / IDENTITY_FILE).write_text("{not json")
    with pytest.raises(ConfigurationError, match="flow reset"):
        bind(tmp_path, LIVE, "warehouse_to_citizen")


def test_the_recovery_directory_comes_from_bytewax_runs_arguments() -> None:
    assert recovery_dir_from_argv(["x", "-w", "2", "-r", "/r/w2c", "-s", "5"]) == Path("/r/w2c")
    assert recovery_dir_from_argv(["x", "--recovery-directory=/r/c2w"]) == Path("/r/c2w")
    assert recovery_dir_from_argv(["x", "-w", "2"]) is None


def test_reset_removes_partitions_and_identity_only(tmp_path: Path) -> None:
    for name in ("part-0.sqlite3", "part-0.sqlite3-wal", IDENTITY_FILE, "notes.txt"):
        (tmp_path / name).write_text("x")
    removed = reset(tmp_path)
    assert sorted(p.name for p in removed) == sorted(["part-0.sqlite3", "part-0.sqlite3-wal", IDENTITY_FILE])
    assert (tmp_path / "notes.txt").exists()
    assert reset(tmp_path / "absent") == []
