"""Batch jobs at the seeds' volumes: profile summary full reconcile (1M rows), golden records incremental (100K).

Uses the catalog's own tables of the stack it points at (it empties them first: run it on a
stack of your own). Prints each job's wall time and what it wrote.

    eval "$(smartsync stack env)"
    python bench/bench_batch_jobs.py --profiles 1000000 --golden 100000

Debezium captures the source tables, so the rows this script writes just before a job (1M
profiles, 100K updated golden records) stream through Kafka Connect while the job runs: on a
2-core machine that takes about one core for the whole of the golden records job. ``--settle``
waits until the change topics have stopped growing before each timed job, so that the job is
measured on its own; without it, the figures include that contention (the default).

``--first-load N`` only times a first load of the profile summary (N profiles into an empty
portal table, every row inserted by ``profile_summary_full``) and prints the process's peak RSS.
The profiles are written with ``public.profile_360`` out of the publication, so that Debezium
does not stream N events meanwhile (it is put back afterwards). Run it against another
checkout's code to compare (its folder first on ``PYTHONPATH``, from that folder).
"""

from __future__ import annotations

import argparse
import resource
import time

import psycopg
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import config as kafka_config
from reconcile.compare import compare_and_fix
from reconcile.jobs import run_job
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database

PROFILE_360 = """
INSERT INTO public.profile_360 (citizen_id, full_name, district_id, jan_aadhaar, mobile, email, income_band,
    vulnerability_level, eligible_scheme_count, active_application_count, last_benefit_date, risk_score)
SELECT g, 'Citizen ' || g, (g % 33)::smallint, lpad((1000000000 + g)::text, 10, '0'),
    '9' || lpad((g::bigint * 7919 % 1000000000)::text, 9, '0'),
    CASE WHEN g % 4 = 0 THEN NULL ELSE 'user' || g || '@example.org' END,
    (ARRAY['<1L', '1-3L', '3-5L', '>5L'])[g % 4 + 1], (ARRAY['low', 'medium', 'high'])[g % 3 + 1], g % 11, g % 3,
    date '2024-01-01' + (g % 400), ((g % 1000) / 1000.0)::numeric(5,4)
FROM generate_series(1, {n}) g
"""
GOLDEN = """
INSERT INTO public.golden_records (citizen_id, jan_aadhaar, aadhaar, full_name, date_of_birth, gender, district_id,
    address, mobile, email, income_band, vulnerability_level, verification_status, updated_at)
SELECT g, lpad((2000000000 + g)::text, 10, '0'), lpad((300000000000 + g)::text, 12, '0'), 'Golden ' || g,
    date '1960-01-01' + (g % 15000), (ARRAY['f', 'm', 'x'])[g % 3 + 1], (g % 33)::smallint, g || ' Main Road',
    '8' || lpad((g::bigint * 31 % 1000000000)::text, 9, '0'), 'g' || g || '@mail.example.in',
    (ARRAY['<1L', '1-3L'])[g % 2 + 1], 'low', 'verified', now() - interval '3 days'
FROM generate_series(1, {n}) g
"""


