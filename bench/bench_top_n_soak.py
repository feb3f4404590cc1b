"""Soak of the top-N state: the whole warehouse_to_citizen dataflow in Bytewax, idle expiry on vs off.

    python bench/bench_top_n_soak.py                 # 30 minutes, both variants side by side
    python bench/bench_top_n_soak.py --minutes 3     # a quick check

Each variant runs in its own process (RSS never shrinks back within one), both at the same time: the
real ``dataflows.wiring.build_flow`` (decode, top N, recovery snapshots every 5 s in a temporary directory)
with a paced source of Debezium change events of ``eligibility_hints`` in place of Kafka and a sink that
discards in place of PostgreSQL. Every second ``--citizens-per-s`` new citizens (default 1) are evaluated on
``--schemes`` schemes (a third eligible) and ``--revisits`` earlier citizens, picked at random, are evaluated
again. "expiry on" drops a citizen idle for ``--idle-s`` seconds (``SMARTSYNC_TOP_N_IDLE_S``); "expiry off" keeps
every citizen; ``--no-recovery`` runs without recovery snapshots (to tell their share of the memory).
Prints each variant's resident memory (VmRSS, and RssAnon, its heap), live groups and expired groups every
minute, then the slopes over the last 20 minutes (the last two thirds of a shorter run).

    python bench/bench_top_n_soak.py --minutes 6 --citizens-per-s 20 --idle-s 6 [--no-recovery]   # 20x faster
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from bytewax.inputs import DynamicSource, StatelessSourcePartition
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main
from prometheus_client import REGISTRY

from connectors.debezium.envelope import Origin
from connectors.kafka.source import Consumed
from dataflows.startup import tune_gc
from dataflows.testing import NullSink
from dataflows.wiring import build_flow
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import Settings

FLOW = Direction.WAREHOUSE_TO_CITIZEN
SYNC = "eligibility_hints"


def _memory_mb() -> dict[str, float]:
    """VmRSS, and RssAnon: the heap alone, which the kernel cannot drop under page-cache pressure as it does
    with a process's mapped library pages (those make VmRSS step down when the machine is busy)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in {"VmRSS", "RssAnon"}:
                out[name] = int(value.split()[0]) / 1024
    return out


def _metric(name: str) -> float:
    value = REGISTRY.get_sample_value(name, {"flow": FLOW.value, "sync": SYNC})
    return value or 0.0


