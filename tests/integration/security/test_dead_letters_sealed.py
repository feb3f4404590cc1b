"""Sealed dead letters on the real broker: no plaintext at rest, listing and replay open them."""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connectors.debezium.envelope import Origin
from connectors.kafka import config as kafka_config
from connectors.kafka import sealing
from connectors.kafka.dead_letters import DeadLetter, DeadLetterProducer, read_dead_letters, replay
from smartsync.core.catalog import Direction
from smartsync.devstack.localstack import StackState

PII = b'{"op":"c","after":{"citizen_id":42,"aadhaar_number":"234567890124","mobile":"9876543210"}}'


def _topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient(kafka_config.admin_config(bootstrap))
    for future in admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names]).values():
        future.result(30)


def _raw(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id=f"t-{uuid.uuid4()}"))
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        found = []
        while (record := consumer.poll(5)) is not None:
            if record.error() is None:
                found.append((record.key(), record.value()))
        return found
    finally:
        consumer.close()


def test_a_warehouse_to_citizen_dead_letter_is_sealed_at_rest_and_replays_in_clear(stack: StackState) -> None:
    bootstrap = stack.bootstrap
    dlq, source = f"t-dlq-{uuid.uuid4().hex[:8]}", f"t-src-{uuid.uuid4().hex[:8]}"
    _topics(bootstrap, dlq, source)
    ring = sealing.sealer_for(Direction.WAREHOUSE_TO_CITIZEN)  # the stack's env carries a local key
    assert ring is not None
    producer = DeadLetterProducer(bootstrap, dlq, "warehouse_to_citizen", sealer=ring, max_bytes=1_000_000)
    key = json.dumps({"citizen_id": 42}).encode()
    producer.send(
        [DeadLetter("type error: column 'x': expected an integer, got str of length 4", Origin(source, 0, 7, key, PII))]
    )
    producer.close()

    [(raw_key, raw_value)] = _raw(bootstrap, dlq)
    assert raw_value is not None and b"234567890124" not in raw_value and b"citizen_id" not in raw_value
    assert raw_key is not None and b"42" not in raw_key

    [letter] = list(read_dead_letters(bootstrap, dlq))
    assert letter.value == PII
    assert letter.key == key
    assert replay(bootstrap, [letter]) == 1
    assert _raw(bootstrap, source) == [(key, PII)]
