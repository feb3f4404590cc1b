"""The run plan of ``smartsync flow run``: plain ``python -m bytewax.run`` command lines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from dataflows import runner
from dataflows.runner import plan_run
from smartsync.cli import main
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


def _member(tmp_path: Path, process_id: int, addresses: tuple[str, ...], workers: int = 1) -> runner.RunPlan:
    return runner.plan_member(
        Direction.CITIZEN_TO_WAREHOUSE,
        process_id=process_id,
        addresses=addresses,
        workers=workers,
        recovery_root=tmp_path,
        snapshot_interval_s=5,
        metrics_port=3030,
        python="py",
    )


def test_a_member_runs_one_process_with_the_given_addresses_and_the_base_metrics_port(tmp_path: Path) -> None:
    addresses = ("flow-0.flow.ns.svc:2101", "flow-1.flow.ns.svc:2101")
    plan = _member(tmp_path, 1, addresses, workers=2)
    (proc,) = plan.processes
    assert proc.argv[-4:] == ("-i", "1", "-a", "flow-0.flow.ns.svc:2101;flow-1.flow.ns.svc:2101")
    assert (proc.index, proc.metrics_port) == (1, 3030)
    assert plan.recovery_partitions == 4
    assert plan.local_partitions() == (1, 3)


def test_a_member_alone_runs_without_cluster_arguments(tmp_path: Path) -> None:
    (proc,) = _member(tmp_path, 0, ("flow-0.flow.ns.svc:2101",)).processes
    assert "-a" not in proc.argv
    assert "-i" not in proc.argv


@pytest.mark.parametrize("process_id", [-1, 2])
def test_a_member_id_outside_the_address_list_is_refused(tmp_path: Path, process_id: int) -> None:
    with pytest.raises(ConfigurationError, match="--process-id"):
        _member(tmp_path, process_id, ("a:1", "b:2"))


def test_addresses_are_parsed_in_process_order() -> None:
    assert runner.parse_addresses(" a.svc:2101 ;b.svc:2101;") == ("a.svc:2101", "b.svc:2101")
    assert runner.parse_addresses("[::1]:2101") == ("[::1]:2101",)


@pytest.mark.parametrize("bad", ["", ";", "host", "host:", ":2101", "host:port", "host:70000", "a:1;a:1"])
def test_bad_address_lists_are_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        runner.parse_addresses(bad)


def test_members_own_disjoint_shares_that_cover_every_partition() -> None:
    shares = [runner.owned_partitions(i, 3, 7) for i in range(3)]
    assert shares == [(0, 3, 6), (1, 4), (2, 5)]
    assert sorted(k for share in shares for k in share) == list(range(7))


def test_each_member_creates_only_its_share_and_keeps_it(tmp_path: Path) -> None:
    addresses = ("a:1", "b:2")
    for i, root in enumerate((tmp_path / "host-0", tmp_path / "host-1")):
        plan = _member(root, i, addresses, workers=2)
        assert runner.ensure_recovery(plan, python=sys.executable)
        assert runner.read_partitions(plan.recovery_dir) == {k: 4 for k in plan.local_partitions()}
        # A restart finds its share and keeps its count, whatever --workers says now.
        again = _member(root, i, addresses, workers=1)
        assert again.recovery_partitions == 4
        assert not runner.ensure_recovery(again, python=sys.executable)
    assert sorted(p.name for p in (tmp_path / "host-0" / "citizen_to_warehouse").glob("*.sqlite3")) == [
        "part-0.sqlite3",
        "part-2.sqlite3",
    ]
    # No staging directories are left next to the recovery directories.
    assert sorted(p.name for p in (tmp_path / "host-0").iterdir()) == ["citizen_to_warehouse"]


def test_a_member_whose_share_changed_is_refused(tmp_path: Path) -> None:
    plan = _member(tmp_path, 0, ("a:1", "b:2"))
    runner.ensure_recovery(plan, python=sys.executable)
    # The same volume given to another process id, or to a cluster of one: a partition would be
    # on two hosts, or on none.
    with pytest.raises(ConfigurationError, match=r"should hold recovery partitions \[1\] of 2"):
        runner.ensure_recovery(_member(tmp_path, 1, ("a:1", "b:2")), python=sys.executable)
    with pytest.raises(ConfigurationError, match=r"should hold recovery partitions \[0, 1\] of 2"):
        runner.ensure_recovery(_member(tmp_path, 0, ("a:1",)), python=sys.executable)


def test_partitions_of_different_sets_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="different sets"):
        runner.check_member_partitions({0: 2, 2: 4}, 0, 2)


def test_the_local_shape_still_makes_every_partition_in_one_directory(tmp_path: Path) -> None:
    plan = plan_run(
        Direction.WAREHOUSE_TO_CITIZEN,
        processes=2,
        workers=1,
        recovery_root=tmp_path,
        snapshot_interval_s=5,
        metrics_port=1,
        cluster_ports=[1, 2],
    )
    assert runner.ensure_recovery(plan, python=sys.executable)
    assert runner.read_partitions(plan.recovery_dir) == {0: 2, 1: 2}
    assert not runner.ensure_recovery(plan, python=sys.executable)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("SMARTSYNC_WAREHOUSE_DSN", "postgresql://u@h/w")
    monkeypatch.setenv("SMARTSYNC_CITIZEN_DSN", "postgresql://u@h/c")
    monkeypatch.setenv("SMARTSYNC_KAFKA_BOOTSTRAP", "h:9092")
    monkeypatch.setenv("SMARTSYNC_RECOVERY_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTSYNC_DEBUG", "")
    for name in ("SMARTSYNC_FLOW_PROCESS_ID", "SMARTSYNC_FLOW_ADDRESSES", "SMARTSYNC_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _flow_run(*args: str) -> Result:
    return CliRunner().invoke(main.app, ["flow", "run", "warehouse_to_citizen", "--dry-run", *args])


def test_a_pod_takes_its_id_and_addresses_from_the_environment(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the StatefulSet sets: the pod index and the headless Service's names.
    monkeypatch.setenv("SMARTSYNC_FLOW_PROCESS_ID", "1")
    monkeypatch.setenv("SMARTSYNC_FLOW_ADDRESSES", "w-0.w.ns.svc:2101;w-1.w.ns.svc:2101")
    result = _flow_run("--workers", "1")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "process 1 (metrics :3030/metrics)" in out
    assert "-i 1 -a 'w-0.w.ns.svc:2101;w-1.w.ns.svc:2101'" in out


def test_options_override_the_environment(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSYNC_FLOW_PROCESS_ID", "1")
    monkeypatch.setenv("SMARTSYNC_FLOW_ADDRESSES", "a:1;b:2")
    result = _flow_run("--process-id", "0", "--addresses", "c:3;d:4")
    assert result.exit_code == 0, result.output
    assert "-i 0 -a 'c:3;d:4'" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--process-id", "0"], "needs both --process-id and --addresses"),
        (["--addresses", "a:1;b:2"], "needs both --process-id and --addresses"),
        (["--process-id", "0", "--addresses", "a:1;b:2", "--processes", "2"], "each host runs one process"),
        (["--process-id", "2", "--addresses", "a:1;b:2"], "not an index"),
    ],
)
def test_half_or_mixed_cluster_options_are_refused(cli_env: Path, args: list[str], message: str) -> None:
    result = _flow_run(*args)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())


def test_without_cluster_options_the_local_shape_is_unchanged(cli_env: Path) -> None:
    result = _flow_run("--processes", "2", "--workers", "1")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "process 0 (metrics :3030/metrics)" in out
    assert "process 1 (metrics :3031/metrics)" in out
    assert "-a '127.0.0.1:" in out
