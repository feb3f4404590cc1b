"""``smartsync flow dead-letters list``: JSON for machines; with Kafka unreachable, one error line and exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SMARTSYNC = [sys.executable, "-m", "smartsync"]
FIELDS = {"topic", "offset", "sync", "source_topic", "source_partition", "source_offset", "failed_at", "reason"}


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 — our own command
        [*SMARTSYNC, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120, check=False
    )


def test_dead_letters_list_json_has_the_table_fields() -> None:
    out = _run("flow", "dead-letters", "list", "warehouse_to_citizen", "--json", "--limit", "5")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert isinstance(rows, list)
    assert len(rows) <= 5
    for row in rows:
        assert set(row) == FIELDS
        assert row["topic"] == "smartsync.dlq.warehouse_to_citizen"
