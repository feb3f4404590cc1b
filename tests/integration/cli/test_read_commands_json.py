"""Read commands answer in JSON for machines, and ask only for the settings they use."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SMARTSYNC = [sys.executable, "-m", "smartsync"]


def _run(*args: str, drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(  # noqa: S603 — our own command
        [*SMARTSYNC, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_stack_status_json() -> None:
    out = _run("stack", "status", "--json")
    assert out.returncode == 0, out.stderr
    assert {p["component"] for p in json.loads(out.stdout)} >= {"postgres", "kafka"}


def test_data_counts_json_needs_no_kafka_bootstrap() -> None:
    out = _run("data", "counts", "--json", drop=("SMARTSYNC_KAFKA_BOOTSTRAP",))
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert all(isinstance(r["rows"], int) for r in rows)


def test_batch_list_json() -> None:
    out = _run("batch", "list", "--json")
    assert out.returncode == 0, out.stderr
    assert "weekly_reconciliation" in {j["job"] for j in json.loads(out.stdout)["jobs"]}


def test_version() -> None:
    out = _run("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("smartsync ")


def test_reconcile_diff_needs_no_kafka_bootstrap() -> None:
    out = _run("reconcile", "diff", "--table", "schemes", "--json", drop=("SMARTSYNC_KAFKA_BOOTSTRAP",))
    assert "KAFKA_BOOTSTRAP" not in out.stderr
    assert out.returncode in (0, 4), out.stderr  # 4: drift, which is not this test's concern
    assert "tables" in json.loads(out.stdout)