def sql(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for stmt in statements:
            conn.execute(stmt)


def settle(bootstrap: str, topic: str, *, quiet_s: float = 3.0, timeout_s: float = 600.0) -> None:
    """Wait until the change topic's partitions have not grown for ``quiet_s`` (the event path caught up)."""
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-bench-settle"))
    start = time.perf_counter()
    try:
        parts = [TopicPartition(topic, p) for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions]
        last, since = -1, start
        while time.perf_counter() - start < timeout_s:
            ends = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
            if ends != last:
                last, since = ends, time.perf_counter()
            elif time.perf_counter() - since >= quiet_s:
                break
            time.sleep(0.5)
    finally:
        consumer.close()
    print(f"{'(event path settled)':24s} {time.perf_counter() - start:7.2f} s", flush=True)


def timed_job(job: str) -> None:
    start = time.perf_counter()
    result = run_job(job, load_settings())
    took = time.perf_counter() - start
    c = result.counts
    print(
        f"{job:24s} {took:7.2f} s  read {c.read:,}  inserted {c.inserted:,}  updated {c.updated:,}  "
        f"deleted {c.deleted:,}  skipped {result.skipped_stale:,}",
        flush=True,
    )


def first_load(n: int) -> None:
    """A first load of ``n`` profiles: wall time and the process's peak RSS."""
    settings = load_settings()
    wh, ct = settings.dsn(Database.WAREHOUSE), settings.dsn(Database.CITIZEN)
    profile = load_catalog().sync("profile_summary")
    sql(ct, f"TRUNCATE {profile.target}", "TRUNCATE smartsync.watermarks, smartsync.tombstones")
    with psycopg.connect(wh, autocommit=True) as conn:
        have = conn.execute(f"SELECT count(*) FROM {profile.source}").fetchone()
    if not have or have[0] != n:
        print(f"profile summary: writing {n:,} profiles (not published)", flush=True)
        sql(wh, f"ALTER PUBLICATION smartsync DROP TABLE {profile.source}")
        try:
            sql(wh, f"TRUNCATE {profile.source}", PROFILE_360.format(n=n), f"VACUUM ANALYZE {profile.source}")
        finally:
            sql(wh, f"ALTER PUBLICATION smartsync ADD TABLE {profile.source}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timed_job("profile_summary_full")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"first load of {n:,} rows: peak RSS {peak:,.0f} MB (before the job {before:,.0f} MB)", flush=True)
    sql(ct, f"TRUNCATE {profile.target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000, help="0 skips the profile summary")
    parser.add_argument("--golden", type=int, default=100_000, help="golden records changed in the last 24 h")
    parser.add_argument("--settle", action="store_true", help="let the event path catch up before each timed job")
    parser.add_argument("--first-load", type=int, default=0, metavar="N", help="only a first load of N profiles")
    args = parser.parse_args()
    if args.first_load:
        first_load(args.first_load)
        return
    settings = load_settings()
    wh, ct = settings.dsn(Database.WAREHOUSE), settings.dsn(Database.CITIZEN)
    catalog = load_catalog()
    profile, golden = catalog.sync("profile_summary"), catalog.sync("golden_records")
    sql(wh, f"TRUNCATE {profile.source}, {golden.source}")
    sql(ct, f"TRUNCATE {profile.target}, {golden.target}", "TRUNCATE smartsync.watermarks, smartsync.tombstones")

    if args.profiles:
        print(f"profile summary: {args.profiles:,} rows", flush=True)
        sql(wh, PROFILE_360.format(n=args.profiles), f"VACUUM ANALYZE {profile.source}")
        if args.settle:
            settle(settings.kafka_bootstrap, str(profile.topic.name if profile.topic else ""))
        timed_job("profile_summary_full")  # first load: every row inserted
        # 1% drift: changed, deleted and extra target rows, as missed events would leave them.
        sql(ct, f"UPDATE {profile.target} SET full_name = 'drift' WHERE citizen_id % 100 = 1")
        sql(ct, f"DELETE FROM {profile.target} WHERE citizen_id % 1000 = 2")
        sql(ct, f"VACUUM ANALYZE {profile.target}")
        timed_job("profile_summary_full")  # steady state: repair the drift
        timed_job("profile_summary_full")  # nothing to do

    print(f"golden records: {args.golden * 2:,} rows, {args.golden:,} updated in the last 24 h", flush=True)
    sql(wh, "ALTER TABLE public.golden_records DISABLE TRIGGER golden_records_touch")
    try:
        sql(wh, GOLDEN.format(n=args.golden * 2))
    finally:
        sql(wh, "ALTER TABLE public.golden_records ENABLE TRIGGER golden_records_touch")
    sql(wh, f"VACUUM ANALYZE {golden.source}")
    start = time.perf_counter()
    fixed = compare_and_fix(golden, settings).applied  # the portal copy, as the event path keeps it
    print(f"{'golden records full fix':24s} {time.perf_counter() - start:7.2f} s  {fixed}", flush=True)
    timed_job("golden_records_daily")  # rows of the last 24 h: none yet
    sql(wh, f"UPDATE {golden.source} SET address = address || ' (new)' WHERE citizen_id <= {args.golden}")
    sql(wh, f"VACUUM ANALYZE {golden.source}")
    if args.settle:
        settle(settings.kafka_bootstrap, str(golden.topic.name if golden.topic else ""))
    timed_job("golden_records_daily")  # the changed rows to apply


if __name__ == "__main__":
    main()
