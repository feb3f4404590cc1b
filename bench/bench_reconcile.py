"""Diff speed, side by side in one run: SmartSync's reconciler vs reladiff 0.6.0 hashdiff vs a plain DuckDB join.

Builds a table pair with generate_series (``bench.pair`` in smart_warehouse; an identical copy
``bench.pair`` and a drifted copy ``bench.pair_drift`` in smart_citizen: 0.1% rows missing, 0.1%
extra, 1% changed) once per size, then times whole commands, process start included,
interleaving the contenders so that load on the machine hits all of them alike. Prints the
median of each and the ratios. Peak memory is the largest child's maximum RSS.

    eval "$(smartsync stack env)"
    python bench/bench_reconcile.py --rows 1000000 --runs 5 --reladiff-runs 2
    python bench/bench_reconcile.py --rows 10000000 --runs 1 --reladiff-runs 0 --skip-duckdb --drift-only
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
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
CREATE TABLE bench.{name} (
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


def build(warehouse: str, citizen: str, rows: int, *, identical: bool = True) -> None:
    """(Re)build the pair when it does not have ``rows`` rows yet."""
    with psycopg.connect(citizen, autocommit=True) as conn:
        have = conn.execute("SELECT to_regclass('bench.pair_drift') IS NOT NULL").fetchone()
        marker = (
            conn.execute("SELECT obj_description('bench.pair_drift'::regclass)").fetchone()
            if have and have[0]
            else None
        )
    if marker and marker[0] == f"rows={rows}" and (not identical or _exists(citizen, "bench.pair")):
        return
    print(f"building the {rows:,}-row pair …", flush=True)
    with psycopg.connect(warehouse, autocommit=True) as conn:
        _run(conn, DDL.format(name="pair"))
        conn.execute(FILL.format(name="pair", rows=rows))
        conn.execute("VACUUM ANALYZE bench.pair")
    with psycopg.connect(citizen, autocommit=True) as conn:
        names = ("pair", "pair_drift") if identical else ("pair_drift",)
        _run(conn, "DROP TABLE IF EXISTS bench.pair")
        for name in names:
            _run(conn, DDL.format(name=name))
            conn.execute(FILL.format(name=name, rows=rows))
        _run(conn, DRIFT)
        for name in names:
            conn.execute(f"VACUUM ANALYZE bench.{name}")
        conn.execute(f"COMMENT ON TABLE bench.pair_drift IS 'rows={rows}'")


def _exists(dsn: str, table: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _plain(dsn: str) -> str:
    return dsn.split("?", 1)[0]


def ours(warehouse: str, citizen: str, target: str) -> list[str]:
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
        "bench.pair",
        "--target-table",
        f"bench.{target}",
        "--key",
        "id",
        "--json",
        "--max-drift",
        "100",
    ]


def reladiff(warehouse: str, citizen: str, target: str) -> list[str]:
    cols = [arg for c in COLUMNS for arg in ("-c", c)]
    exe = str(Path(sys.executable).with_name("reladiff"))
    return [
        exe,
        _plain(warehouse),
        "bench.pair",
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
src, tgt, target, cols = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
db = duckdb.connect()
db.execute(f"LOAD '{next(pathlib.Path(m.__file__).parent.rglob('*.duckdb_extension'))}'")
db.execute(f"ATTACH '{src}' AS s (TYPE postgres, READ_ONLY)")
db.execute(f"ATTACH '{tgt}' AS t (TYPE postgres, READ_ONLY)")
a = ", ".join(f"a.{c}" for c in cols); b = ", ".join(f"b.{c}" for c in cols)
print(db.execute(f"SELECT count(*) FILTER (WHERE b.id IS NULL), count(*) FILTER (WHERE a.id IS NULL), "
                 f"count(*) FILTER (WHERE a.id = b.id) FROM s.bench.pair a FULL OUTER JOIN t.bench.{target} b "
                 f"ON a.id = b.id WHERE a.id IS NULL OR b.id IS NULL OR ({a}) IS DISTINCT FROM ({b})").fetchall())
"""


def duckdb_join(warehouse: str, citizen: str, target: str) -> list[str]:
    return [sys.executable, "-c", DUCKDB_BASELINE, _plain(warehouse), _plain(citizen), target, ",".join(COLUMNS)]


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603 — our own commands
    took = time.perf_counter() - start
    if res.returncode not in (0, 2) or not res.stdout.strip():
        msg = f"{cmd[0]} failed ({res.returncode}): {res.stderr.strip()[-400:]}"
        raise SystemExit(msg)
    return took, res.stdout


def main() -> None:  # noqa: C901 — one linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="runs of SmartSync and of the DuckDB join")
    parser.add_argument("--reladiff-runs", type=int, default=2, help="runs of reladiff (slow); 0 skips it")
    parser.add_argument("--skip-duckdb", action="store_true")
    parser.add_argument("--drift-only", action="store_true", help="skip the 0%% case (and its table)")
    parser.add_argument(
        "--memory-limit", default=None, help="SMARTSYNC_BATCH_MEMORY_LIMIT of SmartSync's diff engine (DuckDB)"
    )
    args = parser.parse_args()
    if args.memory_limit:
        os.environ["SMARTSYNC_BATCH_MEMORY_LIMIT"] = args.memory_limit
    limit = os.environ.get("SMARTSYNC_BATCH_MEMORY_LIMIT", "512MB (default)")
    print(f"SmartSync's diff engine: DuckDB, memory limit {limit}", flush=True)
    warehouse, citizen = os.environ["SMARTSYNC_WAREHOUSE_DSN"], os.environ["SMARTSYNC_CITIZEN_DSN"]
    build(warehouse, citizen, args.rows, identical=not args.drift_only)
    contenders = {"smartsync": ours}
    if not args.skip_duckdb:
        contenders["duckdb-join"] = duckdb_join
    if args.reladiff_runs:
        contenders["reladiff"] = reladiff
    cases = [("1.1% differing", "pair_drift"), ("0% differing", "pair")]
    for label, target in cases[:1] if args.drift_only else cases:
        times: dict[str, list[float]] = {name: [] for name in contenders}
        outputs: dict[str, str] = {}
        for i in range(max(args.runs, args.reladiff_runs)):
            for name, make in contenders.items():
                limit = args.reladiff_runs if name == "reladiff" else args.runs
                if i < limit:
                    took, out = timed(make(warehouse, citizen, target))
                    times[name].append(took)
                    outputs[name] = out
        print(f"\n{args.rows:,} rows, {label}")
        med = {name: statistics.median(t) for name, t in times.items() if t}
        for name, value in med.items():
            runs = ", ".join(f"{t:.2f}" for t in times[name])
            print(f"  {name:12s} median {value:6.2f} s   runs: {runs}")
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


if __name__ == "__main__":
    main()
