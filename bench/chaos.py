"""The event path's chaos suite (tests/integration/chaos), in its CI form or its long form, on demand.

    python bench/chaos.py           # the CI form: 10 SIGKILLs, a 60 s target outage, 4 s of load around each fault
    python bench/chaos.py --long    # 30 SIGKILLs, a 120 s target outage, 15 s of load around each fault
    python bench/chaos.py --all     # also the stale-recovery, source-regression and poison scenarios

Every scenario ends with a full reconciliation: the batch path's compare of the whole pair finds no
source-only, target-only or changed row. The suite kills and restarts Kafka Connect and the broker of
the stack it runs on: run it on a stack of its own (``SMARTSYNC_STACK_DIR=/tmp/chaos-stack``; the
test session starts one when none runs there) or when nobody else uses the shared one.
``SMARTSYNC_CHAOS_KILLS``, ``SMARTSYNC_CHAOS_OUTAGE_S`` and ``SMARTSYNC_CHAOS_LOAD_S`` set in the
environment win over both forms. Each scenario prints one ``chaos ...`` line with its figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHAOS = "tests/integration/chaos"
FAULT_TESTS = [
    "tests/integration/dataflows/test_flows_stale_recovery.py",
    "tests/integration/dataflows/test_flows_source_regression.py",
    "tests/integration/dataflows/test_flows_poison.py",
]
LONG = {"SMARTSYNC_CHAOS_KILLS": "30", "SMARTSYNC_CHAOS_OUTAGE_S": "120", "SMARTSYNC_CHAOS_LOAD_S": "15"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="30 kills, a 120 s outage, 15 s of load per fault")
    parser.add_argument("--all", action="store_true", help="also the stale-recovery, regression and poison tests")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.long:
        for name, value in LONG.items():
            env.setdefault(name, value)
    # The fault scenarios first, as in a full test run (the chaos tests are `disruptive`, ordered last).
    paths = [*(FAULT_TESTS if args.all else []), CHAOS]
    argv = [sys.executable, "-m", "pytest", "-q", "-s", "--durations=0", *paths]
    started = time.monotonic()
    code = subprocess.call(argv, cwd=REPO, env=env)  # noqa: S603
    print(f"chaos suite: exit {code}, wall {time.monotonic() - started:.0f}s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
