"""Entry point of the ``smartsync`` command.

Each command's module is imported only when that command runs: the modules import the catalog,
psycopg, Kafka and the batch path, and a short command (``reconcile diff`` of a small pair, a
``flow status``) should not pay ~0.15 s to load the other commands. Help and unknown commands
load them all, so the list is always complete.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer

# Command name → (module in smartsync.cli, attribute, kind): a Typer group or a single command.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "stack": ("stack", "app", "group"),
    "demo": ("demo", "run", "command"),
    "db": ("db", "app", "group"),
    "data": ("data", "app", "group"),
    "masking": ("masking", "app", "group"),
    "flow": ("flow", "app", "group"),
    "batch": ("batch", "app", "group"),
    "backfill": ("batch", "backfill", "command"),
    "reconcile": ("reconcile", "app", "group"),
    "scheduler": ("scheduler", "app", "group"),
    "ops": ("ops", "app", "group"),
    "callbacks": ("callbacks", "app", "group"),
    "deploy": ("deploy", "app", "group"),
    "orchestrate": ("orchestrate", "app", "group"),
    "kafka": ("kafka", "app", "group"),
    "monitor": ("monitor", "run", "command"),
    "doctor": ("doctor", "run", "command"),
    "trace": ("trace", "run", "command"),
}


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"smartsync {version('smartsync')}")
        raise typer.Exit


def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of errors."),
    _show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    if debug:
        os.environ["SMARTSYNC_DEBUG"] = "1"


def build_app(only: str | None = None) -> typer.Typer:
    """The ``smartsync`` app with every command, or with ``only`` that one when it is a known command."""
    cli = typer.Typer(
        name="smartsync",
        help="SmartSync keeps smart_warehouse and smart_citizen in sync, both directions.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    cli.callback()(_root)
    names = [only] if only in COMMANDS else list(COMMANDS)
    for name in names:
        module, attribute, kind = COMMANDS[name]
        target = getattr(importlib.import_module(f"smartsync.cli.{module}"), attribute)
        if kind == "group":
            cli.add_typer(target, name=name)
        else:
            cli.command(name=name)(target)
    return cli


def __getattr__(name: str) -> Any:
    # ``from smartsync.cli.main import app`` (tests, embedding) gets the app with every command.
    if name == "app":
        return build_app()
    raise AttributeError(name)


def _command_of(args: list[str]) -> str | None:
    """The command an argument list runs: its first word that is not a global option."""
    for arg in args:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # --debug is global: also accepted after the command (`smartsync flow dead-letters list X --debug`).
    end = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:end]:
        args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
    build_app(_command_of(args))(args=args, prog_name="smartsync")
