"""The flows' Kafka input against the real broker: every message once, in order, resumable from a snapshot."""

from __future__ import annotations

import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from connectors.debezium import Origin
from dataflows.source import Consumed, OriginSource


def _topic(bootstrap: str, partitions: int) -> str:
    name = f"smartsync.test.source.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)
    return name


def _drain(source: OriginSource, part: str, resume: int | None) -> tuple[list[Consumed], int | None]:
    partition = source.build_part("kafka_in", part, resume)
    got: list[Consumed] = []
    try:
        while True:
            try:
                got.extend(partition.next_batch())
            except StopIteration:
                return got, partition.snapshot()
    finally:
        partition.close()


def test_origins_carry_topic_partition_offset_key_and_bytes(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap, 2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(50):
        producer.produce(topic, key=f"k{i}".encode(), value=None if i == 8 else f"v{i}".encode(), partition=i % 2)
    assert producer.flush(30) == 0

    source = OriginSource([kafka_bootstrap], [topic], tail=False, batch_size=8)
    assert sorted(source.list_parts()) == [f"0-{topic}", f"1-{topic}"]
    got, snapshot = _drain(source, f"1-{topic}", None)
    assert got == [Origin(topic, 1, n, f"k{2 * n + 1}".encode(), f"v{2 * n + 1}".encode()) for n in range(25)]
    assert snapshot == 25  # the next offset to read

    first, _ = _drain(source, f"0-{topic}", None)
    assert [o.offset for o in first if isinstance(o, Origin)] == list(range(25))
    assert next(o for o in first if isinstance(o, Origin) and o.key == b"k8").value is None  # a tombstone stays

    # Resuming from a snapshot reads only what came after it.
    producer.produce(topic, key=b"late", value=b"late", partition=1)
    assert producer.flush(30) == 0
    rest, snapshot = _drain(source, f"1-{topic}", 25)
    assert rest == [Origin(topic, 1, 25, b"late", b"late")]
    assert snapshot == 26
