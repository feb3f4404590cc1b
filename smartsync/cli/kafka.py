"""``smartsync kafka topics apply``: the catalog's topics on any cluster, for clusters without an operator."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from smartsync.cli.console import console, err_console, handle_errors

app = typer.Typer(no_args_is_help=True, help="Kafka: the catalog's topics.")
topics_app = typer.Typer(no_args_is_help=True, help="The catalog's topics, with their partitions and settings.")
app.add_typer(topics_app, name="topics")


@topics_app.command()
@handle_errors
def apply(
    replication_factor: Annotated[int, typer.Option(min=1, help="Replicas of each new topic")] = 3,
    min_insync_replicas: Annotated[int, typer.Option(min=1, help="min.insync.replicas of every topic")] = 2,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change, change nothing")] = False,  # noqa: FBT002
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON")] = False,  # noqa: FBT002
) -> None:
    """Create missing topics, grow short ones, set min.insync.replicas (needs SMARTSYNC_KAFKA_BOOTSTRAP)."""
    from connectors.kafka.topics import create_topics
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    settings = load_settings(needs=("kafka_bootstrap",))
    plan = create_topics(
        settings.kafka_bootstrap,
        load_catalog(),
        replication_factor=replication_factor,
        min_insync_replicas=min_insync_replicas,
        dry_run=dry_run,
    )
    if as_json:
        console.print_json(plan.model_dump_json())
    else:
        table = Table("topic", "action", "partitions", "replicas", "settings", title=f"topics on {plan.bootstrap}")
        for a in plan.actions:
            current = "" if a.current_partitions is None else f"{a.current_partitions} → "
            settings_text = ", ".join(f"{k}={v}" for k, v in a.configs.items())
            table.add_row(a.topic, a.action, f"{current}{a.partitions}", str(a.replication_factor), settings_text)
        console.print(table)
        verb = "would change" if dry_run else "changed"
        console.print(f"{len(plan.changes)} topics {verb}, {len(plan.actions) - len(plan.changes)} unchanged")
    for a in plan.actions:
        if a.warning:
            err_console.print(f"[yellow]warning:[/yellow] topic {a.topic} {a.warning}")
