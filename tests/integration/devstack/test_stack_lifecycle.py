"""A second, throw-away stack: killed runs are cleaned up and leave no process or slot behind."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import psycopg
import pytest

from smartsync.core.errors import StackError
from smartsync.devstack import localstack
from smartsync.devstack.localstack import java, lifecycle, postgres


def _slots(state: localstack.StackState) -> list[str]:
    with psycopg.connect(state.dsn("postgres")) as conn:
        return [r[0] for r in conn.execute("SELECT slot_name FROM pg_replication_slots")]


def test_killed_run_is_restarted_and_down_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSYNC_STACK_DIR", str(tmp_path / "stack"))
    first = localstack.up()
    pids = dict(first.pids)
    try:
        # A killed run: Connect and Kafka die without cleaning up; the state file is now stale.
        for pid in pids.values():
            os.killpg(pid, signal.SIGKILL)
        time.sleep(1)
        assert not all(part.running for part in localstack.status())
        second = localstack.up()
        assert set(second.pids.values()).isdisjoint(pids.values())
        assert sorted(_slots(second)) == ["smartsync_citizen", "smartsync_warehouse"]
        # Kill Connect again, then stop: its replication slots must not outlive it.
        os.killpg(second.pids["connect"], signal.SIGKILL)
    finally:
        localstack.down()
    for pid in (*pids.values(), *second.pids.values()):
        assert not localstack._alive(pid)
    assert localstack.read_state() is None
    assert not postgres._postgres_running(Path(second.pg_data))
    assert not any((Path(second.pg_data) / "pg_replslot").iterdir())
    localstack.down(purge=True)
    assert not Path(second.pg_data).exists()


def test_a_taken_port_fails_with_one_line_and_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSYNC_STACK_DIR", str(tmp_path / "stack"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("SMARTSYNC_STACK_KAFKA_PORT", str(port))
        with pytest.raises(StackError, match=f"port {port} .* is already taken"):
            localstack.up()
    assert localstack.read_state() is None


def test_an_unreadable_state_file_is_cleared_by_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSYNC_STACK_DIR", str(tmp_path / "stack"))
    state_file = tmp_path / "stack" / "state.json"
    state_file.parent.mkdir()
    state_file.write_text("{not json")
    with pytest.raises(StackError, match="run `smartsync stack down` to clear it"):
        localstack.up()
    localstack.down()
    assert not state_file.exists()


def test_a_run_left_without_its_stack_folder_is_stopped_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh clone at the path of a killed one: its processes still run, and as root its
    # cluster outlives the stack folder that held the password. Nothing of it may be reused.
    run = tmp_path / "stack"
    monkeypatch.setenv("SMARTSYNC_STACK_DIR", str(run))
    first = localstack.up()
    # Moved away in one step: the running processes would refill a folder being deleted.
    run.rename(tmp_path / "gone")
    assert (Path(first.pg_data) / "PG_VERSION").exists()
    lines: list[str] = []
    try:
        second = localstack.up(lines.append)
        assert lifecycle._healthy(second)
        with psycopg.connect(second.dsn("smart_warehouse")) as conn:
            migrated = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'smartsync'").fetchone()
        assert migrated is not None
        assert migrated[0] > 0
        assert second.admin_password != first.admin_password
        assert not any(localstack._alive(pid) for pid in first.pids.values())
        assert any("removing the PostgreSQL cluster" in line for line in lines)
    finally:
        localstack.down(purge=True)
    assert not Path(first.pg_data).exists()
    assert not java._leftover_jvms()
