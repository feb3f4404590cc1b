"""``smartsync doctor [--json]``: what SmartSync needs, checked; exit 0 when healthy, 1 with the list of problems."""

from __future__ import annotations

import json

import typer
from rich.markup import escape

from smartsync.cli.console import console, handle_errors
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings


@handle_errors
def run(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a list.")) -> None:
    """Check DSNs and roles, Kafka topics and partitions, publications, slots and WAL, connectors, recovery."""
    from smartsync.monitoring.doctor import as_json as checks_json
    from smartsync.monitoring.doctor import run_checks

    checks = run_checks(load_settings(()), load_catalog())
    healthy = all(c.ok for c in checks)
    if as_json:
        console.print_json(json.dumps(checks_json(checks)))
    else:
        for check in checks:
            mark = "[green]ok[/green]  " if check.ok else "[bold red]FAIL[/bold red]"
            console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}", soft_wrap=True)
        problems = sum(not c.ok for c in checks)
        console.print("healthy" if healthy else f"[bold red]{problems} problem(s)[/bold red]")
    if not healthy:
        raise typer.Exit(1)
