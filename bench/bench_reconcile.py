"""Diff speed, side by side in one run: SmartSync's reconciler vs reladiff 0.6.0 hashdiff vs a plain DuckDB join.

Builds a table pair per size with generate_series (``bench.pair_<rows>`` in smart_warehouse; an
identical copy ``bench.pair_<rows>`` and a drifted copy ``bench.pair_<rows>_drift`` in smart_citizen:
0.1% rows missing, 0.1% extra, 1% changed) once, then times whole commands, process start
included, interleaving the contenders so that load on the machine hits all of them alike. Prints
the median of each, the ratios, and each contender's peak RSS (the whole process, from wait4).

    eval "$(smartsync stack env)"
    python bench/bench_reconcile.py --rows 1000000 --runs 5 --reladiff-runs 2
    python bench/bench_reconcile.py --rows 10000000 --runs 1 --reladiff-runs 0 --skip-duckdb --drift-only
    python bench/bench_reconcile.py --rows 100000000 --runs 1 --reladiff-runs 0 --skip-duckdb --drift-only

The 100M pair takes about 30 GB in PostgreSQL and a long time to build; ``--drop`` removes a
size's tables afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

COLUMNS = (
    "full_name",
    "district_id",
    "mobile",
    "email",
    "income_band",
    "score",
    "eligible_count",
    "last_date",
    "updated_at",
)
DDL = """
CREATE SCHEMA IF NOT EXISTS bench;
DROP TABLE IF EXISTS bench.{name};
CREATE {unlogged} TABLE bench.{name} (
  id bigint PRIMARY KEY, full_name text NOT NULL, district_id smallint NOT NULL, mobile text, email text,
  income_band text, score numeric(5,4), eligible_count integer NOT NULL, last_date date,
  updated_at timestamptz NOT NULL)
"""
FILL = """
INSERT INTO bench.{name}
SELECT g, 'Citizen ' || g, (g % 700)::smallint, '98' || lpad((g::bigint * 7919 % 100000000)::text, 8, '0'),
  CASE WHEN g % 10 = 0 THEN NULL ELSE 'user' || g || '@example.com' END,
  (ARRAY['<1L','1-3L','3-5L','>5L'])[g % 4 + 1], ((g % 10000) / 10000.0)::numeric(5,4), (g % 17)::int,
  CASE WHEN g % 7 = 0 THEN NULL ELSE date '2020-01-01' + (g % 1500)::int END,
  timestamptz '2026-01-01 00:00:00+00' + (g % 100000) * interval '1 minute'
FROM generate_series(1, {rows}) g
"""
# 0.1% of the rows missing, 0.1% extra, 1% changed: 1.2% of the rows differ, 1.1% of the source.
DRIFT = """
DELETE FROM bench.pair_drift WHERE id % 1000 = 7;
INSERT INTO bench.pair_drift
  SELECT id + 5000000000, full_name, district_id, mobile, email, income_band, score, eligible_count, last_date,
    updated_at
  FROM bench.pair_drift WHERE id % 1000 = 11;
