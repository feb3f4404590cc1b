"""``smartsync stack up | down | status | env``."""

from __future__ import annotations

import json
import shlex
import time

import typer
from rich.table import Table

from connectors.kafka.config import CONFIG_FILE_VAR
from smartsync.cli.console import console, handle_errors, progress
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import StackError

app = typer.Typer(help="The local stack: PostgreSQL 15, Kafka (KRaft) and Debezium on loopback.", no_args_is_help=True)


@app.command()
@handle_errors
def up(
    secure: bool | None = typer.Option(
        None,
        "--secure/--insecure",
        help="Kafka's client listener SASL_SSL with SCRAM-SHA-512 over TLS (local CA, random passwords), or "
        "plaintext without authentication. Default: as the stack's last run, plaintext for a new stack.",
    ),
) -> None:
    """Start the stack (a no-op when it is already running) and wait until changes flow."""
    from smartsync.devstack import localstack

    started = time.monotonic()
    state = localstack.up(progress, secure=secure)
    console.print(f"[green]stack ready[/green] in {time.monotonic() - started:.1f}s")
    if state.secure:
        console.print(f"Kafka: SASL_SSL, SCRAM-SHA-512; client properties in {state.kafka_config_file} (0600)")
    else:
        console.print(
            "[yellow]Kafka is INSECURE: plaintext, no authentication[/yellow] "
            "(fine for a demo on loopback; `smartsync stack up --secure` for SASL_SSL)"
        )
    table = Table("topic", "partitions")
    for topic in load_catalog().topics():
        table.add_row(topic.name, str(topic.partitions))
    console.print(table)
    console.print('run [bold]eval "$(smartsync stack env)"[/bold] to point SmartSync at it')


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
    if not state.secure:
        # A shell that pointed at a secure stack before must not keep its SASL_SSL properties.
        print(f"unset {CONFIG_FILE_VAR}")
