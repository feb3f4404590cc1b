"""Run one benchmark against two commits, alternating, and print both medians and their ratio.

    python bench/side_by_side.py --base 34aa34c --metric 'smartsync\\s+median\\s+([\\d.]+) s' --lower-is-better \\
        -- bench_reconcile.py --runs 3 --reladiff-runs 0 --skip-duckdb --drift-only

The base commit (and ``--head``, else this working tree) is checked out into a temporary git
worktree; each round runs the benchmark
script of each tree from that tree (its own code first on ``sys.path`` through ``PYTHONPATH``,
so the processes a benchmark starts run that tree's code too), base first, then this tree.
Alternating rounds share whatever else the machine is doing, so the ratio is fairer than two
separate runs. ``--metric`` is a regular expression whose first group is the figure to compare
(commas allowed); the benchmark's own output is printed as it comes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GIT = shutil.which("git") or "git"


def git(*args: str) -> str:
    res = subprocess.run([GIT, *args], cwd=REPO, capture_output=True, text=True, check=True)  # noqa: S603 — fixed git verbs
    return res.stdout.strip()


def run(tree: Path, script: str, args: list[str], metric: re.Pattern[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(tree / "bench" / script), *args]
    res = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)  # noqa: S603 — our own script
    sys.stdout.write(res.stdout)
    if res.returncode != 0:
        msg = f"{script} failed in {tree} ({res.returncode}): {res.stderr.strip()[-800:]}"
        raise SystemExit(msg)
    found = metric.findall(res.stdout)
    if not found:
        msg = f"no figure matching {metric.pattern!r} in the output of {script} ({tree})"
        raise SystemExit(msg)
    return float(str(found[-1]).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against (e.g. HEAD~5)")
    parser.add_argument("--head", help="the commit to measure (default: this working tree as it is)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--metric", required=True, help="regex; its first group is the figure")
    parser.add_argument("--lower-is-better", action="store_true", help="the figure is a time, not a rate")
    parser.add_argument("script", help="a file under bench/")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    metric = re.compile(ns.metric)
    base_sha = git("rev-parse", "--short", ns.base)
    head_label = git("rev-parse", "--short", ns.head) if ns.head else git("rev-parse", "--short", "HEAD") + "+tree"
    with tempfile.TemporaryDirectory(prefix="smartsync-side-by-side-") as tmp:
        trees = [Path(tmp) / "base", Path(tmp) / "head" if ns.head else REPO]
        for tree, ref in zip(trees, (ns.base, ns.head), strict=True):
            if ref:
                git("worktree", "add", "-q", "--detach", str(tree), ref)
        try:
            figures: dict[str, list[float]] = {base_sha: [], head_label: []}
            for i in range(ns.rounds):
                for (label, values), tree in zip(figures.items(), trees, strict=True):
                    print(f"\n== round {i + 1}/{ns.rounds}: {label}", flush=True)
                    values.append(run(tree, ns.script, args, metric))
        finally:
            for tree in trees:
                if tree != REPO:
                    git("worktree", "remove", "--force", str(tree))
    print(f"\n{ns.script} {' '.join(args)}")
    medians = {label: statistics.median(values) for label, values in figures.items()}
    for label, values in figures.items():
        runs = ", ".join(f"{v:,.2f}" for v in values)
        print(f"  {label:24s} median {medians[label]:>12,.2f}   runs: {runs}")
    base_m, head_m = medians.values()
    ratio = base_m / head_m if ns.lower_is_better else head_m / base_m
    print(f"  speed of {head_label} relative to {base_sha}: {ratio:.2f}x (above 1: faster)")


if __name__ == "__main__":
    main()