UPDATE bench.pair_drift SET full_name = full_name || 'x' WHERE id % 100 = 3;
"""


def _run(conn: psycopg.Connection, sql: str) -> None:
    for stmt in (s.strip() for s in sql.split(";")):
        if stmt:
            conn.execute(stmt)


# From this size on the bench's tables are UNLOGGED: no WAL to write, and none for the stack's
# logical slots to decode (the diff reads them as it reads any table). Both sides fill at once.
UNLOGGED_FROM = 50_000_000


def build(warehouse: str, citizen: str, rows: int, *, identical: bool = True) -> None:
    """Build the pair of ``rows`` rows unless it is complete already (marked by a comment)."""
    pair = f"pair_{rows}"
    with psycopg.connect(citizen, autocommit=True) as conn:
        have = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"bench.{pair}_drift",)).fetchone()
        marker = (
            conn.execute("SELECT obj_description(%s::regclass)", (f"bench.{pair}_drift",)).fetchone()
            if have and have[0]
            else None
        )
    if marker and marker[0] == f"rows={rows}" and (not identical or _exists(citizen, f"bench.{pair}")):
        return
    print(f"building the {rows:,}-row pair …", flush=True)
    started = time.perf_counter()
    unlogged = "UNLOGGED" if rows >= UNLOGGED_FROM else ""

    def fill(dsn: str, name: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            _run(conn, DDL.format(name=name, unlogged=unlogged))
            conn.execute(FILL.format(name=name, rows=rows))
            if name == pair:
                conn.execute(f"VACUUM ANALYZE bench.{name}")

    names = (pair, f"{pair}_drift") if identical else (f"{pair}_drift",)
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(fill, warehouse, pair), *(pool.submit(fill, citizen, name) for name in names)]
        for job in jobs:
            job.result()
    with psycopg.connect(citizen, autocommit=True) as conn:
        _run(conn, DRIFT.replace("pair_drift", f"{pair}_drift"))
        conn.execute(f"VACUUM ANALYZE bench.{pair}_drift")
        conn.execute(f"COMMENT ON TABLE bench.{pair}_drift IS 'rows={rows}'")
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)


def drop(warehouse: str, citizen: str, rows: int) -> None:
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS bench.pair_{rows}")
    with psycopg.connect(citizen, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS bench.pair_{rows}, bench.pair_{rows}_drift")


def _exists(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _plain(dsn: str) -> str:
    return dsn.split("?", 1)[0]


def ours(warehouse: str, citizen: str, source: str, target: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "smartsync",
        "reconcile",
        "diff",
        "--source",
        warehouse,
        "--target",
        citizen,
        "--source-table",
        f"bench.{source}",
        "--target-table",
        f"bench.{target}",
        "--key",
        "id",
        "--json",
        "--max-drift",
        "100",
    ]


def reladiff(warehouse: str, citizen: str, source: str, target: str) -> list[str]:
    cols = [arg for c in COLUMNS for arg in ("-c", c)]
    exe = str(Path(sys.executable).with_name("reladiff"))
    return [
        exe,
        _plain(warehouse),
        f"bench.{source}",
        _plain(citizen),
        f"bench.{target}",
        "-k",
        "id",
        *cols,
        "-a",
        "hashdiff",
        "-s",
    ]


DUCKDB_BASELINE = """
import sys, pathlib, duckdb, duckdb_extension_postgres_scanner as m
src, tgt, source, target, cols = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].split(",")
db = duckdb.connect()
db.execute(f"LOAD '{next(pathlib.Path(m.__file__).parent.rglob('*.duckdb_extension'))}'")
db.execute(f"ATTACH '{src}' AS s (TYPE postgres, READ_ONLY)")
db.execute(f"ATTACH '{tgt}' AS t (TYPE postgres, READ_ONLY)")
a = ", ".join(f"a.{c}" for c in cols); b = ", ".join(f"b.{c}" for c in cols)
print(db.execute(f"SELECT count(*) FILTER (WHERE b.id IS NULL), count(*) FILTER (WHERE a.id IS NULL), "
                 f"count(*) FILTER (WHERE a.id = b.id) FROM s.bench.{source} a FULL OUTER JOIN t.bench.{target} b "
                 f"ON a.id = b.id WHERE a.id IS NULL OR b.id IS NULL OR ({a}) IS DISTINCT FROM ({b})").fetchall())
