"""The dataflows' Kafka input: Bytewax's ``KafkaSource`` emitting ``Origin`` records.

Bytewax's Kafka source wraps every message in a ``KafkaSourceMessage`` (headers, latency,
timestamp) that the decoder would only copy into an ``Origin``. At a drain of tens of
thousands of events a second that second object is a measurable share of the flow's CPU,
so each partition here builds the ``Origin`` straight from the consumer's message. All
else is Bytewax's: partition listing, resume offsets from recovery snapshots, end-of-topic
handling and the ``bytewax_kafka_consumer_lag`` gauge.

This reads private attributes of the connector's partition (its consumer, batch size, offset
and end-of-topic flag); bytewax is pinned (0.21.1) in pyproject.toml, and
``tests/integration/connectors/test_flow_source.py`` checks the parts relied on against a real broker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bytewax.connectors.kafka import KafkaSource, _KafkaSourcePartition
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition
from confluent_kafka import KafkaError as ConfluentKafkaError

from connectors import metrics
from connectors.debezium.envelope import Origin
from connectors.kafka.config import consumer_config

log = logging.getLogger(__name__)

# librdkafka's default on an offset it cannot find (topic recreated, retention passed, another cluster)
# is the END of the partition: everything in between would be skipped without a word. "error" hands the
# case to ``next_batch``, which counts it, logs it and resumes from the earliest retained offset.
OUT_OF_RANGE_CONFIG = {"auto.offset.reset": "error"}


@dataclass(frozen=True, slots=True)
class ConsumerError:
    """A consumer error of one message, in the stream next to the messages (never raised)."""

    error: str
    origin: Origin


Consumed = Origin | ConsumerError


class _OriginPartition(StatefulSourcePartition[Consumed, int | None]):
    """One Kafka partition: Bytewax's partition (consumer, offsets, lag gauge), read without its wrapper."""

    def __init__(self, kafka: _KafkaSourcePartition, flow: str = "") -> None:
        self._kafka = kafka
        self._consumer = kafka._consumer  # private attributes: see the module docstring
        self._batch_size: int = kafka._batch_size
        self._flow = flow

    def next_batch(self) -> list[Consumed]:
        kafka = self._kafka
        if kafka._eof:
            raise StopIteration
        msgs = self._consumer.consume(self._batch_size, 0.001)
        batch: list[Consumed] = []
        append = batch.append
        last_offset = None
        for msg in msgs:
            error = msg.error()
            if error is not None:
                if error.code() == ConfluentKafkaError._PARTITION_EOF:  # librdkafka's end-of-partition event
                    # Emit this batch; end at the next call (as Bytewax does).
                    kafka._eof = True
                    break
                if error.code() == ConfluentKafkaError._AUTO_OFFSET_RESET:
                    self._rewind(msg, str(error))
                    continue
                append(ConsumerError(str(error), _origin(msg)))
            else:  # the hot path: a consumed message always has its topic, partition and offset
                append(Origin(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value()))  # type: ignore[arg-type]
            last_offset = msg.offset()
        if last_offset is not None:
            kafka._offset = last_offset + 1  # resume after the last message, not at it
        return batch

    def _rewind(self, msg: Message, error: str) -> None:
        """The resume offset is out of range: never jump ahead, replay from the earliest retained offset."""
        topic, partition = msg.topic() or "", msg.partition() or 0
        metrics.OFFSET_RESETS.labels(self._flow, topic).inc()
        log.warning(
            "%s: resume offset %s of %s[%d] is out of range (%s); replaying from the earliest retained offset "
            "(the sink absorbs replays)",
            self._flow,
            self._kafka._offset,
            topic,
            partition,
            error,
        )
        self._consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])

    def snapshot(self) -> int | None:
        return self._kafka.snapshot()

    def close(self) -> None:
        self._kafka.close()


def _origin(msg: Message) -> Origin:
    offset = msg.offset()
    return Origin(msg.topic() or "", msg.partition() or 0, -1 if offset is None else offset, msg.key(), msg.value())


class OriginSource(FixedPartitionedSource[Consumed, int | None]):
    """Bytewax's ``KafkaSource`` with ``Origin`` (or ``ConsumerError``) items; never raises on errors."""

    def __init__(
        self,
        brokers: list[str],
        topics: list[str],
        *,
        add_config: dict[str, Any] | None = None,
        flow: str = "",
        **kwargs: Any,
    ) -> None:
        # Bytewax adds its own group.id, offsets and end-of-topic settings; the rest comes from our one builder.
        config = consumer_config(",".join(brokers), **{**(add_config or {}), **OUT_OF_RANGE_CONFIG})
        self._kafka = KafkaSource(brokers, topics, raise_on_errors=False, add_config=config, **kwargs)
        self._flow = flow

    def list_parts(self) -> list[str]:
        return self._kafka.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _OriginPartition:
        return _OriginPartition(self._kafka.build_part(step_id, for_part, resume_state), self._flow)