class _Citizens(StatelessSourcePartition[Consumed]):
    """One tick a second: a new citizen's evaluations and re-evaluations of earlier ones; a report a minute."""

    def __init__(self, args: argparse.Namespace, topic: str, partitions: int) -> None:
        self._args = args
        self._topic = topic
        self._partitions = partitions
        self._rng = random.Random(42)
        self._next_citizen = 1
        self._lsn = 1_000
        self._offsets = [0] * partitions
        self._start = time.monotonic()
        self._tick = 0
        self._ticks = args.minutes * 60
        self._awake: datetime | None = None

    def _evaluation(self, citizen: int, scheme: int) -> Origin:
        self._lsn += 1
        now = datetime.now(UTC)
        after = {
            "citizen_id": citizen,
            "scheme_code": f"S{scheme:03d}",
            "eligibility_score": f"0.{self._rng.randrange(1, 10_000):04d}",
            "status": "eligible" if self._rng.random() < 1 / 3 else "not_eligible",
            "evaluated_at": now.isoformat(),
            "updated_at": now.isoformat(),
        }
        ts_us = int(now.timestamp() * 1_000_000)
        source = {"connector": "postgresql", "db": "smart_warehouse", "snapshot": "false", "lsn": self._lsn}
        source |= {"ts_ms": ts_us // 1000, "ts_us": ts_us, "schema": "eligibility", "table": "eligibility_snapshots"}
        value = {"before": None, "after": after, "source": source, "op": "c", "ts_ms": ts_us // 1000}
        part = citizen % self._partitions
        self._offsets[part] += 1
        key = {"citizen_id": citizen, "scheme_code": after["scheme_code"]}
        return Origin(self._topic, part, self._offsets[part], orjson.dumps(key), orjson.dumps(value))

    def next_batch(self) -> list[Consumed]:
        if self._tick >= self._ticks:
            raise StopIteration
        self._tick += 1
        self._awake = datetime.now(UTC) + timedelta(seconds=max(0.0, self._start + self._tick - time.monotonic()))
        citizens = list(range(self._next_citizen, self._next_citizen + self._args.citizens_per_s))
        if self._next_citizen > 1:
            citizens += [self._rng.randrange(1, self._next_citizen) for _ in range(self._args.revisits)]
        self._next_citizen += self._args.citizens_per_s
        batch: list[Consumed] = [self._evaluation(c, s) for c in citizens for s in range(self._args.schemes)]
        if self._tick % 60 == 0:
            memory = _memory_mb()
            report = {
                "minute": self._tick // 60,
                "rss_mb": round(memory["VmRSS"], 1),
                "anon_mb": round(memory["RssAnon"], 1),
                "groups": int(_metric("smartsync_top_n_groups")),
                "expired": int(_metric("smartsync_top_n_groups_expired_total")),
            }
            print(json.dumps(report), flush=True)
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake


class _Citizenry(DynamicSource[Consumed]):
    def __init__(self, args: argparse.Namespace, topic: str, partitions: int) -> None:
        self._parts = (args, topic, partitions)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Citizens:
        return _Citizens(*self._parts)


def run_variant(args: argparse.Namespace, idle_s: float) -> None:
    catalog = load_catalog()
    topic = catalog.sync(SYNC).topic
    assert topic is not None
    settings = Settings(kafka_bootstrap="unused:9092", top_n_idle_s=idle_s)
    tune_gc(settings.flow_gc_threshold)  # as a flow process does
    flow = build_flow(catalog, FLOW, settings, source=_Citizenry(args, topic.name, topic.partitions), sink=NullSink())
    if args.no_recovery:
        run_main(flow, epoch_interval=timedelta(seconds=5))
        return
    with tempfile.TemporaryDirectory(prefix="smartsync-soak-") as tmp:
        init_db_dir(Path(tmp), 1)
        run_main(flow, epoch_interval=timedelta(seconds=5), recovery_config=RecoveryConfig(tmp))


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope, MB per minute."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--idle-s", type=float, default=120.0, help="the idle limit of the expiry-on variant")
    parser.add_argument("--schemes", type=int, default=60, help="evaluations per citizen")
    parser.add_argument("--revisits", type=int, default=1, help="earlier citizens evaluated again every second")
    parser.add_argument("--citizens-per-s", type=int, default=1, help="new citizens every second")
    parser.add_argument("--no-recovery", action="store_true", help="no recovery snapshots (tells their share)")
    parser.add_argument("--variant-idle-s", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant_idle_s is not None:
        run_variant(args, args.variant_idle_s)
        return
    base = [sys.executable, __file__, "--minutes", str(args.minutes), "--schemes", str(args.schemes)]
    base += ["--revisits", str(args.revisits), "--citizens-per-s", str(args.citizens_per_s)]
    base += ["--no-recovery"] if args.no_recovery else []
    variants = {"expiry on": args.idle_s, "expiry off": 0.0}
    procs = {
        name: subprocess.Popen([*base, "--variant-idle-s", str(idle)], stdout=subprocess.PIPE, text=True)  # noqa: S603
        for name, idle in variants.items()
    }
    rows: dict[str, list[dict[str, Any]]] = {}
    for name, proc in procs.items():
        out, _ = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"{name} variant failed with exit code {proc.returncode}")
        rows[name] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    on, off = rows["expiry on"], rows["expiry off"]
    print(
        f"{args.minutes} min, {args.citizens_per_s} new citizen(s)/s x {args.schemes} evaluations + {args.revisits} "
        f"revisit(s)/s, recovery {'off' if args.no_recovery else 'on'}"
    )
    print(f"idle limit {args.idle_s:g} s (expiry on) vs none (expiry off)")
    print("RSS = VmRSS, heap = RssAnon (MB)")
    print("minute | expiry on:  RSS   heap groups expired | expiry off:  RSS   heap groups")
    for a, b in zip(on, off, strict=False):
        print(
            f"{a['minute']:6d} | {a['rss_mb']:15.1f} {a['anon_mb']:6.1f} {a['groups']:6d} {a['expired']:7d} |"
            f" {b['rss_mb']:16.1f} {b['anon_mb']:6.1f} {b['groups']:6d}"
        )
    window = 20 if args.minutes >= 30 else max(2, args.minutes * 2 // 3)
    for name, series in rows.items():
        tail = series[-window:]
        rss = _slope([(r["minute"], r["rss_mb"]) for r in tail])
        heap = _slope([(r["minute"], r["anon_mb"]) for r in tail])
        print(f"{name}: slope over the last {len(tail)} minutes: RSS {rss:+.3f} MB/min, heap {heap:+.3f} MB/min")


if __name__ == "__main__":
    main()
