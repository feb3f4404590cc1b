"""The event path's chaos suite (bench/chaos_scenarios), short or long, on demand.

    python bench/chaos.py           # 3 SIGKILLs, a 10 s target outage, 6 s of load around each fault
    python bench/chaos.py --long    # 12 SIGKILLs, a 60 s target outage, 20 s of load around each fault

Every scenario ends with source == target for every row the load touched. It disturbs the stack it
runs on (Kafka Connect and the broker are killed and restarted): run it on a stack of its own
(``SMARTSYNC_STACK_DIR=/tmp/chaos-stack smartsync stack up``) or when nobody else uses the shared one.
The fault-specific scenarios (stale recovery, source regression, poison events) are in
tests/integration/dataflows/test_flows_{stale_recovery,source_regression,poison}.py; ``--all`` adds them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAULT_TESTS = [
    "tests/integration/dataflows/test_flows_stale_recovery.py",
    "tests/integration/dataflows/test_flows_source_regression.py",
    "tests/integration/dataflows/test_flows_poison.py",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="12 kills, a 60 s outage, 20 s of load per fault")
    parser.add_argument("--all", action="store_true", help="also the stale-recovery, regression and poison tests")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.long:
        env.update(SMARTSYNC_CHAOS_KILLS="12", SMARTSYNC_CHAOS_OUTAGE_S="60", SMARTSYNC_CHAOS_LOAD_S="20")
    paths = ["bench/chaos_scenarios", *(FAULT_TESTS if args.all else [])]
    # The stack fixtures and the test ordering come from the test suite's conftest.
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", *paths]
    return subprocess.call(argv, cwd=REPO, env=env)  # noqa: S603


if __name__ == "__main__":
    raise SystemExit(main())
