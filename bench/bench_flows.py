"""Event-path benchmarks on the real stack: drain throughput, end-to-end latency, memory.

    python bench/bench_flows.py throughput --events 1000000 --runs 2
    python bench/bench_flows.py latency --rate 200 --seconds 60
    python bench/bench_flows.py scaling --events 500000 --processes 1,2,4 --runs 3

``throughput`` fills smart_citizen with N changes by generate_series INSERTs (half citizens,
half documents), waits until Debezium has put them all on Kafka, then times the
citizen → warehouse flow (one process, two workers, recovery on) draining its topics into
smart_warehouse; each run starts from an empty target and a fresh recovery directory.
``latency`` runs both flows and commits ``rate`` single-row changes per second mixed over
every event sync's source (callbacks produced straight to their topics) and reports source
commit → target write percentiles from the target rows (``_synced_at - _source_ts``).
``scaling`` fills once, then drains the same topics with 1, 2 and 4 processes of one worker
each, interleaved round by round, every process started as one host of a multi-host cluster
(``plan_member``: its own loopback address 127.0.0.(2+i) and recovery directory).
Uses the running stack (``eval "$(smartsync stack env)"``).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.callbacks.encoding import encode
from connectors.callbacks.models import ForecastCallback
from connectors.debezium.connector import connector_config
from connectors.kafka import config as kafka_config
from connectors.kafka.dead_letters import producer_config
from dataflows import runner
from dataflows.testing import RunningFlow, person, wait_until
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from smartsync.devstack import localstack

CAT = load_catalog()


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _topic_total(bootstrap: str, topics: list[str]) -> int:
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-bench"))
    try:
        total = 0
        for topic in topics:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            for p in parts:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                total += high - low
        return total
    finally:
        consumer.close()


def _topics(direction: Direction) -> list[str]:
    return [s.topic.name for s in CAT.event_syncs(direction) if s.topic is not None]


def fill(citizen_dsn: str, bootstrap: str, events: int, base: int) -> float:
    """Insert ``events`` rows (half citizens, half documents); return seconds until Debezium published them all."""
    topics = _topics(Direction.CITIZEN_TO_WAREHOUSE)
    before = _topic_total(bootstrap, topics)
    half = events // 2
    started = time.monotonic()
    chunk = 50_000
    with psycopg.connect(citizen_dsn, autocommit=True) as conn:
        for lo in range(base, base + half, chunk):
            hi = min(lo + chunk, base + half) - 1
            conn.execute(
                "INSERT INTO public.citizens (citizen_id, full_name, district_id, mobile, email, verification_status) "
                "SELECT g, 'Citizen ' || g, g %% 33 + 1, '9' || lpad((g %% 1000000000)::text, 9, '0'), "
                "'c' || g || '@example.org', 'pending' FROM generate_series(%s::bigint, %s::bigint) g",
                (lo, hi),
            )
            conn.execute(
                "INSERT INTO public.documents (document_id, citizen_id, document_type, file_name, mime_type, "
                "size_bytes) "
                "SELECT g, g, 'photo', 'p' || g || '.jpg', 'image/jpeg', g %% 100000 FROM "
                "generate_series(%s::bigint, %s::bigint) g",
                (lo, hi),
            )
    while _topic_total(bootstrap, topics) < before + 2 * half:
        time.sleep(1)
    return time.monotonic() - started


def drain_once(warehouse_dsn: str, bootstrap: str, workers: int, snapshot_s: int) -> dict[str, Any]:
    direction = Direction.CITIZEN_TO_WAREHOUSE
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE public.golden_records, public.document_metadata, decision.application_events")
        conn.execute("DELETE FROM smartsync.tombstones")
    total = _topic_total(bootstrap, _topics(direction))
    with tempfile.TemporaryDirectory(prefix="smartsync-bench-") as tmp:
        rec = Path(tmp) / direction.value
        rec.mkdir()
        subprocess.run([sys.executable, "-m", "bytewax.recovery", str(rec), str(workers)], check=True)  # noqa: S603
        argv = [
            sys.executable,
            "-m",
            "bytewax.run",
            f"dataflows.{direction.value}:flow(tail=False)",
            "-w",
            str(workers),
            "-r",
            str(rec),
            "-s",
            str(snapshot_s),
            "-b",
            str(runner.BACKUP_INTERVAL_S),
        ]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        rss: list[int] = []
        while proc.poll() is None:
            rss.append(_rss_kb(proc.pid) or (rss[-1] if rss else 0))
            time.sleep(0.5)
        wall = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        flow_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode != 0:
            msg = f"the flow failed ({proc.returncode}):\n{err[-3000:]}"
            raise SystemExit(msg)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), min(_synced_at), max(_synced_at) FROM ("
            " SELECT _synced_at FROM public.golden_records UNION ALL SELECT _synced_at FROM public.document_metadata) t"
        ).fetchone()
    assert row is not None
    rows, first, last = row
    active = (last - first).total_seconds() if rows else 0.0
    return {
        "events": total,
        "rows": rows,
        "wall_s": wall,
        "active_s": active,
        "flow_cpu_s": flow_cpu,
        "rss_start_mb": (rss[1] if len(rss) > 1 else 0) / 1024,
        "rss_end_mb": (rss[-1] if rss else 0) / 1024,
        "rss_max_mb": max(rss or [0]) / 1024,
    }


def throughput(args: argparse.Namespace) -> None:
    settings = load_settings()
    wdsn, cdsn = settings.dsn(CAT.sync("profile_updates").target_database), settings.citizen_dsn.get_secret_value()
    if args.events:
        base = random.randrange(10**10, 9 * 10**10)
        took = fill(cdsn, settings.kafka_bootstrap, args.events, base)
        print(f"filled {args.events:,} changes; Debezium published them in {took:.1f}s ({args.events / took:,.0f}/s)")
    results = []
    for i in range(args.runs):
        r = drain_once(wdsn, settings.kafka_bootstrap, args.workers, args.snapshot)
        results.append(r)
        print(
            f"run {i + 1}: {r['events']:,} events, {r['rows']:,} target rows; wall {r['wall_s']:.1f}s "
            f"({r['events'] / r['wall_s']:,.0f} events/s incl. start-up), first→last write {r['active_s']:.1f}s "
            f"({r['events'] / max(r['active_s'], 1e-9):,.0f} events/s); flow CPU {r['flow_cpu_s']:.1f}s "
            f"({1e6 * r['flow_cpu_s'] / r['events']:.1f} µs/event); RSS start {r['rss_start_mb']:.0f} MB, "
            f"end {r['rss_end_mb']:.0f} MB, max {r['rss_max_mb']:.0f} MB"
        )
    print(
        f"median over {len(results)} runs: {statistics.median(r['events'] / r['wall_s'] for r in results):,.0f} "
        "events/s "
        f"(wall, incl. start-up), {statistics.median(r['events'] / max(r['active_s'], 1e-9) for r in results):,.0f} "
        "events/s (first→last write)"
    )


def drain_cluster(warehouse_dsn: str, bootstrap: str, processes: int, snapshot_s: int) -> dict[str, Any]:
    """Drain the citizen → warehouse topics with ``processes`` one-worker processes, each its own "host"."""
    direction = Direction.CITIZEN_TO_WAREHOUSE
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE public.golden_records, public.document_metadata, decision.application_events")
        conn.execute("DELETE FROM smartsync.tombstones")
    total = _topic_total(bootstrap, _topics(direction))
    hosts = [f"127.0.0.{2 + i}" for i in range(processes)]
    addresses = [f"{host}:{runner.free_ports(1, host)[0]}" for host in hosts]
    with tempfile.TemporaryDirectory(prefix="smartsync-bench-") as tmp:
        argvs = []
        for i in range(processes):
            plan = runner.plan_member(
                direction,
                process_id=i,
                addresses=addresses,
                workers=1,
                recovery_root=Path(tmp) / f"host-{i}",
                snapshot_interval_s=snapshot_s,
                metrics_port=0,
            )
            runner.ensure_recovery(plan)
            argv = list(plan.processes[0].argv)
            argv[argv.index(runner.flow_import(direction))] = f"dataflows.{direction.value}:flow(tail=False)"
            argvs.append(argv)
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        procs = [subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for a in argvs]  # noqa: S603
        errors = [proc.communicate()[1].decode(errors="replace") for proc in procs]
        wall = time.monotonic() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        failed = [(proc.returncode, err[-2000:]) for proc, err in zip(procs, errors, strict=True) if proc.returncode]
        if failed:
            msg = f"the flow failed: {failed}"
            raise SystemExit(msg)
    flow_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), min(_synced_at), max(_synced_at) FROM ("
            " SELECT _synced_at FROM public.golden_records UNION ALL SELECT _synced_at FROM public.document_metadata) t"
        ).fetchone()
    assert row is not None
    rows, first, last = row
    return {
        "events": total,
        "rows": rows,
        "wall_s": wall,
        "active_s": (last - first).total_seconds() if rows else 0.0,
        "flow_cpu_s": flow_cpu,
    }


def scaling(args: argparse.Namespace) -> None:
    """Side by side: the same backlog drained by 1, 2, 4 … processes, interleaved so drift hits all alike."""
    settings = load_settings()
    wdsn, cdsn = settings.dsn(CAT.sync("profile_updates").target_database), settings.citizen_dsn.get_secret_value()
    shapes = [int(p) for p in args.processes.split(",")]
    if args.events:
        base = random.randrange(10**10, 9 * 10**10)
        took = fill(cdsn, settings.kafka_bootstrap, args.events, base)
        print(f"filled {args.events:,} changes; Debezium published them in {took:.1f}s ({args.events / took:,.0f}/s)")
    results: dict[int, list[dict[str, Any]]] = {p: [] for p in shapes}
    for i in range(args.runs):
        for processes in shapes:
            load = Path("/proc/loadavg").read_text().split()[0]
            r = drain_cluster(wdsn, settings.kafka_bootstrap, processes, args.snapshot)
            results[processes].append(r)
            print(
                f"round {i + 1}, {processes} process(es) [load {load}]: {r['events']:,} events; "
                f"wall {r['wall_s']:.1f}s "
                f"({r['events'] / r['wall_s']:,.0f}/s), first→last write {r['active_s']:.1f}s "
                f"({r['events'] / max(r['active_s'], 1e-9):,.0f}/s); flow CPU {r['flow_cpu_s']:.1f}s "
                f"({1e6 * r['flow_cpu_s'] / r['events']:.1f} µs/event)",
                flush=True,
            )
    print("| processes × 1 worker | events/s wall incl. start-up | events/s first→last write | flow CPU µs/event |")
    print("| --- | --- | --- | --- |")
    for processes, rs in results.items():
        walls = [r["events"] / r["wall_s"] for r in rs]
        active = [r["events"] / max(r["active_s"], 1e-9) for r in rs]
        cpu = [1e6 * r["flow_cpu_s"] / r["events"] for r in rs]
        print(
            f"| {processes} | **{statistics.median(walls):,.0f}** ({' / '.join(f'{w:,.0f}' for w in walls)}) "
            f"| {statistics.median(active):,.0f} | {statistics.median(cpu):.1f} "
            f"({' / '.join(f'{c:.1f}' for c in cpu)}) |"
        )


class Mixer(threading.Thread):
    """``rate`` single-row changes per second, round robin over every event sync's source."""

    def __init__(self, rate: float, seconds: float, base: int) -> None:
        super().__init__(daemon=True)
        self.rate, self.seconds, self.base = rate, seconds, base
        self.done = 0
        settings = load_settings()
        self.wdsn = settings.warehouse_dsn.get_secret_value()
        self.cdsn = settings.citizen_dsn.get_secret_value()
        self.bootstrap = settings.kafka_bootstrap

    def run(self) -> None:
        producer = Producer(producer_config(self.bootstrap, "smartsync-bench"))
        forecasts = CAT.sync("benefit_forecasts")
        with psycopg.connect(self.wdsn, autocommit=True) as w, psycopg.connect(self.cdsn, autocommit=True) as c:
            ops: list[Any] = [
                lambda i: w.execute(
                    "INSERT INTO public.golden_records (citizen_id, full_name, district_id, mobile) VALUES (%s, "
                    "'G', 1, %s)",
                    (self.base + i, person(i)["mobile"]),
                ),
                lambda i: w.execute(
                    "INSERT INTO public.profile_360 (citizen_id, full_name, district_id) VALUES (%s, 'P', 1)",
                    (self.base + i,),
                ),
                lambda i: w.execute(
                    "INSERT INTO eligibility.eligibility_snapshots (citizen_id, scheme_code, eligibility_score, "
                    "status) "
                    "VALUES (%s, 'S', 0.5, 'eligible')",
                    (self.base + i,),
                ),
                lambda i: w.execute(
                    "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status) "
                    "VALUES (%s, %s, 'OAP', 'pending')",
                    (self.base + i, self.base + i),
                ),
                lambda i: c.execute(
                    "INSERT INTO public.citizens (citizen_id, full_name, district_id) VALUES (%s, 'C', 1)",
                    (self.base + i,),
                ),
                lambda i: c.execute(
                    "INSERT INTO public.service_applications (application_id, citizen_id, scheme_code, status) "
                    "VALUES (%s, %s, 'OAP', 'submitted')",
                    (self.base + i, self.base + i),
                ),
                lambda i: c.execute(
                    "INSERT INTO public.documents (document_id, citizen_id, document_type, file_name, mime_type, "
                    "size_bytes) "
                    "VALUES (%s, %s, 'photo', 'p', 'image/jpeg', 1)",
                    (self.base + i, self.base + i),
                ),
                lambda i: self._forecast(producer, forecasts, i),
            ]
            started = time.monotonic()
            i = 0
            while time.monotonic() - started < self.seconds:
                ops[i % len(ops)](i)
                i += 1
                self.done = i
                time.sleep(max(0.0, started + i / self.rate - time.monotonic()))
        producer.flush(10)

    def _forecast(self, producer: Producer, sync: Any, i: int) -> None:
        payload = ForecastCallback(
            forecast_id=uuid.uuid4(),
            citizen_id=self.base + i,
            scheme_code="OAP",
            forecast_amount=Decimal("1.00"),
            forecast_period="2027-Q1",
            confidence=Decimal("0.500"),
            generated_at=datetime.now(UTC),
        )
        msg = encode(sync, payload, int(time.time() * 1_000_000))
        producer.produce(msg.topic, key=msg.key, value=msg.value)
        producer.poll(0)


