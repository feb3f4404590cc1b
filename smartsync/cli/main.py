"""Entry point of the ``smartsync`` command."""

from __future__ import annotations

import os
import sys

import typer

from smartsync.cli import batch, data, db, demo, flow, masking, ops, reconcile, scheduler, stack
from smartsync.cli import callbacks as callbacks_cli
from smartsync.cli import deploy as deploy_cli
from smartsync.cli import doctor as doctor_cli
from smartsync.cli import kafka as kafka_cli
from smartsync.cli import monitor as monitor_cli
from smartsync.cli import orchestrate as orchestrate_cli
from smartsync.cli import trace as trace_cli

app = typer.Typer(
    name="smartsync",
    help="SmartSync keeps smart_warehouse and smart_citizen in sync, both directions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack.app, name="stack")
app.command(name="demo")(demo.run)
app.add_typer(db.app, name="db")
app.add_typer(data.app, name="data")
app.add_typer(masking.app, name="masking")
app.add_typer(flow.app, name="flow")
app.add_typer(batch.app, name="batch")
app.command(name="backfill")(batch.backfill)
app.add_typer(reconcile.app, name="reconcile")
app.add_typer(scheduler.app, name="scheduler")
app.add_typer(ops.app, name="ops")
app.add_typer(callbacks_cli.app, name="callbacks")
app.add_typer(deploy_cli.app, name="deploy")
app.add_typer(orchestrate_cli.app, name="orchestrate")
app.add_typer(kafka_cli.app, name="kafka")
app.command(name="monitor")(monitor_cli.run)
app.command(name="doctor")(doctor_cli.run)
app.command(name="trace")(trace_cli.run)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"smartsync {version('smartsync')}")
        raise typer.Exit


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    _show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    if debug:
        os.environ["SMARTSYNC_DEBUG"] = "1"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # --debug is global: also accepted after the command (`smartsync flow dead-letters list X --debug`).
    end = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:end]:
        args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
    app(args=args, prog_name="smartsync")
