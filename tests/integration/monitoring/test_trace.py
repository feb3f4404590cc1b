"""``smartsync trace`` follows a fresh warehouse row to its change event on Kafka, masked, with no flow running."""

from __future__ import annotations

import json
import random
from typing import Any

import psycopg
from typer.testing import CliRunner

from connectors.kafka.partitioning import partition_for
from dataflows.testing import person, wait_until
from smartsync.cli.main import app
from smartsync.core.catalog import load_catalog
from smartsync.devstack.localstack import StackState
from smartsync.monitoring.trace import newest_event


def test_trace_finds_the_event_masks_the_row_and_says_the_target_is_behind(stack: StackState, monkeypatch: Any) -> None:
    sync = load_catalog().sync("golden_records")
    assert sync.topic is not None
    cid = random.randint(10**12, 10**13)
    p = person(cid)
    with psycopg.connect(stack.dsn(sync.source_database), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO public.golden_records (citizen_id, aadhaar, full_name, district_id, mobile, "
            "vulnerability_level) VALUES (%s, %s, %s, 3, %s, 'medium')",
            (cid, p["aadhaar"], p["full_name"], p["mobile"]),
        )
    key = json.dumps({"citizen_id": cid}, separators=(",", ":")).encode()
    partition = partition_for(key, sync.topic.partitions)
    wait_until(
        lambda: newest_event(stack.bootstrap, sync.topic.name, partition, key, depth=5_000) is not None,  # type: ignore[union-attr]
        timeout_s=60,
        what="the row's change event on Kafka",
    )
    monkeypatch.setenv("SMARTSYNC_WAREHOUSE_DSN", stack.dsn(sync.source_database))
    monkeypatch.setenv("SMARTSYNC_CITIZEN_DSN", stack.dsn(sync.target_database))
    monkeypatch.setenv("SMARTSYNC_KAFKA_BOOTSTRAP", stack.bootstrap)

    result = CliRunner().invoke(app, ["trace", "--sync", "golden_records", "--key", str(cid), "--json"])

    assert result.exit_code == 0, result.output
    assert p["aadhaar"] not in result.output and p["mobile"] not in result.output
    out = json.loads(result.output)
    assert out["source"]["columns"]["citizen_id"] == str(cid)
    assert out["source"]["columns"]["aadhaar"] and out["source"]["columns"]["mobile"]
    assert out["event"]["partition"] == partition and out["event"]["op"] == "c"
    assert isinstance(out["event"]["lsn"], int)
    assert out["target"] is None  # no flow runs in this test
    assert out["target_behind"] is True
    assert "target behind" in out["verdict"]
