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

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]

from connectors.debezium.envelope import Origin
from connectors.kafka import config as kafka_config
from connectors.kafka import sealing
from connectors.kafka.sealing import H_KEY_ID, Keyring
from smartsync.core.catalog import Catalog, Direction, Topic
from smartsync.core.errors import ConfigurationError, SinkError, SourceError, TransientSinkError

log = logging.getLogger(__name__)

H_REASON = "smartsync.reason"
H_SYNC = "smartsync.sync"
H_TOPIC = "smartsync.source.topic"
H_PARTITION = "smartsync.source.partition"
H_OFFSET = "smartsync.source.offset"
H_FAILED_AT = "smartsync.failed_at"
H_FLOW = "smartsync.flow"
H_TRUNCATED = "smartsync.truncated_from"  # the original value's size in bytes; the value holds its head only
_MAX_REASON = 2000
# The producer's own limit (librdkafka's message.max.bytes default); the topic's max.message.bytes may be lower.
PRODUCER_MAX_BYTES = 1_000_000
_OVERHEAD = 1024  # record and batch framing, with room to spare
# Delivery errors the broker will give the same answer to forever: retrying them would stall the flow silently.
# (Delivery reports never mark errors retriable, so the codes are listed.)
_NEVER_ACCEPTED = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.INVALID_REQUIRED_ACKS,
    }
)


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


def topic_max_bytes(bootstrap: str, topic: str, *, timeout_s: float = 15.0) -> int:
    """The largest message the topic takes (its ``max.message.bytes``, capped by the producer's own limit)."""
    admin = AdminClient(kafka_config.admin_config(bootstrap, client_id="smartsync-dead-letters-limit"))
    resource = ConfigResource(ResourceType.TOPIC, topic)
    try:
        entries = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
        value = int(entries["max.message.bytes"].value)
    except Exception as exc:  # noqa: BLE001 — any failure: one line naming the topic
        msg = f"cannot read max.message.bytes of dead-letter topic {topic}: {exc}"
        raise SourceError(msg, hint="check that Kafka is up and the topic exists (`smartsync stack up`)") from None
    return min(value, PRODUCER_MAX_BYTES)


