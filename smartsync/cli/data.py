"""``smartsync data load | counts | plan | preview``: synthetic data for the sync source tables."""

from __future__ import annotations

import json
import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from smartsync.cli.console import console, err_console, handle_errors
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.settings import load_settings
from smartsync.core.tables import SCHEMA, Database, Table
from smartsync.devstack import synthetic

app = typer.Typer(no_args_is_help=True, help="Synthetic data: load it into the running stack, count rows, preview.")

_SCALE = typer.Option(1.0, "--scale", help="1.0 = the seeds' daily volumes (~100K citizens); 10 = ten times that.")
_SEED = typer.Option(synthetic.DEFAULT_SEED, "--seed", help="Same seed, same rows.")
_TABLES = typer.Option(None, "--table", "-t", help="Only this source table (schema.table); repeatable.")


def _check_scale(scale: float) -> None:
    if scale <= 0:
        msg = f"--scale must be positive, got {scale}"
        raise ConfigurationError(msg, hint="use e.g. --scale 0.01 for a small set")


def _mode(value: str) -> synthetic.Mode:
    try:
        return synthetic.Mode(value)
    except ValueError:
        choices = ", ".join(m.value for m in synthetic.Mode)
        msg = f"unknown --mode {value!r}"
        raise ConfigurationError(msg, hint=f"choose one of: {choices}") from None


def _tables(names: list[str] | None) -> list[Table] | None:
    if not names:
        return None
    try:
        return [synthetic.resolve_table(n) for n in names]
    except KeyError as exc:
        raise ConfigurationError(str(exc.args[0]), hint="`smartsync data plan` lists the source tables") from None


@app.command()
@handle_errors
def load(
    scale: float = _SCALE,
    seed: int = _SEED,
    table: list[str] | None = _TABLES,
    mode: str = typer.Option(
        "skip", "--mode", help="skip: keep existing keys; replace: overwrite them; truncate: empty first."
    ),
) -> None:
    """Generate the source tables of both databases and COPY them into the running stack."""
    _check_scale(scale)
    chosen = _tables(table)
    chosen_mode = _mode(mode)
    settings = load_settings()
    dsns = {db: settings.dsn(db) for db in Database}
    started = time.monotonic()
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<43}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        plan = synthetic.rows_at_scale(scale)
        for t in plan:
            if chosen is None or t in chosen:
                tasks[_label(t)] = bar.add_task(_label(t), total=plan[t])

        def on_progress(t: Table, done: int, total: int) -> None:
            bar.update(tasks[_label(t)], completed=done, total=total)

        results = synthetic.load_all(
            dsns, scale=scale, seed=seed, tables=chosen, mode=chosen_mode, on_progress=on_progress
        )
    elapsed = time.monotonic() - started
    out = RichTable(
        "database",
        "table",
        "rows",
        "written",
        "seconds",
        "rows/s",
        title=f"scale {scale}, seed {seed}, mode {chosen_mode}",
    )
    for r in results:
        out.add_row(
            r.database.value, r.table, f"{r.rows:,}", f"{r.written:,}", f"{r.seconds:.2f}", f"{r.rows_per_s:,.0f}"
        )
    console.print(out)
    total = sum(r.rows for r in results)
    console.print(
        f"[green]loaded[/green] {total:,} rows in {elapsed:.1f}s ({total / elapsed if elapsed else 0:,.0f} rows/s)"
    )


def _label(t: Table) -> str:
    short = "warehouse" if t.database is Database.WAREHOUSE else "citizen"
    return f"{short} {t.qualified_name}"


@app.command()
@handle_errors
def counts(
    all_tables: bool = typer.Option(
        False, "--all", help="Every table of both databases, not only sync sources and targets."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Row counts of the sync tables in both databases of the running stack."""
    settings = load_settings(("warehouse_dsn", "citizen_dsn"))
    sources = set(synthetic.source_tables())
    out = RichTable("database", "table", "role", "rows")
    doc = []
    for db in Database:
        tables = list(SCHEMA.in_database(db))
        roles = {t: _role(t, sources) for t in tables}
        shown = [t for t in tables if all_tables or roles[t]]
        found = synthetic.table_counts(settings.dsn(db), db, shown)
        for t in shown:
            out.add_row(db.value, t.qualified_name, roles[t] or "-", f"{found[t.qualified_name]:,}")
            doc.append(
                {
                    "database": db.value,
                    "table": t.qualified_name,
                    "role": roles[t] or None,
                    "rows": found[t.qualified_name],
                }
            )
    if as_json:
        console.print_json(json.dumps(doc))
    else:
        console.print(out)


def _role(table: Table, sources: set[Table]) -> str:
    roles = []
    if table in sources:
        roles.append("source")
    for sync in load_catalog().syncs:
        if sync.target_database == table.database and sync.target == table.qualified_name:
            roles.append("target")
    return "+".join(roles)


@app.command()
@handle_errors
def plan(scale: float = _SCALE) -> None:
    """Rows each source table gets at a scale (nothing is generated)."""
    _check_scale(scale)
    out = RichTable("database", "table", "rows", title=f"scale {scale}")
    rows = synthetic.rows_at_scale(scale)
    for t in synthetic.source_tables():
        out.add_row(t.database.value, t.qualified_name, f"{rows[t]:,}")
    out.add_row("", "total", f"{sum(rows.values()):,}")
    console.print(out)


@app.command()
@handle_errors
def preview(
    table: str = typer.Argument(..., help="A source table, e.g. public.golden_records."),
    rows: int = typer.Option(5, "--rows", "-n", min=1, max=1000),
    seed: int = _SEED,
) -> None:
    """Print the first generated rows of a source table (no database needed)."""
    chosen = _tables([table])
    assert chosen is not None  # noqa: S101 — one name given, one table back
    data = synthetic.generate(chosen[0], rows, seed).to_pylist()
    # One column per row: tables are wider than a terminal.
    out = RichTable("column", *(f"row {i + 1}" for i in range(len(data))), title=chosen[0].qualified_name)
    for name in data[0] if data else {}:
        out.add_row(name, *("NULL" if r[name] is None else str(r[name]) for r in data))
    console.print(out)