def latency(args: argparse.Namespace) -> None:
    settings = load_settings()
    base = random.randrange(10**10, 9 * 10**10)
    with tempfile.TemporaryDirectory(prefix="smartsync-bench-") as tmp:
        flows = [
            RunningFlow(d, Path(tmp) / d.value, workers=args.workers, snapshot_interval_s=args.snapshot)
            for d in Direction
        ]
        for f in flows:
            f.start()
        try:
            time.sleep(args.warmup)  # start-up and the replay of the topics' history
            rss_start = {f.direction.value: _rss_kb(f.procs[0].pid) // 1024 for f in flows}
            mixer = Mixer(args.rate, args.seconds, base)
            mixer.start()
            mixer.join()
            time.sleep(5)
            rss_end = {f.direction.value: _rss_kb(f.procs[0].pid) // 1024 for f in flows}
            for f in flows:
                f.check_alive()
        finally:
            for f in flows:
                f.stop()
    lat: list[float] = []
    per_table: dict[str, list[float]] = {}
    for direction in Direction:
        with psycopg.connect(settings.dsn(direction.target_database), autocommit=True) as conn:
            for s in CAT.event_syncs(direction):
                key = "citizen_id" if "citizen_id" in s.columns else s.key[0]
                rows = conn.execute(
                    f"SELECT extract(epoch FROM _synced_at - _source_ts) FROM {s.target} "
                    f"WHERE {key} >= %s AND {key} < %s AND _source_ts IS NOT NULL",
                    (base, base + 10**7),
                ).fetchall()
                vals = [float(r[0]) for r in rows]
                per_table[s.target] = vals
                lat.extend(vals)

    def pct(vals: list[float], q: float) -> float:
        vals = sorted(vals)
        return vals[min(len(vals) - 1, int(q * len(vals)))] if vals else float("nan")

    print(f"{mixer.done:,} changes at {args.rate}/s over {args.seconds}s; {len(lat):,} arrived")
    print(
        f"source commit → target write: p50 {pct(lat, 0.50) * 1000:.0f} ms, p95 {pct(lat, 0.95) * 1000:.0f} ms, "
        f"p99 {pct(lat, 0.99) * 1000:.0f} ms, max {max(lat or [0]) * 1000:.0f} ms"
    )
    for table, vals in sorted(per_table.items()):
        print(
            f"  {table:32s} n={len(vals):5d} p50 {pct(vals, 0.5) * 1000:6.0f} ms  p95 {pct(vals, 0.95) * 1000:6.0f} ms"
        )
    print(f"RSS (MB) start {rss_start} end {rss_end}")


# ── side by side with Debezium's JDBC sink connector ───────────────────────────────────

BENCH_PLUGINS = localstack.LIB / "connect-plugins-bench"
BENCH_POM = Path(__file__).resolve().parent / "maven" / "pom.xml"
JDBC_PREFIX = "benchjdbc"
JDBC_SLOT = "smartsync_benchjdbc"


def _rest(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        raw = resp.read()
    return json.loads(raw) if raw else None


def _connector_state(port: int, name: str) -> str:
    try:
        status = _rest(port, "GET", f"/connectors/{name}/status")
    except OSError:
        return "MISSING"
    tasks = status.get("tasks", [])
    if any(t.get("state") == "FAILED" for t in tasks):
        msg = f"connector {name} failed: {tasks[0].get('trace', '')[:2000]}"
        raise SystemExit(msg)
    return str(status["connector"]["state"]) if tasks else "STARTING"


def _count(dsn: str, tables: list[str]) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        total = 0
        for table in tables:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                continue
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            total += int(row[0]) if row else 0
        return total


def jdbc(args: argparse.Namespace) -> None:  # noqa: PLR0915 — one scripted scenario
    """Our flow and the JDBC sink drain the same changes (schemaless topics vs the same events with schemas)."""
    if not (BENCH_PLUGINS / "debezium-connector-jdbc").is_dir():
        subprocess.run(["mvn", "-B", "-q", "-f", str(BENCH_POM), "package"], check=True)  # noqa: S603, S607
    settings = load_settings()
    state = localstack.read_state()
    assert state is not None, "the stack is not running"
    wdsn, cdsn = settings.warehouse_dsn.get_secret_value(), settings.citizen_dsn.get_secret_value()
    source = connector_config(
        Database.CITIZEN, CAT, hostname="127.0.0.1", port=state.pg_port, password=state.cdc_password
    )
    source.update(
        {
            "name": "bench-citizen-with-schemas",
            "topic.prefix": JDBC_PREFIX,
            "slot.name": JDBC_SLOT,
            "table.include.list": "public.citizens,public.documents",
            "heartbeat.action.query": "",
            "heartbeat.interval.ms": "0",
        }
    )
    source.pop("heartbeat.action.query")
    rest_port = runner.free_ports(1)[0]
    with tempfile.TemporaryDirectory(prefix="smartsync-bench-jdbc-") as tmp:
        run = Path(tmp)
        worker = run / "worker.properties"
        worker.write_text(
            "\n".join(
                [
                    f"bootstrap.servers={state.bootstrap}",
                    # The secure stack's SASL_SSL settings for the worker and its clients (nothing when plaintext).
                    *localstack.connect_worker_security(state),
                    "key.converter=org.apache.kafka.connect.json.JsonConverter",
                    "value.converter=org.apache.kafka.connect.json.JsonConverter",
                    "key.converter.schemas.enable=true",
                    "value.converter.schemas.enable=true",
                    f"offset.storage.file.filename={run / 'offsets'}",
                    "offset.flush.interval.ms=1000",
                    f"plugin.path={BENCH_PLUGINS}",
                    "plugin.discovery=hybrid_warn",
                    f"listeners=http://127.0.0.1:{rest_port}",
                    "producer.linger.ms=5",
                    "producer.compression.type=lz4",
                    "",
                ]
            )
        )
        log = run / "connect.log"
        cmd = localstack._java_cmd("768m", "org.apache.kafka.connect.cli.ConnectStandalone", str(worker), log=log)
        java = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        try:
            wait_until(lambda: _listening(rest_port), timeout_s=90, what="bench Connect worker")
            _rest(rest_port, "POST", "/connectors", {"name": source["name"], "config": source})
            wait_until(
                lambda: _connector_state(rest_port, source["name"]) == "RUNNING", timeout_s=90, what="schema'd source"
            )
            time.sleep(5)  # streaming starts after RUNNING
            jdbc_topics = [f"{JDBC_PREFIX}.public.citizens", f"{JDBC_PREFIX}.public.documents"]
            before = (
                {t: _topic_total(state.bootstrap, [t]) for t in jdbc_topics}
                if _topics_exist(state.bootstrap, jdbc_topics)
                else {}
            )
            base = random.randrange(10**10, 9 * 10**10)
            took = fill(cdsn, settings.kafka_bootstrap, args.events, base)
            wait_until(
                lambda: (
                    _topics_exist(state.bootstrap, jdbc_topics)
                    and _topic_total(state.bootstrap, jdbc_topics) >= sum(before.values()) + args.events
                ),
                timeout_s=600,
                what="schema'd events",
            )
            print(f"filled {args.events:,} changes ({took:.1f}s); both topic sets hold them")
            _rest(rest_port, "DELETE", f"/connectors/{source['name']}")

            ours = drain_once(wdsn, state.bootstrap, args.workers, args.snapshot)
            ours_rate = ours["events"] / ours["active_s"]
            print(
                f"smartsync flow: {ours['events']:,} events in {ours['active_s']:.1f}s first→last write "
                f"({ours_rate:,.0f} events/s; wall incl. start-up {ours['wall_s']:.1f}s)"
            )

            # The sink creates its tables in the connecting role's own schema (search_path "$user", public).
            targets = [f"{localstack.ADMIN_USER}.bench_jdbc_citizens", f"{localstack.ADMIN_USER}.bench_jdbc_documents"]
            with psycopg.connect(wdsn, autocommit=True) as conn:
                for t in targets:
                    conn.execute(f"DROP TABLE IF EXISTS {t}")
            expected = _topic_total(state.bootstrap, jdbc_topics)
            admin_user = localstack.ADMIN_USER
            sink = {
                "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
                "tasks.max": str(args.workers),
                "topics": ",".join(jdbc_topics),
                "connection.url": f"jdbc:postgresql://127.0.0.1:{state.pg_port}/smart_warehouse",
                "connection.username": admin_user,
                "connection.password": state.admin_password,
                "insert.mode": "upsert",
                "primary.key.mode": "record_key",
                "delete.enabled": "true",
                "schema.evolution": "basic",
                "collection.name.format": "bench_jdbc_${source.table}",
                "consumer.override.auto.offset.reset": "earliest",
                "consumer.override.max.poll.records": "2000",
                "batch.size": "2000",
            }
            name = f"bench-jdbc-sink-{base}"
            started = time.monotonic()
            _rest(rest_port, "POST", "/connectors", {"name": name, "config": sink})
            # Every change on these topics is an insert of a new key: drained when each one is a row.
            wait_until(
                lambda: _connector_state(rest_port, name) == "RUNNING" and _count(wdsn, targets) >= expected,
                timeout_s=1800,
                every_s=0.5,
                what="JDBC sink drain",
            )
            jdbc_wall = time.monotonic() - started
            with psycopg.connect(wdsn, autocommit=True) as conn:
                rows = _count(wdsn, targets)
            jdbc_rate = expected / jdbc_wall
            print(
                f"Debezium JDBC sink (upsert, {args.workers} tasks): {expected:,} events, {rows:,} rows in "
                f"{jdbc_wall:.1f}s incl. start-up ({jdbc_rate:,.0f} events/s)"
            )
            print(
                f"ratio smartsync / JDBC sink: {ours_rate / jdbc_rate:.2f}x (first→last write vs JDBC wall), "
                f"{(ours['events'] / ours['wall_s']) / jdbc_rate:.2f}x (both wall incl. start-up)"
            )
            _rest(rest_port, "DELETE", f"/connectors/{name}")
        finally:
            runner.stop([java])
            with psycopg.connect(cdsn, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND "
                    "NOT active",
                    (JDBC_SLOT,),
                )


def _topics_exist(bootstrap: str, topics: list[str]) -> bool:
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-bench"))
    try:
        found = consumer.list_topics(timeout=10).topics
        return all(t in found for t in topics)
    finally:
        consumer.close()


def _listening(port: int) -> bool:
    try:
        _rest(port, "GET", "/connectors")
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--events", type=int, default=1_000_000, help="changes to add first (0: drain what is there)")
    t.add_argument("--runs", type=int, default=2)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--snapshot", type=int, default=5)
    t.set_defaults(func=throughput)
    lat = sub.add_parser("latency")
    lat.add_argument("--rate", type=float, default=200)
    lat.add_argument("--seconds", type=float, default=60)
    lat.add_argument("--workers", type=int, default=1)
    lat.add_argument("--snapshot", type=int, default=5)
    lat.add_argument("--warmup", type=float, default=20)
    lat.set_defaults(func=latency)
    sc = sub.add_parser("scaling")
    sc.add_argument("--events", type=int, default=500_000, help="changes to add first (0: drain what is there)")
    sc.add_argument("--processes", default="1,2,4", help="the cluster sizes to compare, one worker each")
    sc.add_argument("--runs", type=int, default=3)
    sc.add_argument("--snapshot", type=int, default=5)
    sc.set_defaults(func=scaling)
    j = sub.add_parser("jdbc")
    j.add_argument("--events", type=int, default=500_000)
    j.add_argument("--workers", type=int, default=2)
    j.add_argument("--snapshot", type=int, default=5)
    j.set_defaults(func=jdbc)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
