"""With Kafka unreachable (a closed loopback port), a command says so in one line and exits 1: librdkafka's
own log lines stay quiet unless --debug, and there is no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

SMARTSYNC = [sys.executable, "-m", "smartsync"]
CLOSED_PORT = "127.0.0.1:1"  # nothing listens on port 1: every connection is refused at once


def _dead_letters_list(*before: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMARTSYNC_KAFKA_BOOTSTRAP": CLOSED_PORT, "SMARTSYNC_DEBUG": ""}
    return subprocess.run(  # noqa: S603 — our own command
        [*SMARTSYNC, *before, "flow", "dead-letters", "list", "warehouse_to_citizen"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_kafka_down_is_one_error_line_and_exit_1() -> None:
    out = _dead_letters_list()
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: Kafka at 127.0.0.1:1")
    assert "SMARTSYNC_KAFKA_BOOTSTRAP" in lines[0]


def test_debug_shows_librdkafka_lines_and_the_traceback() -> None:
    out = _dead_letters_list("--debug")
    assert out.returncode == 1
    assert "Connection refused" in out.stderr
    assert "Traceback" in out.stderr