def fit(
    key: bytes | None, value: bytes | None, headers: list[tuple[str, str | bytes | None]], limit: int
) -> tuple[bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]:
    """Key, value and headers within ``limit`` bytes: an oversized value keeps its head and says its size.

    The headers already point at the original (source topic, partition, offset), readable there while
    the topic retains it.
    """
    header_bytes = sum(len(k) + len(v or b"") + 8 for k, v in headers)
    budget = limit - _OVERHEAD - header_bytes - 64  # 64: the truncation header itself
    size = len(key or b"") + len(value or b"")
    if size <= budget + 64:
        return key, value, headers
    key = None if key is None else key[: max(0, budget // 8)]
    kept = max(0, budget - len(key or b""))
    return key, (value or b"")[:kept], [*headers, (H_TRUNCATED, str(len(value or b"")).encode())]


@dataclass
class _Deliveries:
    """Counts the broker's confirmations of a batch of produced messages."""

    confirmed: int = 0
    failures: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # errors that no retry will change

    def on_delivery(self, err: KafkaError | None, _msg: Any) -> None:
        if err is None:
            self.confirmed += 1
        elif err.fatal() or err.code() in _NEVER_ACCEPTED:
            self.refused.append(str(err))
        else:
            self.failures.append(str(err))


class DeadLetterProducer:
    """Sends dead letters to the direction's dead-letter topic and waits for the broker's confirmation."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        flow: str,
        *,
        worker: int = 0,
        timeout_s: float = 35.0,
        max_bytes: int | None = None,
        sealer: Keyring | None = None,
    ) -> None:
        self.topic = topic
        self.flow = flow
        self._sealer = sealer  # set: key and value are sealed at rest (connectors/kafka/sealing.py)
        self._timeout_s = timeout_s
        self.max_bytes = topic_max_bytes(bootstrap, topic) if max_bytes is None else max_bytes
        # The broker checks its limit against a whole record batch: keep batches within it too.
        config = {**producer_config(bootstrap, f"smartsync-{flow}-{worker}-dead-letters"), "batch.size": self.max_bytes}
        self._producer = Producer(config)

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Produce every letter (truncated to the topic's limit); raise ``TransientSinkError`` unless all
        were confirmed, or a terminal ``SinkError`` when the broker refuses one for good."""
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
            key, value, headers = fit(origin.key, origin.value, headers, self.max_bytes - (128 if self._sealer else 0))
            if self._sealer is not None:
                key, value = self._sealer.seal("key", key), self._sealer.seal("value", value)
                headers.append((H_KEY_ID, self._sealer.current.encode()))
            self._produce(key, value, headers, done.on_delivery)
        remaining = self._producer.flush(self._timeout_s)
        if done.refused:
            msg = f"dead-letter topic {self.topic} refused a dead letter for good ({done.refused[0]})"
            raise SinkError(msg, hint="fix the topic (size limit, ACLs), then start the flow again: it resumes there")
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
            except KafkaException as exc:  # refused before sending (e.g. larger than the producer's limit)
                msg = f"dead-letter topic {self.topic} refused a dead letter for good ({exc.args[0]})"
                raise SinkError(msg, hint="fix the topic or the producer's limits, then start the flow again") from None

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
    truncated_from: int | None = None  # the original value's size when only its head was kept


def _header_map(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers or []:
        out[k] = v.decode(errors="replace") if isinstance(v, bytes) else str(v or "")
    return out


def dead_letter_topic(catalog: Catalog, direction: Direction) -> Topic:
    return catalog.dead_letter_topics[direction]


def _topic_metadata(consumer: Consumer, bootstrap: str, topic: str, timeout_s: float) -> Any:
    """The topic's metadata; an unreachable cluster or a missing topic is one line saying what to check."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    except KafkaException as exc:
        msg = f"Kafka at {bootstrap} did not answer within {timeout_s:g}s ({exc.args[0].str()})"
        raise SourceError(msg, hint="check SMARTSYNC_KAFKA_BOOTSTRAP and that the brokers are up") from None
    if metadata is None or metadata.error is not None:
        msg = f"dead-letter topic {topic} not found"
        raise SourceError(msg, hint="start the stack (`smartsync stack up`) or create the catalog's topics")
    return metadata


def read_dead_letters(
    bootstrap: str, topic: str, *, from_offset: int | None = None, to_offset: int | None = None, timeout_s: float = 10.0
) -> Iterator[StoredDeadLetter]:
    """The dead letters of a topic (its single partition), oldest first, up to the end as of now."""
    options: dict[str, Any] = {"enable.auto.commit": False, "enable.partition.eof": True}
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-dead-letters-reader", **options))
    try:
        metadata = _topic_metadata(consumer, bootstrap, topic, timeout_s)
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
                    key=_opened(h, "key", record.key()),
                    value=_opened(h, "value", record.value()),
                    truncated_from=int(h[H_TRUNCATED]) if h.get(H_TRUNCATED, "").isdigit() else None,
                )
                if offset + 1 >= end:
                    break
    finally:
        consumer.close()


def _opened(headers: dict[str, str], part: str, data: bytes | None) -> bytes | None:
    """A sealed letter's original bytes (replay and listing need them); others as they are."""
    key_id = headers.get(H_KEY_ID)
    if not key_id:
        return data
    ring = sealing.keyring()
    if ring is None:
        msg = f"dead letters here are sealed: setting {sealing.KEYS_VAR} is required to read them"
        raise ConfigurationError(msg, hint="export the flow's dead-letter keys")
    return ring.open(key_id, part, data)


def replay(bootstrap: str, letters: Sequence[StoredDeadLetter], *, timeout_s: float = 35.0) -> int:
    """Put dead letters back on their source topics (key and bytes unchanged); return how many were confirmed."""
    producer = Producer(producer_config(bootstrap, "smartsync-dead-letters-replay"))
    done = _Deliveries()
    for letter in letters:
        if not letter.source_topic:
            done.failures.append(f"dead letter at offset {letter.offset} has no source topic")
            continue
        if letter.truncated_from is not None:  # only its head is here: the original is on the source topic
            where = f"{letter.source_topic}/{letter.source_partition}@{letter.source_offset}"
            done.failures.append(f"dead letter at offset {letter.offset} was truncated; its original is at {where}")
            continue
        producer.produce(letter.source_topic, value=letter.value, key=letter.key, on_delivery=done.on_delivery)
    producer.flush(timeout_s)
    if done.failures or done.confirmed != len(letters):
        failed = done.failures[0] if done.failures else "not all confirmed"
        msg = f"replayed {done.confirmed} of {len(letters)} dead letters ({failed})"
        raise TransientSinkError(msg, hint="check that Kafka is up and retry; a replay twice is harmless")
    return done.confirmed
