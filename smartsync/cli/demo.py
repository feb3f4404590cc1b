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

from smartsync.cli.console import console, handle_errors, progress
from smartsync.core.catalog import Catalog, Direction, load_catalog
from smartsync.core.errors import StackError
from smartsync.core.tables import Database
from smartsync.devstack.synthetic.vocab import DEFAULT_SEED

if TYPE_CHECKING:
    from smartsync.devstack.localstack import StackState


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
    from smartsync.devstack import localstack

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


@contextlib.contextmanager
def _callback_service(state: StackState) -> Iterator[str]:
    """The callback API as a separate process on a free loopback port; yields its base URL."""
    import sys
    import urllib.request

    from dataflows.runner import SUPERVISOR_PID_ENV, free_ports, stop
    from smartsync.devstack import localstack

    port = free_ports(1)[0]
    log_path = localstack.stack_dir() / "logs" / "demo-callbacks.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 — our own command line
            [sys.executable, "-m", "smartsync", "callbacks", "serve", "--port", str(port)],
            env={**os.environ, **state.env(), SUPERVISOR_PID_ENV: str(os.getpid())},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 — loopback
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    msg = "the callback service did not start"
                    raise StackError(msg, hint=f"see {log_path}") from None
                time.sleep(0.3)
        progress(f"callback API on {url}")
        yield url
    finally:
        stop([proc])


def _post_callbacks(url: str, state: StackState, catalog: Catalog, count: int) -> None:
    """Post what the forecast and ML services would: the warehouse's forecasts and alerts."""
    from smartsync.devstack import demo

    paths = {"benefit_forecasts": "/v1/callbacks/benefit-forecasts/batch", "ml_alerts": "/v1/callbacks/ml-alerts/batch"}
    for sync_name, path in paths.items():
        items = demo.callback_payloads(state.dsn(Database.WAREHOUSE), catalog, sync_name, count)
        accepted = 0
        for i in range(0, len(items), 100):
            status, body = demo.post_json(url + path, items[i : i + 100], token=state.callback_token)
            if status != 202:
                msg = f"the callback API answered {status} for {sync_name}: {body.get('message', body)}"
                raise StackError(msg, hint="see the demo-callbacks log")
            accepted += len(items[i : i + 100])
        progress(f"posted {accepted:,} {sync_name} callbacks (202: confirmed by Kafka)")


def _run_batch_jobs(catalog: Catalog) -> None:
    """Every scheduled job once, as the scheduler would run them (the weekly one last)."""
    from reconcile.jobs import RunOptions, run_job
    from smartsync.core.settings import load_settings

    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn"))
    table = Table(title="batch jobs (each run once now)", title_justify="left")
    for column in ("job", "status", "read", "inserted", "updated", "deleted", "seconds"):
        table.add_column(column, justify="left" if column in ("job", "status") else "right")
    # The demo's stack is a developer's: earlier demos and tests leave portal rows that today's synthetic
    # data does not have, and repairing them is what the demo shows. A production run keeps the guard rail.
    options = RunOptions(fix=True, allow_mass_delete=True)
    for _, schedule in catalog.jobs():
        progress(f"batch job {schedule.job}")
        result = run_job(schedule.job, settings, options=options)
        c = result.counts
        table.add_row(
            schedule.job,
            result.status,
            f"{c.read:,}",
            f"{c.inserted:,}",
            f"{c.updated:,}",
            f"{c.deleted:,}",
            f"{result.seconds:.1f}",
        )
    console.print(table)


def _report_and_scan(state: StackState, catalog: Catalog) -> None:
    from reconcile.render import render_table
    from reconcile.report import build_report
    from smartsync.core.settings import load_settings
    from smartsync.monitoring.leak_scan import scan_database

    settings = load_settings(needs=("warehouse_dsn", "citizen_dsn"))
    progress("reconciling every daily pair (after the batch jobs, drift should be zero)")
    render_table(build_report(catalog, settings, scope="daily"), console)
    progress("scanning the portal for unmasked personal data")
    scan = scan_database(state.dsn(Database.CITIZEN), catalog)
    rows = sum(scan.scanned.values())
    if scan.clean:
        console.print(f"[green]leak scan clean[/green]: {len(scan.scanned)} portal tables, {rows:,} rows")
    else:
        console.print(f"[red]leak scan found {len(scan.findings)} unmasked values[/red]: run `smartsync masking scan`")


def _check_alive(procs: list[subprocess.Popen[bytes]]) -> None:
    from smartsync.devstack import localstack

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
    from smartsync.devstack import demo

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
    seed: int = typer.Option(DEFAULT_SEED, help="Seed of the synthetic data"),
    live_seconds: float = typer.Option(20, help="How long the live workload of changes runs"),
    callbacks: int = typer.Option(200, help="Forecast and ML-alert callbacks to post (each)"),
    rate: float = typer.Option(200, help="Live changes per second"),
    workers: int = typer.Option(2, help="Bytewax workers per dataflow"),
) -> None:
    """Start the stack and both dataflows, load synthetic data, make live changes, show what flowed."""
    from smartsync.devstack import demo, localstack
    from smartsync.devstack.synthetic.loader import load_all

    catalog = load_catalog()
    state = localstack.up(progress)
    os.environ.update(state.env())
    dsns = {db: state.dsn(db) for db in Database}
    topics = {t.name: t.partitions for t in catalog.topics()}
    before = demo.topic_totals(state.bootstrap, topics)
    recovery = localstack.stack_dir() / "recovery"
    with _dataflows(state, recovery, workers) as procs, _callback_service(state) as api:
        progress(f"loading synthetic data at scale {scale} (seed {seed})")
        started = time.monotonic()
        loads = load_all(dsns, scale=scale, seed=seed)
        rows = sum(x.rows for x in loads)
        progress(f"loaded {rows:,} rows into {len(loads)} source tables in {time.monotonic() - started:.1f}s")
        progress(f"making about {rate:.0f} live changes a second for {live_seconds:.0f}s")
        made = demo.run_live_workload(dsns, catalog, rate_per_s=rate, seconds=live_seconds)
        progress(f"made {made:,} live changes")
        _post_callbacks(api, state, catalog, callbacks)
        progress("waiting for the dataflows to drain")
        _check_alive(procs)
        _watch(state, catalog, before, procs, quiet_s=5, timeout_s=300)
        _run_batch_jobs(catalog)
        _report_and_scan(state, catalog)
    console.print("[green]done[/green]: the stack keeps running; `smartsync stack down` stops it")
