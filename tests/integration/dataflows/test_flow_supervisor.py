"""`smartsync flow run` supervises its flow processes: none of them outlives it, even a SIGKILL of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dataflows import runner
from smartsync.devstack import localstack
from smartsync.devstack.localstack import StackState


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(proc.name))
    return found


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1):
            return True
    except OSError:
        return False


def test_a_killed_supervisor_takes_its_flow_processes_with_it(stack: StackState, tmp_path: Path) -> None:
    metrics_port = runner.free_ports(1)[0]
    env = {
        **os.environ,
        **stack.env(),
        "SMARTSYNC_RECOVERY_DIR": str(tmp_path / "recovery"),
        # citizen_to_warehouse listens on the base port plus its offset; any free base will do.
        "SMARTSYNC_METRICS_PORT": str(metrics_port),
    }
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smartsync",
            "flow",
            "run",
            "citizen_to_warehouse",
            "--processes",
            "2",
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    flows: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            flows = _children(supervisor.pid)
            assert supervisor.poll() is None, "the supervisor exited on its own"
            # Both processes have built their flow once each serves its metrics.
            if len(flows) == 2 and all(_serving(p) for p in _metrics_ports(flows)):
                break
            time.sleep(0.5)
        else:
            msg = f"the flow processes did not start: {flows}"
            raise AssertionError(msg)
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(localstack._alive(p) for p in flows):
            time.sleep(0.2)
        assert not any(localstack._alive(p) for p in flows), f"flow processes outlived their supervisor: {flows}"
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
        for pid in flows:
            if localstack._alive(pid):
                os.kill(pid, signal.SIGKILL)


def _metrics_ports(pids: list[int]) -> list[int]:
    ports = []
    for pid in pids:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        port = next(v for v in env if v.startswith(b"BYTEWAX_DATAFLOW_API_PORT="))
        ports.append(int(port.split(b"=", 1)[1]))
    return ports
