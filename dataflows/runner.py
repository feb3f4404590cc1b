"""Running a dataflow as N processes of W workers: the plan (pure) and a small supervisor.

The plan is the plain ``python -m bytewax.run`` command line of every process (the same
``-w`` and ``-a`` list for all, one ``-i`` each, one metrics port each), the recovery
directory (partitions created once) and the snapshot interval. The supervisor starts the
processes, and stops them all when one exits or on Ctrl-C: Bytewax processes of one
cluster cannot continue without each other, and a restarted set resumes from recovery.

Two shapes: all processes on this host (``plan_run``: loopback addresses, one shared
recovery directory holding every partition), or one process of a cluster spread over hosts
(``plan_member``: the given address list, a recovery directory of its own holding only the
partitions ``k`` with ``k % processes == process_id``; see docs/event-path.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from smartsync.core.catalog import Direction
from smartsync.core.errors import ConfigurationError

# Snapshots older than this are dropped: nothing here backs up the recovery directory.
BACKUP_INTERVAL_S = 0
# Set for every process a supervisor starts: the pid the process must not outlive.
SUPERVISOR_PID_ENV = "SMARTSYNC_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1


def flow_import(direction: Direction) -> str:
    return f"dataflows.{direction.value}:flow()"


@dataclass(frozen=True)
class ProcessPlan:
    index: int
    argv: tuple[str, ...]
    metrics_port: int

    def env(self) -> dict[str, str]:
        """The variables of the process, when this process starts and supervises it."""
        return {
            "BYTEWAX_DATAFLOW_API_ENABLED": "1",
            "BYTEWAX_DATAFLOW_API_PORT": str(self.metrics_port),
            SUPERVISOR_PID_ENV: str(os.getpid()),
        }


@dataclass(frozen=True)
class RunPlan:
    direction: Direction
    recovery_dir: Path
    recovery_partitions: int
    processes: tuple[ProcessPlan, ...]
    # A member of a multi-host cluster keeps only its share of the partitions: (process id, processes).
    # None: this host runs every process, and the directory holds every partition.
    member_of: tuple[int, int] | None = None

    def local_partitions(self) -> tuple[int, ...]:
        """The partition indices this host's recovery directory holds."""
        if self.member_of is None:
            return tuple(range(self.recovery_partitions))
        return owned_partitions(*self.member_of, self.recovery_partitions)


def plan_run(
    direction: Direction,
    *,
    processes: int,
    workers: int,
    recovery_root: Path,
    snapshot_interval_s: int,
    metrics_port: int,
    cluster_ports: Sequence[int] = (),
    python: str = sys.executable,
) -> RunPlan:
    """The command lines of a run; ``cluster_ports`` (one per process) are needed when processes > 1."""
    if processes < 1 or workers < 1:
        msg = f"--processes and --workers must be at least 1 (got {processes} and {workers})"
        raise ConfigurationError(msg, hint="e.g. --processes 2 --workers 2")
    if processes > 1 and len(cluster_ports) != processes:
        msg = f"{processes} processes need {processes} cluster ports, got {len(cluster_ports)}"
        raise ConfigurationError(msg)
    recovery_dir = recovery_root / direction.value
    addresses = ";".join(f"127.0.0.1:{p}" for p in cluster_ports)
    plans = []
    for i in range(processes):
        argv = [
            python,
            "-m",
            "bytewax.run",
            flow_import(direction),
            "-w",
            str(workers),
            "-r",
            str(recovery_dir),
            "-s",
            str(snapshot_interval_s),
            "-b",
            str(BACKUP_INTERVAL_S),
        ]
        if processes > 1:
            argv += ["-i", str(i), "-a", addresses]
        plans.append(ProcessPlan(i, tuple(argv), metrics_port + i))
    return RunPlan(direction, recovery_dir, existing_partitions(recovery_dir) or processes * workers, tuple(plans))


