"""Memory of the top-N state (eligibility hints), pruned vs unpruned, over a long stream of evaluations.

Runs the flow's own stateful step (``dataflows.wiring._TopN``, idle expiry off) over a dict of per-citizen
logics, as Bytewax's ``stateful`` keeps them, without Kafka or PostgreSQL (``bench/bench_top_n_soak.py`` runs
the whole dataflow over time, with idle expiry on and off):

    python bench/bench_top_n_state.py --citizens-per-tick 50 --ticks 600 --schemes 60

Every tick new citizens arrive and are evaluated on ``--schemes`` schemes (a third eligible); older
citizens are re-evaluated and, with ``--churn``, some stop being eligible for anything (moved away,
benefits ended). Prints the resident memory and the number of kept items every 60 ticks, for the pruned
step and for the unpruned one (the state before pruning existed), side by side.

``--speed`` instead times the step inside Bytewax (recovery on, 1 s epochs) over ``--groups`` citizens with three
evaluations each and ``--extra`` more for random ones: the ``stateful_map`` step as it was before idle expiry,
the ``stateful`` logic with expiry off, and with the 7-day default, alternating, medians of ``--runs``:

    python bench/bench_top_n_state.py --speed --groups 100000 --extra 300000 --runs 3
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSource, run_main

from connectors.debezium.envelope import Origin
from dataflows import top_n
from dataflows.testing import NullSink
from dataflows.top_n import Evaluation, TopState, top_n_step
from dataflows.wiring import _group_of, _TopN
from smartsync.core.catalog import load_catalog

ORIGIN = Origin("t", 0, 0, None, b"")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _ev(citizen: int, scheme: int, pos: int, rng: random.Random, *, eligible: bool) -> Evaluation:
    key = (citizen, f"S{scheme:03d}")
    status = "eligible" if eligible else "not_eligible"
    score = Decimal(rng.randrange(1, 1000)) / 1000
    row = {"citizen_id": citizen, "scheme_code": key[1], "eligibility_score": score, "status": status}
    return Evaluation("eligibility_hints", str(citizen), key, score, status, row, pos, None, ORIGIN)


def _step(states: dict[str, Any], build: _TopN, ev: Evaluation) -> None:
    logic = states.get(ev.group)
    if logic is None:
        logic = states[ev.group] = build(None)
    _, discard = logic.on_item(ev)
    if discard:
        del states[ev.group]


def run(args: argparse.Namespace, *, pruned: bool) -> list[tuple[int, float, int, int]]:
    spec = load_catalog().sync("eligibility_hints").top_n
    assert spec is not None
    saved = top_n.prune
    if not pruned:
        top_n.prune = lambda state, _spec: state  # type: ignore[assignment]  # the step as it was
    try:
        build = _TopN({"eligibility_hints": spec}, "warehouse_to_citizen", 0)
        rng = random.Random(42)
        states: dict[str, Any] = {}
        pos = 0
        next_citizen = 0
        out = []
        gc.collect()
        base = _rss_mb()
        for tick in range(1, args.ticks + 1):
            for _ in range(args.citizens_per_tick):
                citizen = next_citizen
                next_citizen += 1
                gone = rng.random() < args.churn
                for scheme in range(args.schemes):
                    pos += 1
                    _step(states, build, _ev(citizen, scheme, pos, rng, eligible=rng.random() < 1 / 3))
                if gone:  # later: every scheme ends for this citizen
                    for scheme in range(args.schemes):
                        pos += 1
                        _step(states, build, _ev(citizen, scheme, pos, rng, eligible=False))
            if tick % 60 == 0:
                gc.collect()
                items = sum(len(logic.snapshot().state) for logic in states.values())
                out.append((tick, _rss_mb() - base, len(states), items))
        return out
    finally:
        top_n.prune = saved


def _speed_run(variant: str, items: list[Evaluation]) -> float:
    spec = load_catalog().sync("eligibility_hints").top_n
    assert spec is not None
    flow = Dataflow("warehouse_to_citizen")
    keyed = op.key_on("by_group", op.input("in", flow, TestingSource(items, batch_size=2000)), _group_of)
    if variant == "stateful_map":

        def before(state: TopState | None, ev: Evaluation) -> tuple[TopState | None, list[Any]]:
            new, changes = top_n_step(state, ev, spec)
            return new or None, changes

        out: Any = op.stateful_map("top_n", keyed, before)
    else:
        idle_s = 0 if variant == "expiry off" else 7 * 86_400
        out = op.stateful("top_n", keyed, _TopN({"eligibility_hints": spec}, "warehouse_to_citizen", idle_s))
    op.output("out", out, NullSink())
    with tempfile.TemporaryDirectory(prefix="smartsync-top-n-") as tmp:
        init_db_dir(Path(tmp), 1)
        start = time.perf_counter()
        run_main(flow, epoch_interval=timedelta(seconds=1), recovery_config=RecoveryConfig(tmp))
        return time.perf_counter() - start


def speed(args: argparse.Namespace) -> None:
    rng = random.Random(1)
    citizens = [c for c in range(args.groups) for _ in range(3)]
    citizens += [rng.randrange(args.groups) for _ in range(args.extra)]
    items = [
        _ev(citizen, rng.randrange(args.schemes), pos, rng, eligible=rng.random() < 1 / 3)
        for pos, citizen in enumerate(citizens, start=1)
    ]
    times: dict[str, list[float]] = {"stateful_map": [], "expiry off": [], "expiry 7 d": []}
    for _ in range(args.runs):
        for variant, runs in times.items():
            runs.append(_speed_run(variant, items))
    for variant, runs in times.items():
        median = statistics.median(runs)
        each = " ".join(f"{t:.2f}" for t in runs)
        print(f"{variant:12s} median {median:6.2f} s {len(items) / median:9.0f} evaluations/s (runs {each})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens-per-tick", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=600)
    parser.add_argument("--schemes", type=int, default=60)
    parser.add_argument("--churn", type=float, default=0.0, help="share of citizens whose schemes all end later")
    parser.add_argument("--variant", choices=["pruned", "unpruned"], help=argparse.SUPPRESS)
    parser.add_argument("--speed", action="store_true", help="time the step in Bytewax instead")
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--extra", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.speed:
        speed(args)
        return
    if args.variant is not None:  # one variant per process: RSS never shrinks back within one
        print(json.dumps(run(args, pruned=args.variant == "pruned")))
        return
    results = {}
    for variant in ("unpruned", "pruned"):
        argv = [sys.executable, __file__, *sys.argv[1:], "--variant", variant]
        results[variant] = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)  # noqa: S603
    print("tick | unpruned: RSS MB, groups, items | pruned: RSS MB, groups, items")
    for (t, r0, g0, i0), (_, r1, g1, i1) in zip(results["unpruned"], results["pruned"], strict=True):
        print(f"{t:5d} | {r0:8.1f} {g0:8d} {i0:9d} | {r1:8.1f} {g1:8d} {i1:9d}")


if __name__ == "__main__":
    main()
