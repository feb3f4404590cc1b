"""The flows' Kafka input against the real broker: every message once, in order, resumable from a snapshot."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from prometheus_client import REGISTRY

from connectors.debezium.envelope import Origin
from connectors.kafka import config as kafka_config
from connectors.kafka.source import Consumed, OriginSource


def _topic(bootstrap: str, partitions: int) -> str:
    name = f"smartsync.test.source.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka_config.admin_config(bootstrap))
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
    producer = Producer(kafka_config.client_config(kafka_bootstrap))
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


def test_the_consumer_lag_gauge_follows_what_the_flow_has_read(kafka_bootstrap: str) -> None:
    topic = _topic(kafka_bootstrap, 1)
    producer = Producer(kafka_config.client_config(kafka_bootstrap))
    for i in range(40):
        producer.produce(topic, key=b"k", value=f"v{i}".encode(), partition=0)
    assert producer.flush(30) == 0
    partition = OriginSource([kafka_bootstrap], [topic], tail=True, batch_size=1).build_part(
        "kafka_in", f"0-{topic}", 5
    )
    labels = {"step_id": "kafka_in", "topic": topic, "partition": "0"}
    read = 0
    try:
        deadline = time.monotonic() + 30
        # librdkafka reports statistics once a second, from inside consume(): read slowly until one arrives.
        while REGISTRY.get_sample_value("bytewax_kafka_consumer_lag", labels) is None and time.monotonic() < deadline:
            read += len(partition.next_batch())
            time.sleep(0.05)
        lag = REGISTRY.get_sample_value("bytewax_kafka_consumer_lag", labels)
    finally:
        partition.close()
    assert lag is not None, "no consumer lag reported"
    assert 0 < lag <= 40 - 5 - 1  # behind the end, by what this partition had not read when it was reported
    assert read < 35