def parse_addresses(addresses: str) -> tuple[str, ...]:
    """``"host:port;host:port"`` → the addresses, in process-id order; refuses what Bytewax could not bind."""
    parts = tuple(a.strip() for a in addresses.split(";") if a.strip())
    hint = 'e.g. --addresses "flow-0.flow.ns.svc:2101;flow-1.flow.ns.svc:2101" (SMARTSYNC_FLOW_ADDRESSES)'
    if not parts:
        msg = "the cluster address list is empty"
        raise ConfigurationError(msg, hint=hint)
    for address in parts:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            msg = f"cluster address {address!r} is not HOST:PORT"
            raise ConfigurationError(msg, hint=hint)
    if len(set(parts)) != len(parts):
        msg = f"the cluster address list names an address twice: {';'.join(parts)}"
        raise ConfigurationError(msg, hint=hint)
    return parts


def owned_partitions(process_id: int, processes: int, partitions: int) -> tuple[int, ...]:
    """The recovery partitions a member keeps: every ``processes``-th one, starting at its id.

    Bytewax reads every ``*.sqlite3`` file of a process's directory, makes some worker that
    sees a partition its primary, and needs the union over all processes to be exactly
    0..N-1 with no copies (a copy on two hosts would feed two, diverging, snapshots of a key).
    """
    return tuple(k for k in range(partitions) if k % processes == process_id)


def plan_member(
    direction: Direction,
    *,
    process_id: int,
    addresses: Sequence[str],
    workers: int,
    recovery_root: Path,
    snapshot_interval_s: int,
    metrics_port: int,
    python: str = sys.executable,
) -> RunPlan:
    """The command line of one process of a cluster spread over hosts (a StatefulSet pod, say)."""
    processes = len(addresses)
    if workers < 1:
        msg = f"--workers must be at least 1 (got {workers})"
        raise ConfigurationError(msg, hint="e.g. --workers 1")
    if not 0 <= process_id < processes:
        msg = f"--process-id {process_id} is not an index into the {processes} cluster address(es)"
        raise ConfigurationError(msg, hint=f"use 0..{processes - 1} (SMARTSYNC_FLOW_PROCESS_ID)")
    recovery_dir = recovery_root / direction.value
    argv = [python, "-m", "bytewax.run", flow_import(direction), "-w", str(workers), "-r", str(recovery_dir)]
    argv += ["-s", str(snapshot_interval_s), "-b", str(BACKUP_INTERVAL_S)]
    if processes > 1:
        argv += ["-i", str(process_id), "-a", ";".join(addresses)]
    found = read_partitions(recovery_dir)
    count = next(iter(found.values())) if found else processes * workers
    process = ProcessPlan(process_id, tuple(argv), metrics_port)
    return RunPlan(direction, recovery_dir, count, (process,), member_of=(process_id, processes))


def existing_partitions(recovery_dir: Path) -> int:
    return len(list(recovery_dir.glob("part-*.sqlite3"))) if recovery_dir.is_dir() else 0


def read_partitions(recovery_dir: Path) -> dict[int, int]:
    """Index → partition count of every recovery partition in the directory, as the files say."""
    found: dict[int, int] = {}
    if not recovery_dir.is_dir():
        return found
    for path in sorted(recovery_dir.glob("*.sqlite3")):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                rows = db.execute("SELECT part_index, part_count FROM parts").fetchall()
        except sqlite3.Error as exc:
            msg = f"recovery file {path} is not a readable Bytewax partition: {exc}"
            raise ConfigurationError(msg, hint="restore the directory from a backup, or reset the direction") from None
        found.update({int(index): int(count) for index, count in rows})
    return found


