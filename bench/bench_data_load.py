"""Synthetic data load speed: 1M golden records (scale 10) through COPY, against row-by-row INSERTs.

Measured side by side on the running stack's PostgreSQL, each step ``--repeats`` times
(median printed):

- generate: the Arrow batches only (numpy + Arrow, no database);
- generate + encode: the same plus the CSV text COPY reads;
- load: ``smartsync.devstack.synthetic.loader`` in ``truncate`` mode (generate, encode, COPY, commit);
- executemany: the first ``--sample`` rows turned into Python tuples and INSERTed with
  psycopg ``executemany`` (pipelined batches) in one transaction;
- row by row: the first ``--naive-sample`` rows, one INSERT and commit each (what a naive
  loader does), for the ratio the one-minute target is about.

By default the rows go into a fresh database migrated like ``smart_warehouse`` (dropped at
the end), so the figure is the loader's and nobody else's data is touched. ``--into-stack``
loads into the stack's own ``smart_warehouse`` instead, where Debezium also decodes every
row (1M change events on Kafka): closer to the demo, slower on a small machine.

    export SMARTSYNC_STACK_DIR=... ; eval "$(smartsync stack env)"
    python bench/bench_data_load.py                 # 1M rows, 3 repeats
    python bench/bench_data_load.py --scale 1 --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from smartsync.core.catalog import load_catalog
from smartsync.core.schema import migrate
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database, Table
from smartsync.devstack import synthetic
from smartsync.devstack.synthetic import CHUNK_ROWS
from smartsync.devstack.synthetic.loader import _csv

ANCHOR = datetime(2026, 11, 21, tzinfo=UTC)


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextlib.contextmanager
def _fresh_warehouse(stack_dsn: str) -> Iterator[str]:
    name = f"bench_synthetic_{uuid.uuid4().hex[:8]}"
    admin = stack_dsn.rsplit("/", 1)[0] + "/postgres?connect_timeout=5"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = stack_dsn.replace("/smart_warehouse", f"/{name}")
    try:
        migrate(dsn, Database.WAREHOUSE, load_catalog())
        yield dsn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _database_steps(
    dsn: str, table: Table, world: synthetic.World, args: argparse.Namespace
) -> dict[str, tuple[int, float]]:
    """Median (rows, seconds) of the steps that write into the database at ``dsn``."""
    golden = table.qualified_name
    rows = world.rows[table]

    def run_load() -> None:
        done = synthetic.load(dsn, Database.WAREHOUSE, tables=[golden], mode="truncate", world=world)
        assert done[golden].rows == rows

    sample = synthetic.generate(table, min(args.sample, rows), world=world)
    naive = sample.slice(0, args.naive_sample)
    name = sql.Identifier(*golden.split("."))
    insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        name,
        sql.SQL(", ").join(map(sql.Identifier, sample.column_names)),
        sql.SQL(", ").join(sql.Placeholder() * sample.num_columns),
    )

    def run_executemany() -> None:
        values = [tuple(r.values()) for r in sample.to_pylist()]
        with psycopg.connect(dsn) as conn:
            conn.execute(sql.SQL("TRUNCATE {}").format(name))
            with conn.cursor() as cur:
                cur.executemany(insert, values)

    def run_naive() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("TRUNCATE {}").format(name))
            for row in naive.to_pylist():
                conn.execute(insert, tuple(row.values()))

    out = {
        "load: generate + COPY + commit": (rows, _median_time(run_load, args.repeats)),
        f"executemany INSERT ({sample.num_rows:,} rows)": (
            sample.num_rows,
            _median_time(run_executemany, args.repeats),
        ),
        f"row by row, autocommit ({naive.num_rows:,} rows)": (naive.num_rows, _median_time(run_naive, args.repeats)),
    }
    run_load()  # leave the table as a normal load would
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=10.0, help="golden records = 100K x scale (default 10: 1M)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=20_000, help="rows for the executemany comparison")
    parser.add_argument("--naive-sample", type=int, default=2_000, help="rows for the row-by-row comparison")
    parser.add_argument(
        "--into-stack", action="store_true", help="load into the stack's smart_warehouse (Debezium captures it)"
    )
    args = parser.parse_args()

    golden = load_catalog().sync("golden_records").source
    world = synthetic.make_world(synthetic.DEFAULT_SEED, args.scale, ANCHOR)
    table = synthetic.resolve_table(golden)
    rows = world.rows[table]
    print(f"{golden}: {rows:,} rows at scale {args.scale}, {args.repeats} repeats (median)")

    for _ in synthetic.iter_batches(table, CHUNK_ROWS, world=world):  # warm-up: imports, scheme list
        pass
    steps = {
        "generate (numpy + Arrow)": (
            rows,
            _median_time(lambda: sum(b.num_rows for b in synthetic.iter_batches(table, world=world)), args.repeats),
        ),
        "generate + CSV encode": (
            rows,
            _median_time(lambda: sum(len(_csv(b)) for b in synthetic.iter_batches(table, world=world)), args.repeats),
        ),
    }
    stack_dsn = load_settings().dsn(Database.WAREHOUSE)
    target = contextlib.nullcontext(stack_dsn) if args.into_stack else _fresh_warehouse(stack_dsn)
    with target as dsn:
        steps.update(_database_steps(dsn, table, world, args))

    print(f"{'step':<40}{'seconds':>10}{'rows/s':>14}")
    rates = {}
    for step, (n, seconds) in steps.items():
        rates[step] = n / seconds
        print(f"{step:<40}{seconds:>10.2f}{rates[step]:>14,.0f}")
    load_step, many_step, naive_step = list(steps)[2:5]
    print(f"COPY load / executemany: {rates[load_step] / rates[many_step]:.1f}x rows/s")
    print(f"COPY load / row by row:  {rates[load_step] / rates[naive_step]:.1f}x rows/s")
    load_s = steps[load_step][1]
    print(f"{rows:,} rows loaded in {load_s:.1f}s: {'under' if load_s < 60 else 'OVER'} the one-minute target")


if __name__ == "__main__":
    main()
