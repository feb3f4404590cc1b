"""``smartsync stack up | down | status | env``."""

from __future__ import annotations

import json
import shlex
import time

import typer
from rich.table import Table

from smartsync.cli.console import console, handle_errors, progress
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import StackError

app = typer.Typer(help="The local stack: PostgreSQL 15, Kafka (KRaft) and Debezium on loopback.", no_args_is_help=True)


@app.command()
@handle_errors
def up() -> None:
    """Start the stack (a no-op when it is already running) and wait until changes flow."""
    from smartsync.devstack import localstack

    started = time.monotonic()
    state = localstack.up(progress)
    console.print(f"[green]stack ready[/green] in {time.monotonic() - started:.1f}s")
    table = Table("topic", "partitions")
    for topic in load_catalog().topics():
        table.add_row(topic.name, str(topic.partitions))
    console.print(table)
    console.print('run [bold]eval "$(smartsync stack env)"[/bold] to point SmartSync at it')
    del state


@app.command()
@handle_errors
def down(
    purge: bool = typer.Option(False, "--purge", help="Also delete the databases and Kafka data."),
) -> None:
    """Stop every process of the stack and drop its replication slots."""
    from smartsync.devstack import localstack

    localstack.down(progress, purge=purge)
    console.print("[green]stack stopped[/green]")


@app.command()
@handle_errors
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show which parts of the stack run, and where (exit 1 when one is stopped)."""
    from smartsync.devstack import localstack

    table = Table("component", "state", "where")
    parts = localstack.status()
    if as_json:
        doc = [{"component": p.name, "running": p.running, "detail": p.detail} for p in parts]
        console.print_json(json.dumps(doc))
        if not all(p.running for p in parts):
            raise typer.Exit(1)
        return
    for part in parts:
        table.add_row(part.name, "[green]running[/green]" if part.running else "[red]stopped[/red]", part.detail)
    console.print(table)
    if not all(p.running for p in parts):
        raise typer.Exit(1)


@app.command()
@handle_errors
def env() -> None:
    """Print ``export`` lines for the running stack (use with ``eval``)."""
    from smartsync.devstack import localstack

    state = localstack.read_state()
    if state is None:
        msg = "the stack is not running"
        raise StackError(msg, hint="run `smartsync stack up` first")
    for key, value in state.env().items():
        print(f"export {key}={shlex.quote(value)}")
