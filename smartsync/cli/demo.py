"""``smartsync demo``: the main job on the local stack, shown step by step."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from smartsync.catalog import Catalog, Direction, load_catalog
from smartsync.cli.console import console, handle_errors, progress
from smartsync.errors import StackError
from smartsync.tables import Database

if TYPE_CHECKING:
    from smartsync.localstack import StackState


def _flow_tables(before: dict[str, int], now: dict[str, int], rows: dict[str, int]) -> Group:
    events = Table(title="change events on Kafka (this run)", title_justify="left")
    events.add_column("topic")
    events.add_column("events", justify="right")
    for name, total in now.items():
        events.add_row(name, f"{total - before.get(name, 0):,}")
    targets = Table(title="rows in the sync targets", title_justify="left")
    targets.add_column("target table")
    targets.add_column("rows", justify="right")
    for name, count in rows.items():
        targets.add_row(name, f"{count:,}")
    return Group(events, targets)


@contextlib.contextmanager
def _dataflows(state: StackState, recovery_root: Path, workers: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    from dataflows import runner
    from smartsync import localstack

    procs: list[subprocess.Popen[bytes]] = []
    log_dir = localstack.stack_dir() / "logs"
    try:
        for i, direction in enumerate(Direction):
            plan = runner.plan_run(
                direction,
                processes=1,
                workers=workers,
                recovery_root=recovery_root,
                snapshot_interval_s=5,
                metrics_port=runner.free_ports(1)[0] + i,
            )
            runner.ensure_recovery(plan)
            progress(f"starting dataflow {direction.value} (metrics on :{plan.processes[0].metrics_port})")
            with (log_dir / f"demo-{direction.value}.log").open("ab") as log:
                for p in plan.processes:
                    env = {**os.environ, **state.env(), **p.env()}
                    procs.append(subprocess.Popen(p.argv, env=env, stdout=log, stderr=log, start_new_session=True))  # noqa: S603
        yield procs
    finally:
        runner.stop(procs)


def _check_alive(procs: list[subprocess.Popen[bytes]]) -> None:
    from smartsync import localstack

    for proc in procs:
        if proc.poll() is not None:
            msg = f"a dataflow exited with code {proc.returncode}"
            raise StackError(msg, hint=f"see {localstack.stack_dir() / 'logs'}/demo-*.log")


def _watch(
    state: StackState,
    catalog: Catalog,
    before: dict[str, int],
    procs: list[subprocess.Popen[bytes]],
    *,
    quiet_s: float,
    timeout_s: float,
) -> None:
    """Refresh the tables until topics and targets stop changing for ``quiet_s``."""
    from smartsync import demo

    dsns = {db: state.dsn(db) for db in Database}
    topics = {t.name: t.partitions for t in catalog.topics()}
    last: tuple[dict[str, int], dict[str, int]] | None = None
    stable_since = time.monotonic()
    deadline = time.monotonic() + timeout_s
    with Live(console=console, refresh_per_second=2) as live:
        while time.monotonic() < deadline:
            _check_alive(procs)
            now = (demo.topic_totals(state.bootstrap, topics), demo.target_counts(dsns, catalog))
            live.update(_flow_tables(before, *now))
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since >= quiet_s:
                return
            time.sleep(1)


@handle_errors
def run(
    scale: float = typer.Option(0.1, help="Synthetic data volume; 1.0 = the seeds' daily volumes"),
    seed: int = typer.Option(20241230, help="Seed of the synthetic data"),
    live_seconds: float = typer.Option(20, help="How long the live workload of changes runs"),
    rate: float = typer.Option(200, help="Live changes per second"),
    workers: int = typer.Option(2, help="Bytewax workers per dataflow"),
) -> None:
    """Start the stack and both dataflows, load synthetic data, make live changes, show what flowed."""
    from smartsync import demo, localstack
    from smartsync.synthetic.loader import load_all

    catalog = load_catalog()
    state = localstack.up(progress)
    dsns = {db: state.dsn(db) for db in Database}
    topics = {t.name: t.partitions for t in catalog.topics()}
    before = demo.topic_totals(state.bootstrap, topics)
    recovery = localstack.stack_dir() / "recovery"
    with _dataflows(state, recovery, workers) as procs:
        progress(f"loading synthetic data at scale {scale} (seed {seed})")
        started = time.monotonic()
        loads = load_all(dsns, scale=scale, seed=seed)
        rows = sum(x.rows for x in loads)
        progress(f"loaded {rows:,} rows into {len(loads)} source tables in {time.monotonic() - started:.1f}s")
        progress(f"making about {rate:.0f} live changes a second for {live_seconds:.0f}s")
        made = demo.run_live_workload(dsns, catalog, rate_per_s=rate, seconds=live_seconds)
        progress(f"made {made:,} live changes; waiting for the dataflows to drain")
        _check_alive(procs)
        _watch(state, catalog, before, procs, quiet_s=5, timeout_s=300)
    console.print("[green]done[/green]: the stack keeps running; `smartsync stack down` stops it")
