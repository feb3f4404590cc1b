"""The run plan of ``smartsync flow run``: plain ``python -m bytewax.run`` command lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dataflows import runner
from dataflows.runner import plan_run
from smartsync.core.catalog import Direction
from smartsync.core.errors import ConfigurationError


def test_one_process_has_no_cluster_addresses() -> None:
    plan = plan_run(
        Direction.WAREHOUSE_TO_CITIZEN,
        processes=1,
        workers=2,
        recovery_root=Path("/r"),
        snapshot_interval_s=5,
        metrics_port=3030,
        python="py",
    )
    (proc,) = plan.processes
    assert proc.argv == (
        "py",
        "-m",
        "bytewax.run",
        "dataflows.warehouse_to_citizen:flow()",
        "-w",
        "2",
        "-r",
        "/r/warehouse_to_citizen",
        "-s",
        "5",
        "-b",
        "0",
    )
    assert proc.env() == {
        "BYTEWAX_DATAFLOW_API_ENABLED": "1",
        "BYTEWAX_DATAFLOW_API_PORT": "3030",
        runner.SUPERVISOR_PID_ENV: str(os.getpid()),
    }
    assert plan.recovery_partitions == 2


def test_processes_share_the_address_list_and_get_their_own_id_and_port() -> None:
    plan = plan_run(
        Direction.CITIZEN_TO_WAREHOUSE,
        processes=2,
        workers=1,
        recovery_root=Path("/r"),
        snapshot_interval_s=5,
        metrics_port=3130,
        cluster_ports=[2101, 2102],
        python="py",
    )
    first, second = plan.processes
    assert first.argv[-4:] == ("-i", "0", "-a", "127.0.0.1:2101;127.0.0.1:2102")
    assert second.argv[-4:] == ("-i", "1", "-a", "127.0.0.1:2101;127.0.0.1:2102")
    assert (first.metrics_port, second.metrics_port) == (3130, 3131)


def test_existing_recovery_partitions_keep_their_count(tmp_path: Path) -> None:
    rec = tmp_path / "warehouse_to_citizen"
    rec.mkdir()
    for i in range(3):
        (rec / f"part-{i}.sqlite3").touch()
    plan = plan_run(
        Direction.WAREHOUSE_TO_CITIZEN,
        processes=2,
        workers=2,
        recovery_root=tmp_path,
        snapshot_interval_s=5,
        metrics_port=1,
        cluster_ports=[1, 2],
    )
    assert plan.recovery_partitions == 3


@pytest.mark.parametrize(("processes", "workers", "ports"), [(0, 1, []), (1, 0, []), (2, 1, [1])])
def test_bad_shapes_are_refused(processes: int, workers: int, ports: list[int]) -> None:
    with pytest.raises(ConfigurationError):
        plan_run(
            Direction.WAREHOUSE_TO_CITIZEN,
            processes=processes,
            workers=workers,
            recovery_root=Path("/r"),
            snapshot_interval_s=5,
            metrics_port=1,
            cluster_ports=ports,
        )


def test_a_process_whose_supervisor_is_already_gone_stops() -> None:
    # The supervisor named in the environment is not the parent any more: it died before the
    # parent-death signal was armed, so the process stops at once.
    code = "import time; from dataflows.runner import follow_supervisor; follow_supervisor(); time.sleep(30)"
    env = {**os.environ, runner.SUPERVISOR_PID_ENV: "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, timeout=20, check=False)  # noqa: S603
    assert done.returncode == -signal.SIGTERM


def test_a_process_started_by_hand_is_left_alone() -> None:
    code = "from dataflows.runner import follow_supervisor; follow_supervisor(); print('ran')"
    env = {k: v for k, v in os.environ.items() if k != runner.SUPERVISOR_PID_ENV}
    done = subprocess.run(  # noqa: S603 — our own interpreter
        [sys.executable, "-c", code], env=env, timeout=20, check=False, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ran")
