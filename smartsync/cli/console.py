"""Shared rendering and the error handler of every command."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

from smartsync.core.errors import SmartSyncError

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


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
                raise
            err_console.print(f"[bold red]error:[/bold red] {exc}", soft_wrap=True)
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/yellow]")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