def check_member_partitions(found: dict[int, int], process_id: int, processes: int) -> None:
    """Refuse a member directory that is not exactly this process's share of one partition set."""
    counts = set(found.values())
    if len(counts) > 1:
        msg = f"the recovery partitions here come from different sets (partition counts {sorted(counts)})"
        raise ConfigurationError(msg, hint="restore this process's recovery volume, or reset the direction")
    (count,) = counts
    expected = owned_partitions(process_id, processes, count)
    if tuple(sorted(found)) != expected:
        msg = (
            f"process {process_id} of {processes} should hold recovery partitions {list(expected)} of {count}, "
            f"its directory holds {sorted(found)}"
        )
        hint = (
            "the process count or this process's id changed since the partitions were made: run the old "
            "number of processes, or (all stopped) move the part-*.sqlite3 files with their -wal/-shm so that "
            "process i holds the k with k % processes == i"
        )
        raise ConfigurationError(msg, hint=hint)


def ensure_recovery(plan: RunPlan, python: str = sys.executable) -> bool:
    """Create the recovery partitions once (a member: only its share); return True when made now.

    A member that finds partitions checks that they are its share (``check_member_partitions``).
    """
    if plan.member_of is not None:
        found = read_partitions(plan.recovery_dir)
        if found:
            check_member_partitions(found, *plan.member_of)
            return False
    elif existing_partitions(plan.recovery_dir):
        return False
    plan.recovery_dir.mkdir(parents=True, exist_ok=True)
    # Made aside and moved in, so a process killed half-way leaves no partial set behind.
    staging = Path(tempfile.mkdtemp(prefix=f".{plan.direction.value}-", dir=plan.recovery_dir.parent))
    try:
        done = subprocess.run(  # noqa: S603 — our own fixed command line
            [python, "-m", "bytewax.recovery", str(staging), str(plan.recovery_partitions)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            msg = f"could not create recovery partitions in {plan.recovery_dir}: {done.stderr.strip()[-300:]}"
            raise ConfigurationError(msg, hint="check that the directory is writable")
        for index in plan.local_partitions():
            name = f"part-{index}.sqlite3"
            (staging / name).rename(plan.recovery_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def follow_supervisor() -> None:
    """Make this flow process stop (SIGTERM) when the supervisor that started it dies, even by SIGKILL.

    The processes run in sessions of their own, so nothing else would stop them: a restarted
    supervisor would then run a second set on the same recovery partitions. A no-op for a
    process started by hand (no ``SMARTSYNC_SUPERVISOR_PID``) and off Linux.
    """
    # Process plumbing, not a setting: the supervisor sets it for its own children only.
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    if not supervisor or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    if os.getppid() != int(supervisor):
        # The supervisor is already gone (or never was our parent): stop as it would have.
        os.kill(os.getpid(), signal.SIGTERM)


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def start(plan: RunPlan, *, extra_env: dict[str, str] | None = None) -> list[subprocess.Popen[bytes]]:
    procs = []
    for p in plan.processes:
        env = {**os.environ, **(extra_env or {}), **p.env()}
        procs.append(subprocess.Popen(p.argv, env=env, start_new_session=True))  # noqa: S603
    return procs


def stop(procs: Sequence[subprocess.Popen[bytes]], timeout_s: float = 10.0) -> None:
    """SIGTERM every process group we started, then SIGKILL what is left."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def supervise(procs: Sequence[subprocess.Popen[bytes]], on_exit: Callable[[int, int], None] | None = None) -> int:
    """Wait until a process exits, stop the others, return its exit code (Ctrl-C, SIGTERM: stop all, 130/143)."""
    # The processes run in sessions of their own (a terminal's Ctrl-C reaches only us): we stop them.
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            for i, proc in enumerate(procs):
                code = proc.poll()
                if code is not None:
                    if on_exit is not None:
                        on_exit(i, code)
                    stop(procs)
                    return code
            time.sleep(0.2)
    except (KeyboardInterrupt, _Stop) as exc:
        stop(procs)
        signum = exc.args[0] if isinstance(exc, _Stop) else signal.SIGINT
        return 128 + int(signum)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
