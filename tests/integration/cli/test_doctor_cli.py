"""``smartsync doctor`` on the real stack: healthy exits 0; a broker that is down is one failed line, exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SMARTSYNC = [sys.executable, "-m", "smartsync"]


def _doctor(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 — our own command
        [*SMARTSYNC, "doctor", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_the_local_stack_is_healthy() -> None:
    out = _doctor("--json")
    assert out.returncode == 0, out.stdout
    body = json.loads(out.stdout)
    assert body["healthy"] is True
    names = {c["name"] for c in body["checks"]}
    assert "kafka: topic warehouse.public.profile_360" in names
    assert "connector smartsync-warehouse" in names
    assert "smart_citizen: slot smartsync_citizen" in names


def test_a_broker_that_is_down_is_one_line_without_librdkafka_noise() -> None:
    out = _doctor(SMARTSYNC_KAFKA_BOOTSTRAP="127.0.0.1:9")
    assert out.returncode == 1
    failed = [line for line in out.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith("FAIL kafka:"), out.stdout
    assert "rdkafka" not in out.stderr and "Connect to ipv4" not in out.stderr, out.stderr
