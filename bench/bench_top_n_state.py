"""Memory of the top-N state (eligibility hints), pruned vs unpruned, over a long stream of evaluations.

Runs the flow's own stateful step (``dataflows.wiring._TopN``, idle expiry off) over a dict of per-citizen
logics, as Bytewax's ``stateful`` keeps them, without Kafka or PostgreSQL (``bench/bench_top_n_soak.py`` runs
the whole dataflow over time, with idle expiry on and off):

    python bench/bench_top_n_state.py --citizens-per-tick 50 --ticks 600 --schemes 60

Every tick new citizens arrive and are evaluated on ``--schemes`` schemes (a third eligible); older
citizens are re-evaluated and, with ``--churn``, some stop being eligible for anything (moved away,
benefits ended). Prints the resident memory and the number of kept items every 60 ticks, for the pruned
step and for the unpruned one (the state before pruning existed), side by side.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
from decimal import Decimal
from typing import Any

from connectors.debezium.envelope import Origin
from dataflows import top_n
from dataflows.top_n import Evaluation
from dataflows.wiring import _TopN
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens-per-tick", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=600)
    parser.add_argument("--schemes", type=int, default=60)
    parser.add_argument("--churn", type=float, default=0.0, help="share of citizens whose schemes all end later")
    parser.add_argument("--variant", choices=["pruned", "unpruned"], help=argparse.SUPPRESS)
    args = parser.parse_args()
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
