"""Masking throughput: a 100K-row batch of realistic profile rows through ``row_masker``.

    python bench/bench_masking.py [--rows 100000] [--runs 7] [--sync profile_summary] [--check]

Rows are built here by a tiny seeded generator with the shapes real data has: mostly clean
10-digit mobiles and Jan Aadhaar IDs, some ``+91``/``0``-prefixed or spaced, a few malformed,
nulls, emails over a handful of domains. Prints the median over the runs of

- values/s: every value of every row (what the sink writes), and
- masked values/s: only the values of columns with a lossy rule,

measured as CPU time of this one thread (one core), with wall time beside it. The target of
issue 3 is 500,000 masked values/s. ``--check`` exits 1 below it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from masking import row_masker
from smartsync.core.catalog import MaskRule, Sync, load_catalog

TARGET = 500_000

_FIRST = ["asha", "ravi", "sunita", "mohan", "pooja", "vikram", "kavita", "arjun", "meena", "suresh", "anita", "rahul"]
_LAST = ["meena", "sharma", "jat", "gurjar", "bairwa", "rathore", "choudhary", "saini", "yadav", "kumawat"]
_DOMAINS = ["gmail.com", "yahoo.co.in", "rediffmail.com", "outlook.com", "rajasthan.gov.in", "Gmail.com"]
_BANDS = ["BPL", "<1 LPA", "1-3 LPA", "3-5 LPA", "5-10 LPA", ">10 LPA"]
_LEVELS = ["low", "medium", "high", "critical"]


def _mobile(rng: random.Random) -> str | None:
    n = str(rng.randrange(6_000_000_000, 10_000_000_000))
    roll = rng.random()
    if roll < 0.03:
        return None
    if roll < 0.85:
        return n
    if roll < 0.92:
        return f"+91 {n[:5]} {n[5:]}"
    if roll < 0.97:
        return "0" + n
    return n[:7]  # malformed: too short


def _jan_aadhaar(rng: random.Random) -> str | None:
    n = str(rng.randrange(1_000_000_000, 10_000_000_000))
    roll = rng.random()
    if roll < 0.02:
        return None
    if roll < 0.95:
        return n
    return f"{n[:4]}-{n[4:8]}-{n[8:]}"


def _aadhaar(rng: random.Random) -> str | None:
    return None if rng.random() < 0.05 else str(rng.randrange(200_000_000_000, 1_000_000_000_000))


def _email(rng: random.Random, i: int) -> str | None:
    if rng.random() < 0.15:
        return None
    return f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{i}@{rng.choice(_DOMAINS)}"


def build_rows(sync: Sync, n: int, seed: int = 7) -> list[dict[str, object]]:
    """``n`` target rows for a profile sync (profile_summary or golden_records)."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        full = {
            "citizen_id": i,
            "full_name": f"{rng.choice(_FIRST).title()} {rng.choice(_LAST).title()}",
            "date_of_birth": "1987-04-12",
            "gender": rng.choice("MF"),
            "district_id": rng.randrange(1, 34),
            "address": f"H.No. {rng.randrange(1, 400)}, Shastri Nagar, Jaipur, Rajasthan 302{rng.randrange(1000):03d}",
            "jan_aadhaar": _jan_aadhaar(rng),
            "aadhaar": _aadhaar(rng),
            "mobile": _mobile(rng),
            "email": _email(rng, i),
            "income_band": rng.choice(_BANDS),
            "vulnerability_level": rng.choice(_LEVELS),
            "verification_status": "verified",
            "eligible_scheme_count": rng.randrange(0, 9),
            "active_application_count": rng.randrange(0, 3),
            "last_benefit_date": None,
            "updated_at": "2026-11-21T10:00:00+00:00",
            "_source_lsn": 26_000_000 + i,
        }
        rows.append({k: v for k, v in full.items() if k in sync.columns or k == "_source_lsn"})
    return rows


def run(sync_name: str, n: int, runs: int) -> dict[str, float]:
    sync = load_catalog().sync(sync_name)
    mask = row_masker(sync)
    rows = build_rows(sync, n)
    values = sum(len(r) for r in rows)
    masked_cols = [c for c, rule in sync.masks().items() if rule is not MaskRule.CLEAR]
    masked = sum(1 for r in rows for c in masked_cols if c in r)
    cpu: list[float] = []
    wall: list[float] = []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.thread_time()
        out = [mask(r) for r in rows]
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
        del out
    c_med, w_med = statistics.median(cpu), statistics.median(wall)
    return {
        "rows": n,
        "values": values,
        "masked": masked,
        "cpu_s": c_med,
        "wall_s": w_med,
        "values_per_s": values / c_med,
        "masked_per_s": masked / c_med,
        "masked_per_s_wall": masked / w_med,
        "rows_per_s": n / c_med,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sync", action="append", help="profile_summary and golden_records by default")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET:,} masked values/s")
    args = parser.parse_args()
    ok = True
    for name in args.sync or ["profile_summary", "golden_records"]:
        r = run(name, args.rows, args.runs)
        print(
            f"{name}: {r['rows']:,} rows, {r['values']:,} values ({r['masked']:,} masked), median of {args.runs} runs: "
            f"{r['values_per_s']:,.0f} values/s, {r['masked_per_s']:,.0f} masked values/s, "
            f"{r['rows_per_s']:,.0f} rows/s (CPU {r['cpu_s'] * 1000:.0f} ms; wall {r['wall_s'] * 1000:.0f} ms, "
            f"{r['masked_per_s_wall']:,.0f} masked values/s)"
        )
        ok = ok and r["masked_per_s"] >= TARGET
    print(f"target {TARGET:,} masked values/s on one core: {'met' if ok else 'NOT met'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
