"""``smartsync trace --sync SYNC --key VALUE [--json]``: one record followed from source to target."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from smartsync.cli.console import console, handle_errors
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings


@handle_errors
def run(
    sync: str = typer.Option(..., "--sync", help="The sync's name (see `smartsync batch list`)."),
    key: str = typer.Option(..., "--key", help="The row's key; a composite key as a,b in key order."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a screen."),
) -> None:
    """Follow one record: source row (masked), last Kafka event, dead letters, target row, lag."""
    from smartsync.monitoring.trace import summary_lines, trace

    result = trace(load_settings(("warehouse_dsn", "citizen_dsn", "kafka_bootstrap")), load_catalog(), sync, key)
    if as_json:
        console.print_json(result.model_dump_json())
        return
    table = Table(show_header=False, box=None)
    for label, text in summary_lines(result):
        style = "bold red" if label == "verdict" and result.target_behind else ""
        table.add_row(f"[bold]{label}[/bold]", f"[{style}]{escape(text)}[/{style}]" if style else escape(text))
    console.print(table)
    if result.source is not None:
        shown = ", ".join(f"{k}={v}" for k, v in result.source.columns.items())
        console.print(f"[dim]source row (masked): {escape(shown)}[/dim]", soft_wrap=True)
