"""Running the real dataflows from tests and benchmarks: as subprocesses, as an operator would.

``RunningFlow`` starts a direction's processes (``python -m bytewax.run``, recovery optional),
can SIGKILL them at any moment and start them again on the same recovery directory, and
reads their metrics. ``wait_until`` polls a condition with a deadline (a wait, not a timing
assertion).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bytewax.outputs import DynamicSink, StatelessSinkPartition

import masking
from dataflows import runner
from masking.leaks import verhoeff_digit
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.tables import SCHEMA

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, timeout_s: float = 60.0, every_s: float = 0.25, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail with its last value after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            msg = f"{what} not reached within {timeout_s:.0f}s; last: {last!r}"
            raise AssertionError(msg)
        time.sleep(every_s)
        last = check()
    return last


class RunningFlow:
    """One run of a direction's dataflow as ``processes`` × ``workers`` on this host."""

    def __init__(
        self,
        direction: Direction,
        recovery_root: Path,
        *,
        processes: int = 1,
        workers: int = 1,
        snapshot_interval_s: int = 1,
        log_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.direction = direction
        self.recovery_root = recovery_root
        self.processes = processes
        self.workers = workers
        self.snapshot_interval_s = snapshot_interval_s
        self.log_dir = log_dir or recovery_root / "logs"
        self.env = env or {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.metrics_ports: list[int] = []
        self.starts = 0

    def start(self) -> RunningFlow:
        ports = runner.free_ports(2 * self.processes)
        plan = runner.plan_run(
            self.direction,
            processes=self.processes,
            workers=self.workers,
            recovery_root=self.recovery_root,
            snapshot_interval_s=self.snapshot_interval_s,
            metrics_port=0,
            cluster_ports=ports[: self.processes] if self.processes > 1 else (),
            python=sys.executable,
        )
        runner.ensure_recovery(plan)
        self.metrics_ports = ports[self.processes :]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs = []
        self.starts += 1
        for p, port in zip(plan.processes, self.metrics_ports, strict=True):
            env = {**os.environ, **self.env, **p.env(), "BYTEWAX_DATAFLOW_API_PORT": str(port)}
            log = (self.log_dir / f"{self.direction.value}-{self.starts}-{p.index}.log").open("ab")
            self.procs.append(
                subprocess.Popen(p.argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
            )
            log.close()
        return self

    def kill(self) -> None:
        """SIGKILL every process at once: no close(), no last snapshot."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait()

    def stop(self) -> None:
        runner.stop(self.procs)

    def check_alive(self) -> bool:
        """True while every process runs; fail with the end of the logs when one has exited."""
        codes = self.exit_codes()
        if any(c is not None for c in codes):
            msg = f"{self.direction.value} exited (codes {codes}); log tail:\n{self.logs()[-3000:]}"
            raise AssertionError(msg)
        return True

    def wait(self, check: Callable[[], T], *, timeout_s: float = 60.0, what: str = "condition") -> T:
        """``wait_until`` that also fails as soon as the flow dies."""

        def alive_and(check: Callable[[], T] = check) -> T:
            self.check_alive()
            return check()

        return wait_until(alive_and, timeout_s=timeout_s, what=what)

    def exit_codes(self) -> list[int | None]:
        return [p.poll() for p in self.procs]

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def metric(self, name: str, **labels: str) -> float:
        """Sum of one metric over all processes (0 for a process that does not answer)."""
        return sum(self.metric_by_process(name, **labels))

    def metric_by_process(self, name: str, **labels: str) -> list[float]:
        values = []
        for port in self.metrics_ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    text = resp.read().decode()
            except OSError:
                values.append(0.0)
                continue
            values.append(_sum_metric(text, name, labels))
        return values

    def __enter__(self) -> RunningFlow:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()


def _sum_metric(text: str, name: str, labels: dict[str, str]) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if all(f'{k}="{v}"' in label_text for k, v in labels.items()):
            total += float(value)
    return total


# ── expected and actual target states ─────────────────────────────────────────────────


def _ident(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


def source_rows(conn: Any, table: str, where_column: str, values: list[Any]) -> list[dict[str, Any]]:
    """Rows of ``table`` whose ``where_column`` is in ``values``, as dicts."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {_ident(table)} WHERE {_ident(where_column)} = ANY(%s)", (values,))
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def expected_mirror(
    sync: Any, source_conn: Any, where_column: str, values: list[Any]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """What a mirror sync's target must hold for these source rows: mapped and masked as the catalog says."""
    key = SCHEMA.table(sync.target_database, sync.target).primary_key
    out = {}
    for src in source_rows(source_conn, sync.source, where_column, values):
        row = {t: src[c.source] for t, c in sync.columns.items() if c.source is not None}
        if sync.citizen_bound:
            row = masking.mask_row(sync, row)
        out[tuple(row[k] for k in key)] = row
    return out


def converged(
    sync: Any, target_conn: Any, where_column: str, values: list[Any], expected: dict[tuple[Any, ...], dict[str, Any]]
) -> Callable[[], bool]:
    """A check for ``wait``: the sync's target rows for these keys equal ``expected``."""
    return lambda: target_state(sync, target_conn, where_column, values) == expected


def target_state(
    sync: Any, target_conn: Any, where_column: str, values: list[Any]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The sync's columns of its target rows, by key."""
    key = SCHEMA.table(sync.target_database, sync.target).primary_key
    out = {}
    for row in source_rows(target_conn, sync.target, where_column, values):
        mapped = {t: row[t] for t in sync.columns}
        out[tuple(mapped[k] for k in key)] = mapped
    return out


# ── personal data that looks real (so the leak scanner has something to find) ──────────


def person(n: int) -> dict[str, Any]:
    """Identity columns of citizen ``n``: a Verhoeff-valid Aadhaar, a 10-digit Jan Aadhaar, a mobile, an email."""
    body = f"{2 + n % 8}{n % 10**10:010d}"
    return {
        "aadhaar": body + verhoeff_digit(body),
        "jan_aadhaar": f"{(n * 7919) % 10**10:010d}",
        "full_name": f"Citizen {n}",
        "gender": "F" if n % 2 else "M",
        "district_id": n % 33 + 1,
        "address": f"{n} Station Road",
        "mobile": f"9{(n * 104729) % 10**9:09d}",
        "email": f"citizen{n}@example.org",
    }


def application_events(conn: Any, application_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    """(event_type, status) of every application event, per application, in source order."""
    sync = load_catalog().sync("application_submissions")
    rows = conn.execute(
        f"SELECT application_id, event_type, status FROM {sync.target} "
        "WHERE application_id = ANY(%s) ORDER BY application_id, source_lsn",
        (application_ids,),
    ).fetchall()
    out: dict[int, list[tuple[str, str]]] = {}
    for app, kind, status in rows:
        out.setdefault(app, []).append((kind, status))
    return out


class _Discard(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        pass


class NullSink(DynamicSink[Any]):
    """A sink that drops what reaches it: benchmarks of a flow's own steps, without a database."""

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Discard:
        return _Discard()