"""


def duckdb_join(warehouse: str, citizen: str, source: str, target: str) -> list[str]:
    cols = ",".join(COLUMNS)
    return [sys.executable, "-c", DUCKDB_BASELINE, _plain(warehouse), _plain(citizen), source, target, cols]


def timed(cmd: list[str], code: str | None = None) -> tuple[float, str, float]:
    """Wall time, standard output and peak RSS (MB) of the whole child process.

    ``code``: a checkout of SmartSync whose code the command runs (its folder first on the path).
    """
    env = {**os.environ, "PYTHONPATH": code} if code else None
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=code, env=env)  # noqa: S603 — our own commands
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    # 0: no drift, 2 / 4: drift above --max-drift (the CLI's exit codes)
    if proc.returncode not in (0, 2, 4) or not stdout.strip():
        msg = f"{cmd[0]} failed ({proc.returncode}): {stderr.strip()[-400:]}"
        raise SystemExit(msg)
    return took, stdout, usage.ru_maxrss / 1024


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of SmartSync and of the DuckDB join")
    parser.add_argument("--reladiff-runs", type=int, default=2, help="runs of reladiff (slow); 0 skips it")
    parser.add_argument("--skip-duckdb", action="store_true")
    parser.add_argument("--drift-only", action="store_true", help="skip the 0%% case (and its table)")
    parser.add_argument(
        "--memory-limit", default=None, help="SMARTSYNC_BATCH_MEMORY_LIMIT of SmartSync's diff engine (DuckDB)"
    )
    parser.add_argument("--drop", action="store_true", help="drop this size's tables at the end")
    parser.add_argument(
        "--compare-with",
        metavar="DIR",
        help="also time SmartSync as checked out in DIR (e.g. `git archive BASE | tar -x -C DIR`), interleaved",
    )
    return parser.parse_args()


def main() -> None:  # noqa: C901, PLR0912 — one linear script
    args = _args()
    if args.memory_limit:
        os.environ["SMARTSYNC_BATCH_MEMORY_LIMIT"] = args.memory_limit
    limit = os.environ.get("SMARTSYNC_BATCH_MEMORY_LIMIT", "512MB (default)")
    print(f"SmartSync's diff engine: DuckDB, memory limit {limit}", flush=True)
    warehouse, citizen = os.environ["SMARTSYNC_WAREHOUSE_DSN"], os.environ["SMARTSYNC_CITIZEN_DSN"]
    build(warehouse, citizen, args.rows, identical=not args.drift_only)
    contenders = {"smartsync": ours}
    if args.compare_with:
        contenders["before"] = ours
    if not args.skip_duckdb:
        contenders["duckdb-join"] = duckdb_join
    if args.reladiff_runs:
        contenders["reladiff"] = reladiff
    pair = f"pair_{args.rows}"
    cases = [("1.1% differing", f"{pair}_drift"), ("0% differing", pair)]
    for label, target in cases[:1] if args.drift_only else cases:
        times: dict[str, list[float]] = {name: [] for name in contenders}
        peaks: dict[str, list[float]] = {name: [] for name in contenders}
        outputs: dict[str, str] = {}
        for i in range(max(args.runs, args.reladiff_runs)):
            for name, make in contenders.items():
                limit = args.reladiff_runs if name == "reladiff" else args.runs
                if i < limit:
                    code = args.compare_with if name == "before" else None
                    took, out, peak = timed(make(warehouse, citizen, pair, target), code)
                    times[name].append(took)
                    peaks[name].append(peak)
                    outputs[name] = out
        print(f"\n{args.rows:,} rows, {label}")
        med = {name: statistics.median(t) for name, t in times.items() if t}
        for name, value in med.items():
            runs = ", ".join(f"{t:.2f}" for t in times[name])
            print(
                f"  {name:12s} median {value:6.2f} s   runs: {runs}   "
                f"peak RSS median {statistics.median(peaks[name]):,.0f} MB (max {max(peaks[name]):,.0f})"
            )
        if "before" in med:
            print(f"  smartsync is {med['before'] / med['smartsync']:.2f}x as fast as before ({args.compare_with})")
        if "reladiff" in med:
            print(f"  smartsync is {med['reladiff'] / med['smartsync']:.1f}x faster than reladiff hashdiff")
        if "duckdb-join" in med:
            print(f"  smartsync is {med['duckdb-join'] / med['smartsync']:.1f}x faster than the DuckDB join")
        if "smartsync" in outputs:
            import json  # noqa: PLC0415

            (diff,) = json.loads(outputs["smartsync"])["tables"].values()
            print(
                f"  smartsync found: source-only {diff['source_only']:,}, target-only {diff['target_only']:,}, "
                f"changed {diff['changed']:,}, unchanged {diff['unchanged']:,}"
            )
        if "reladiff" in outputs:
            print("  reladiff stats: " + " ".join(outputs["reladiff"].split())[:200])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\npeak RSS of the largest child process: {peak:,.0f} MB")
    if args.drop:
        drop(warehouse, citizen, args.rows)


if __name__ == "__main__":
    main()
