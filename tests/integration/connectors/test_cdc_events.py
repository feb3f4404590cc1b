"""Debezium turns commits in both databases into change events on the catalog's topics."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import config as kafka_config
from connectors.kafka.partitioning import partition_for
from smartsync.core.catalog import Sync, load_catalog
from smartsync.devstack.localstack import StackState


def _consumer_at_end(stack: StackState, sync: Sync) -> Consumer:
    assert sync.topic is not None
    consumer = Consumer(
        kafka_config.consumer_config(
            stack.bootstrap, group_id=f"test-{random.random()}", **{"enable.auto.commit": False}
        )
    )
    parts = []
    for p in range(sync.topic.partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(sync.topic.name, p), timeout=10)
        parts.append(TopicPartition(sync.topic.name, p, high))
    consumer.assign(parts)
    return consumer


def _collect(
    consumer: Consumer, key: bytes, count: int, timeout: float = 30
) -> list[tuple[int, dict[str, Any] | None]]:
    found: list[tuple[int, dict[str, Any] | None]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error() or msg.key() != key:
            continue
        found.append((msg.partition(), json.loads(msg.value()) if msg.value() else None))
    consumer.close()
    return found


def _assert_insert_update_delete(events: list[tuple[int, dict[str, Any] | None]], key: bytes, partitions: int) -> None:
    assert len(events) == 4, events  # create, update, delete, tombstone
    assert {p for p, _ in events} == {partition_for(key, partitions)}
    create, update, delete, tombstone = (e for _, e in events)
    assert create is not None and update is not None and delete is not None
    assert (create["op"], update["op"], delete["op"]) == ("c", "u", "d")
    assert create["before"] is None and create["after"] is not None
    assert update["before"] is not None and update["after"] is not None
    assert delete["before"] is not None and delete["after"] is None
    assert tombstone is None
    lsns = [e["source"]["lsn"] for e in (create, update, delete)]
    assert all(isinstance(lsn, int) for lsn in lsns)
    assert lsns == sorted(lsns) and len(set(lsns)) == 3


def test_warehouse_changes_arrive_as_debezium_events(stack: StackState) -> None:
    sync = load_catalog().sync("application_decisions")
    assert sync.topic is not None
    app_id = random.randint(10**12, 10**13)
    consumer = _consumer_at_end(stack, sync)
    with psycopg.connect(stack.dsn(sync.source_database), autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {sync.source} (application_id, citizen_id, scheme_code, status) VALUES (%s, 7, "
            "'RJ-PEN-001', 'pending')",
            (app_id,),
        )
        conn.execute(
            f"UPDATE {sync.source} SET status = 'approved', decision = 'approved' WHERE application_id = %s", (app_id,)
        )
        conn.execute(f"DELETE FROM {sync.source} WHERE application_id = %s", (app_id,))
    key = json.dumps({"application_id": app_id}, separators=(",", ":")).encode()
    events = _collect(consumer, key, 4)
    _assert_insert_update_delete(events, key, sync.topic.partitions)
    update = events[1][1]
    assert update is not None
    assert update["before"]["status"] == "pending" and update["after"]["status"] == "approved"
    assert update["source"]["db"] == "smart_warehouse" and update["source"]["table"] == "applications"


def test_portal_changes_arrive_keyed_by_citizen(stack: StackState) -> None:
    sync = load_catalog().sync("profile_updates")
    assert sync.topic is not None
    citizen_id = random.randint(10**12, 10**13)
    consumer = _consumer_at_end(stack, sync)
    with psycopg.connect(stack.dsn(sync.source_database), autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {sync.source} (citizen_id, full_name, district_id, mobile) VALUES (%s, 'Asha Meena', 12, "
            "'9876543210')",
            (citizen_id,),
        )
        conn.execute(f"UPDATE {sync.source} SET mobile = '9123456780' WHERE citizen_id = %s", (citizen_id,))
        conn.execute(f"DELETE FROM {sync.source} WHERE citizen_id = %s", (citizen_id,))
    key = json.dumps({"citizen_id": citizen_id}, separators=(",", ":")).encode()
    events = _collect(consumer, key, 4)
    _assert_insert_update_delete(events, key, sync.topic.partitions)
    update = events[1][1]
    assert update is not None
    assert update["before"]["mobile"] == "9876543210" and update["after"]["mobile"] == "9123456780"


def test_eligibility_snapshots_are_partitioned_by_citizen_not_by_primary_key(stack: StackState) -> None:
    sync = load_catalog().sync("eligibility_hints")
    assert sync.topic is not None
    citizen_id = random.randint(10**12, 10**13)
    consumer = _consumer_at_end(stack, sync)
    with psycopg.connect(stack.dsn(sync.source_database), autocommit=True) as conn:
        for code in ("RJ-EDU-001", "RJ-HLT-002", "RJ-AGR-003"):
            conn.execute(
                f"INSERT INTO {sync.source} (citizen_id, scheme_code, eligibility_score, status) VALUES (%s, %s, "
                "0.5, 'eligible')",
                (citizen_id, code),
            )
        conn.execute(f"DELETE FROM {sync.source} WHERE citizen_id = %s", (citizen_id,))
    key = json.dumps({"citizen_id": citizen_id}, separators=(",", ":")).encode()
    events = _collect(consumer, key, 9)  # 3 creates, 3 deletes, 3 tombstones
    assert len(events) == 9
    assert {p for p, _ in events} == {partition_for(key, sync.topic.partitions)}
