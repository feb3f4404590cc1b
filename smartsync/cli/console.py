"""Shared rendering and the error handler of every command."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer
from rich.console import Console
from rich.text import Text

from smartsync.core.errors import SmartSyncError
from smartsync.core.redact import redact_secrets

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def _print_traceback(exc: BaseException) -> None:
    """The traceback for --debug, with DSN passwords and secrets hidden."""
    text = "".join(traceback.format_exception(exc))
    sys.stderr.write(redact_secrets(text))


def debug_enabled() -> bool:
    return os.environ.get("SMARTSYNC_DEBUG", "") not in ("", "0")


def progress(message: str) -> None:
    err_console.print(f"[dim]·[/dim] {message}")


def handle_errors(func: F) -> F:
    """Turn our errors into one red line and exit code 1; ``--debug`` shows the traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SmartSyncError as exc:
            if debug_enabled():
                raise  # our messages carry no secrets (db_error, redact_secrets where text comes from outside)
            err_console.print(f"[bold red]error:[/bold red] {redact_secrets(str(exc))}", soft_wrap=True, markup=True)
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/yellow]")
            sys.exit(130)
        except (typer.Exit, typer.Abort, click.exceptions.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 — the last handler: one line, then exit 1
            # Not ours: still one line, and never a DSN or password (a DSN with '%' ends up in such messages).
            if debug_enabled():
                _print_traceback(exc)
                sys.exit(1)
            line = redact_secrets(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
            text = f" unexpected {type(exc).__name__}: {line} (run with --debug for the traceback)"
            err_console.print(Text.assemble(("error:", "bold red"), text), soft_wrap=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]
