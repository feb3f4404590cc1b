"""``smartsync flow run | dead-letters``: run a direction's dataflow, inspect and replay dead letters."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Annotated

import typer
from rich.table import Table

from smartsync.cli.console import console, err_console, handle_errors, progress
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="The event path: one Bytewax dataflow per direction.")
dead_letters_app = typer.Typer(
    no_args_is_help=True, help="Events a flow could not sync, kept on the dead-letter topic."
)
app.add_typer(dead_letters_app, name="dead-letters")

# One block of metrics ports per direction, so both flows can run on one host.
_PORT_OFFSET = {Direction.WAREHOUSE_TO_CITIZEN: 0, Direction.CITIZEN_TO_WAREHOUSE: 100}

DirectionArg = Annotated[Direction, typer.Argument(help="warehouse_to_citizen or citizen_to_warehouse")]
SyncOpt = Annotated[str | None, typer.Option("--sync", help="Only this sync's dead letters")]


@app.command()
@handle_errors
def run(
    direction: DirectionArg,
    processes: Annotated[int, typer.Option("--processes", "-p", help="Processes (a Bytewax cluster on this host)")] = 1,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Workers per process")] = 2,
    process_id: Annotated[
        int | None,
        typer.Option(
            "--process-id", "-i", help="Run only this process of a multi-host cluster [SMARTSYNC_FLOW_PROCESS_ID]"
        ),
    ] = None,
    addresses: Annotated[
        str | None,
        typer.Option("--addresses", "-a", help='Every process\'s "HOST:PORT;HOST:PORT" [SMARTSYNC_FLOW_ADDRESSES]'),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the command lines and exit")] = False,  # noqa: FBT002
) -> None:
    """Run a direction's dataflow: creates the recovery partitions once, picks ports, stops all on Ctrl-C.

    With --process-id and --addresses this runs one process of a cluster spread over hosts, on
    the metrics port SMARTSYNC_METRICS_PORT, with its own share of the recovery partitions.
    """
    from dataflows import runner

    settings = load_settings()
    process_id = settings.flow_process_id if process_id is None else process_id
    addresses = addresses if addresses is not None else settings.flow_addresses or None
    if (process_id is None) != (addresses is None):
        msg = "a multi-host flow process needs both --process-id and --addresses"
        raise ConfigurationError(msg, hint="set both (SMARTSYNC_FLOW_PROCESS_ID, SMARTSYNC_FLOW_ADDRESSES) or neither")
    if process_id is not None and addresses is not None:
        if processes != 1:
            msg = "--processes runs a cluster on this host; with --addresses each host runs one process"
            raise ConfigurationError(msg, hint="drop --processes and start one process per address")
        plan = runner.plan_member(
            direction,
            process_id=process_id,
            addresses=runner.parse_addresses(addresses),
            workers=workers,
            recovery_root=settings.recovery_dir.resolve(),
            snapshot_interval_s=settings.snapshot_interval_s,
            metrics_port=settings.metrics_port,
        )
    else:
        plan = runner.plan_run(
            direction,
            processes=processes,
            workers=workers,
            recovery_root=settings.recovery_dir.resolve(),
            snapshot_interval_s=settings.snapshot_interval_s,
            metrics_port=settings.metrics_port + _PORT_OFFSET[direction],
            cluster_ports=runner.free_ports(processes) if processes > 1 else [],
        )
    for p in plan.processes:
        console.print(f"[dim]process {p.index} (metrics :{p.metrics_port}/metrics):[/dim] {shlex.join(p.argv)}")
    if dry_run:
        return
    if runner.ensure_recovery(plan):
        made = plan.local_partitions()
        progress(f"created recovery partitions {list(made)} of {plan.recovery_partitions} in {plan.recovery_dir}")
    else:
        progress(f"resuming from {plan.recovery_dir}")
    procs = runner.start(plan)

    def exited(index: int, code: int) -> None:
        colour = "green" if code == 0 else "red"
        err_console.print(f"[{colour}]process {index} exited with code {code}[/{colour}]; stopping the others")

    code = runner.supervise(procs, exited)
    raise typer.Exit(code)


@dead_letters_app.command("list")
@handle_errors
def list_(
    direction: DirectionArg,
    from_offset: Annotated[int | None, typer.Option("--from-offset", help="First dead-letter offset to show")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many")] = 50,
    sync: SyncOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,  # noqa: FBT002
) -> None:
    """List dead letters: offset, sync, where the event came from and why it failed."""
    from connectors.kafka.dead_letters import read_dead_letters

    settings = load_settings(needs=("kafka_bootstrap",))
    topic = load_catalog().dead_letter_topics[direction].name
    letters = []
    for letter in read_dead_letters(settings.kafka_bootstrap, topic, from_offset=from_offset):
        if sync is not None and letter.sync != sync:
            continue
        letters.append(letter)
        if len(letters) >= limit:
            break
    if as_json:
        rows = [
            {
                "topic": topic,
                "offset": letter.offset,
                "sync": letter.sync,
                "source_topic": letter.source_topic,
                "source_partition": letter.source_partition,
                "source_offset": letter.source_offset,
                "failed_at": letter.failed_at,
                "reason": letter.reason,
            }
            for letter in letters
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("offset", "sync", "source", "failed at", "reason", title=topic)
    # The keys an operator replays by (offset, sync, source position) fold onto more lines, never cut.
    for key in table.columns[:3]:
        key.overflow = "fold"
    for letter in letters:
        source = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        table.add_row(str(letter.offset), letter.sync or "-", source, letter.failed_at[:19], letter.reason)
    console.print(table)


@dead_letters_app.command("replay")
@handle_errors
def replay(
    direction: DirectionArg,
    from_offset: Annotated[int, typer.Option("--from-offset", help="First dead-letter offset to replay")],
    to_offset: Annotated[int | None, typer.Option("--to-offset", help="Last offset to replay (default: all)")] = None,
    sync: SyncOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would be replayed")] = False,  # noqa: FBT002
) -> None:
    """Put dead letters back on their source topics after a fix; the sink is idempotent, so twice is harmless."""
    from connectors.kafka.dead_letters import read_dead_letters
    from connectors.kafka.dead_letters import replay as replay_letters

    settings = load_settings(needs=("kafka_bootstrap",))
    topic = load_catalog().dead_letter_topics[direction].name
    letters = [
        letter
        for letter in read_dead_letters(settings.kafka_bootstrap, topic, from_offset=from_offset, to_offset=to_offset)
        if sync is None or letter.sync == sync
    ]
    if dry_run:
        console.print(f"would replay {len(letters)} dead letter(s) from {topic}")
        return
    count = replay_letters(settings.kafka_bootstrap, letters)
    console.print(f"[green]replayed {count} dead letter(s)[/green] from {topic} onto their source topics")


@app.command("reset")
@handle_errors
def reset(
    direction: DirectionArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,  # noqa: FBT002
) -> None:
    """Forget a direction's recovery state (offsets, top-N state, Kafka identity): the next run replays every
    topic from its earliest retained offset (the sink absorbs replays). Stop the direction's flow first."""
    from dataflows import recovery_identity

    recovery_dir = load_settings().recovery_dir.resolve() / direction.value
    if not yes:
        typer.confirm(f"forget the recovery state in {recovery_dir}?", abort=True)
    removed = recovery_identity.reset(recovery_dir)
    console.print(
        f"[green]reset {direction.value}[/green]: removed {len(removed)} file(s) from {recovery_dir}; "
        f"`smartsync flow run {direction.value}` replays from the earliest retained offsets"
    )


@app.command("rebase")
@handle_errors
def rebase(
    direction: DirectionArg,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,  # noqa: FBT002
) -> None:
    """After the source database was restored, moved or rebuilt on purpose: forget the old WAL positions in the
    direction's CDC targets (and their tombstones) and record the source's new identity, so its changes land."""
    from connectors.postgres.source_identity import rebase as rebase_positions
    from smartsync.core.catalog import Trigger
    from smartsync.core.tables import SCHEMA

    settings = load_settings()
    syncs = [s for s in load_catalog().event_syncs(direction) if s.trigger is Trigger.CDC]
    tables = [SCHEMA.table(s.target_database, s.target).qualified_name for s in syncs]
    if not yes:
        typer.confirm(f"forget the source positions of {direction.source_database.value} in {tables}?", abort=True)
    live, cleared = rebase_positions(
        settings.dsn(direction.source_database),
        settings.dsn(direction.target_database),
        direction.source_database.value,
        tables,
    )
    console.print(
        f"[green]rebased {direction.value}[/green] on {direction.source_database.value} ({live}): cleared the "
        f"position of {cleared} row(s); start the flow, then run a fixing reconciliation of its syncs"
    )
