"""The dead-letter topics: dead letters produced with delivery checks, read back, replayed.

A dead letter keeps the original message as it was (key and value bytes) and says in its
headers why it failed and where it came from, so ``replay`` can put it back on its source
topic, on the same partition as Debezium would (Java's murmur2 partitioner), after a fix.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from connectors.debezium.envelope import Origin
from connectors.kafka import config as kafka_config
from smartsync.core.catalog import Catalog, Direction, Topic
from smartsync.core.errors import SourceError, TransientSinkError

log = logging.getLogger(__name__)

H_REASON = "smartsync.reason"
H_SYNC = "smartsync.sync"
H_TOPIC = "smartsync.source.topic"
H_PARTITION = "smartsync.source.partition"
H_OFFSET = "smartsync.source.offset"
H_FAILED_AT = "smartsync.failed_at"
H_FLOW = "smartsync.flow"
_MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the event path could not sync: why, and the original message (key and bytes)."""

    reason: str
    origin: Origin
    sync: str | None = None


def producer_config(bootstrap: str, client_id: str) -> dict[str, Any]:
    """Durable, ordered, and partitioned as Kafka's Java clients (and so Debezium) do."""
    return kafka_config.producer_config(
        bootstrap, client_id=client_id, **{"linger.ms": 5, "message.timeout.ms": 30_000}
    )


@dataclass
class _Deliveries:
    """Counts the broker's confirmations of a batch of produced messages."""

    confirmed: int = 0
    failures: list[str] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is None:
            self.confirmed += 1
        else:
            self.failures.append(str(err))


class DeadLetterProducer:
    """Sends dead letters to the direction's dead-letter topic and waits for the broker's confirmation."""

    def __init__(self, bootstrap: str, topic: str, flow: str, *, worker: int = 0, timeout_s: float = 35.0) -> None:
        self.topic = topic
        self.flow = flow
        self._timeout_s = timeout_s
        self._producer = Producer(producer_config(bootstrap, f"smartsync-{flow}-{worker}-dead-letters"))

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Produce every letter; raise ``TransientSinkError`` unless all were confirmed."""
        if not letters:
            return
        done = _Deliveries()
        now = datetime.now(UTC).isoformat()
        for letter in letters:
            origin = letter.origin
            headers: list[tuple[str, str | bytes | None]] = [
                (H_REASON, letter.reason[:_MAX_REASON].encode()),
                (H_SYNC, (letter.sync or "").encode()),
                (H_TOPIC, origin.topic.encode()),
                (H_PARTITION, str(origin.partition).encode()),
                (H_OFFSET, str(origin.offset).encode()),
                (H_FAILED_AT, now.encode()),
                (H_FLOW, self.flow.encode()),
            ]
            self._produce(origin.key, origin.value, headers, done.on_delivery)
        remaining = self._producer.flush(self._timeout_s)
        if done.failures or remaining or done.confirmed != len(letters):
            reason = done.failures[0] if done.failures else f"{remaining} not confirmed within {self._timeout_s:.0f}s"
            lost = len(letters) - done.confirmed
            msg = f"dead-letter topic {self.topic}: {lost} of {len(letters)} not delivered ({reason})"
            raise TransientSinkError(msg, hint="retrying; check that Kafka is up")

    def _produce(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, str | bytes | None]], cb: Any
    ) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, headers=headers, on_delivery=cb)
                return
            except BufferError:  # the local queue is full: let deliveries drain first
                self._producer.poll(0.5)

    def close(self) -> None:
        self._producer.flush(self._timeout_s)


# ── reading and replaying dead letters ──────────────────────────────────────────────────


@dataclass(frozen=True)
class StoredDeadLetter:
    offset: int
    reason: str
    sync: str
    source_topic: str
    source_partition: int
    source_offset: int
    failed_at: str
    key: bytes | None
    value: bytes | None


def _header_map(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers or []:
        out[k] = v.decode(errors="replace") if isinstance(v, bytes) else str(v or "")
    return out


def dead_letter_topic(catalog: Catalog, direction: Direction) -> Topic:
    return catalog.dead_letter_topics[direction]


def read_dead_letters(
    bootstrap: str, topic: str, *, from_offset: int | None = None, to_offset: int | None = None, timeout_s: float = 10.0
) -> Iterator[StoredDeadLetter]:
    """The dead letters of a topic (its single partition), oldest first, up to the end as of now."""
    options: dict[str, Any] = {"enable.auto.commit": False, "enable.partition.eof": True}
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-dead-letters-reader", **options))
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            msg = f"dead-letter topic {topic} not found"
            raise SourceError(msg, hint="start the stack (`smartsync stack up`) or create the catalog's topics")
        for partition in sorted(metadata.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
            start = max(low, from_offset if from_offset is not None else low)
            end = min(high, to_offset + 1 if to_offset is not None else high)
            if start >= end:
                continue
            consumer.assign([TopicPartition(topic, partition, start if start > 0 else OFFSET_BEGINNING)])
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                record = consumer.poll(0.5)
                if record is None:
                    continue
                error = record.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        break
                    continue
                offset = record.offset() or 0
                if offset >= end:
                    break
                h = _header_map(record.headers())
                yield StoredDeadLetter(
                    offset=offset,
                    reason=h.get(H_REASON, ""),
                    sync=h.get(H_SYNC, ""),
                    source_topic=h.get(H_TOPIC, ""),
                    source_partition=int(h.get(H_PARTITION, "-1") or -1),
                    source_offset=int(h.get(H_OFFSET, "-1") or -1),
                    failed_at=h.get(H_FAILED_AT, ""),
                    key=record.key(),
                    value=record.value(),
                )
                if offset + 1 >= end:
                    break
    finally:
        consumer.close()


def replay(bootstrap: str, letters: Sequence[StoredDeadLetter], *, timeout_s: float = 35.0) -> int:
    """Put dead letters back on their source topics (key and bytes unchanged); return how many were confirmed."""
    producer = Producer(producer_config(bootstrap, "smartsync-dead-letters-replay"))
    done = _Deliveries()
    for letter in letters:
        if not letter.source_topic:
            done.failures.append(f"dead letter at offset {letter.offset} has no source topic")
            continue
        producer.produce(letter.source_topic, value=letter.value, key=letter.key, on_delivery=done.on_delivery)
    producer.flush(timeout_s)
    if done.failures or done.confirmed != len(letters):
        failed = done.failures[0] if done.failures else "not all confirmed"
        msg = f"replayed {done.confirmed} of {len(letters)} dead letters ({failed})"
        raise TransientSinkError(msg, hint="check that Kafka is up and retry; a replay twice is harmless")
    return done.confirmed
