"""``smartsync masking policy | scan``."""

from __future__ import annotations

import sys
from enum import StrEnum
from itertools import groupby
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.table import Table

from masking import FULL_MASKS, effective_policy, mask_value
from smartsync.cli.console import console, handle_errors, progress
from smartsync.core.catalog import MaskRule, load_catalog
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database

if TYPE_CHECKING:
    from smartsync.monitoring.leak_scan import ScanReport

app = typer.Typer(no_args_is_help=True, help="The masking policy of smart_citizen, and the leak scanner.")

LEAKS_FOUND = 3  # exit code of `scan` when it finds personal data (1 is an error, 0 is clean)

# One realistic input per rule; the output shown is computed by the real masking functions.
EXAMPLES: dict[MaskRule, str] = {
    MaskRule.CLEAR: "",
    MaskRule.CONFIDENTIAL: "1-3 LPA",
    MaskRule.AADHAAR: "2345 6789 0124",
    MaskRule.JAN_AADHAAR: "1234567890",
    MaskRule.MOBILE: "+91 98765 43210",
    MaskRule.EMAIL: "asha@example.com",
}


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def policy_rows(*, include_warehouse: bool = False, sync_name: str | None = None) -> list[dict[str, str | None]]:
    """The effective policy: one row per target column (and per dropped source column)."""
    catalog = load_catalog()
    syncs = [catalog.sync(sync_name)] if sync_name else list(catalog.syncs)
    rows: list[dict[str, str | None]] = []
    for sync in syncs:
        if not sync.citizen_bound and not include_warehouse:
            continue
        target = f"{sync.target_database}.{sync.target}"
        for column, rule in effective_policy(sync).items():
            origin = sync.columns[column]
            example = EXAMPLES[rule]
            rows.append(
                {
                    "sync": sync.name,
                    "target": target,
                    "column": column,
                    "source": origin.source or origin.expr,
                    "rule": rule.value if sync.citizen_bound else "not masked (into smart_warehouse)",
                    "example_in": example or None,
                    "example_out": str(mask_value(rule, example)) if example else None,
                    "malformed_out": FULL_MASKS.get(rule),
                }
            )
        for dropped in sync.dropped:
            rows.append(
                {
                    "sync": sync.name,
                    "target": target,
                    "column": None,
                    "source": dropped,
                    "rule": "dropped (never sent)",
                    "example_in": None,
                    "example_out": None,
                    "malformed_out": None,
                }
            )
    return rows


def _column_cell(row: dict[str, str | None]) -> str:
    column = str(row["column"])
    return column + (f" [dim]← {row['source']}[/dim]" if row["source"] != column else "")


@app.command()
@handle_errors
def policy(
    sync: Annotated[str | None, typer.Option("--sync", help="Only this sync.")] = None,
    include_warehouse: Annotated[  # noqa: FBT002
        bool, typer.Option("--all", help="Also list the syncs into smart_warehouse (not masked).")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.TABLE,
) -> None:
    """Print the effective masking policy of every column that reaches smart_citizen, with examples."""
    rows = policy_rows(include_warehouse=include_warehouse, sync_name=sync)
    if fmt is Format.JSON:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    masked = shown = 0
    for target, group in groupby(rows, key=lambda r: (r["sync"], r["target"])):
        members = list(group)
        dropped = [str(r["source"]) for r in members if r["column"] is None]
        table = Table(
            "column",
            "rule",
            "example in → out",
            "unparseable →",
            title=f"{target[1]}  [dim](sync {target[0]})[/dim]",
            title_justify="left",
            caption=f"dropped, never sent: {', '.join(dropped)}" if dropped else None,
            caption_justify="left",
        )
        # Column names are keys an operator searches for: never cut, however narrow the terminal (a long
        # source expression after the name wraps onto the next lines instead).
        table.columns[0].overflow = "fold"
        table.columns[0].min_width = max((len(str(r["column"])) for r in members if r["column"] is not None), default=6)
        for row in members:
            if row["column"] is None:
                continue
            shown += 1
            column = _column_cell(row)
            rule = str(row["rule"])
            if row["example_in"]:
                masked += 1
                table.add_row(
                    column,
                    f"[bold]{rule}[/bold]",
                    f"{row['example_in']} → {row['example_out']}",
                    row["malformed_out"] or "",
                )
            else:
                table.add_row(column, rule, "as is", "")
        console.print(table)
    console.print(f"{shown} columns, {masked} masked; a column without a rule stops its sync at start-up.")


def _print_report(report: ScanReport, fmt: Format) -> None:
    if fmt is Format.JSON:
        doc = {
            "clean": report.clean,
            "truncated": report.truncated,
            "scanned": report.scanned,
            "skipped_columns": report.skipped_columns,
            "findings": [f.as_dict() for f in report.findings],
        }
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if report.findings:
        table = Table("where", "location", "kind", "seen (masked here)", title="Personal data found")
        for f in report.findings:
            table.add_row(f.where, f.location, f"[bold red]{f.kind}[/bold red]", f.shown)
        console.print(table)
    total = sum(report.scanned.values())
    places = len(report.scanned)
    if report.clean:
        console.print(f"[green]clean[/green]: {places} table(s)/topic(s), {total} rows/messages scanned")
    else:
        more = " (stopped at --max-findings)" if report.truncated else ""
        console.print(
            f"[bold red]{len(report.findings)} finding(s)[/bold red]{more} in {places} table(s)/topic(s), "
            f"{total} rows/messages scanned"
        )


@app.command()
@handle_errors
def scan(
    tables: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Scan this smart_citizen table (schema.table); repeat.")
    ] = None,
    topics: Annotated[
        list[str] | None, typer.Option("--topic", help="Scan this Kafka topic's messages; repeat.")
    ] = None,
    all_tables: Annotated[  # noqa: FBT002
        bool,
        typer.Option(
            "--all-tables",
            help="Every table of smart_citizen, also those the portal owns (its citizens' own data is raw by design).",
        ),
    ] = False,
    max_findings: Annotated[int, typer.Option("--max-findings", min=1, help="Stop after this many findings.")] = 1000,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to read each topic to its end.")] = 60.0,
    fmt: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.TABLE,
) -> None:
    """Scan smart_citizen (and/or Kafka topics) for raw Aadhaar, Jan Aadhaar, mobiles and emails.

    With no option it scans every column of every table SmartSync writes into smart_citizen.
    Exits 0 when clean, 3 when it finds personal data (each finding names table, column and row
    key, or topic, partition and offset), 1 when the scan itself fails.
    """
    tables, topics = tables or [], topics or []
    settings = load_settings()
    catalog = load_catalog()
    from smartsync.monitoring.leak_scan import ScanReport, scan_database, scan_topic

    report = ScanReport()
    if tables or all_tables or not topics:
        progress("scanning smart_citizen" + (f": {', '.join(tables)}" if tables else ""))
        report = scan_database(
            settings.dsn(Database.CITIZEN),
            catalog,
            tables=tables or None,
            all_tables=all_tables,
            max_findings=max_findings,
        )
    for topic in topics:
        if report.truncated:
            break
        progress(f"scanning topic {topic}")
        scan_topic(settings.kafka_bootstrap, topic, max_findings=max_findings, timeout_s=timeout, report=report)
    _print_report(report, fmt)
    if not report.clean:
        raise typer.Exit(LEAKS_FOUND)
