"""Writes accepted callbacks to Kafka and reports back only once the broker confirmed them.

confluent-kafka's delivery callback runs on a poll thread; it settles an asyncio future on the
event loop of the request that produced the message, so a request waits for its own write
without blocking the others. ``message.timeout.ms`` equals the acknowledgement timeout, so
librdkafka itself gives up on a message (broker down, topic gone) and reports it: a request
never waits longer than that plus a small grace, and never hangs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer

from connectors.callbacks.encoding import OutgoingMessage, topic_of
from connectors.kafka import config as kafka_config
from connectors.kafka import topics as kafka_topics
from smartsync.core.catalog import Catalog
from smartsync.core.errors import TransientSinkError

log = logging.getLogger(__name__)

# librdkafka checks message timeouts about once a second, so a report can come up to a
# second after message.timeout.ms; past this grace the request gives up on its own.
_GRACE_S = 1.5


class DeliveryError(TransientSinkError):
    """Kafka did not confirm a callback's write: the sender should retry (HTTP 503)."""


@dataclass(frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


class Delivery(Protocol):
    """Where accepted callbacks go; the Kafka producer, or a stand-in in unit tests."""

    def start(self) -> None: ...

    async def send(self, message: OutgoingMessage) -> Delivered: ...

    def close(self) -> None: ...

    def health(self) -> dict[str, str]: ...


def producer_config(bootstrap: str, ack_timeout_s: float, queue_limit: int = 20_000) -> dict[str, Any]:
    """The producer settings: durable, ordered per key, partitioned as Java clients do."""
    return kafka_config.producer_config(
        bootstrap,
        client_id="smartsync-callbacks",
        **{
            "linger.ms": 1,
            # Bounded: past this many unconfirmed messages a callback gets 503 instead of memory growing.
            "queue.buffering.max.messages": queue_limit,
            "message.timeout.ms": int(ack_timeout_s * 1000),
            # A missing topic must fail, not be auto-created with the broker's default partition count.
            "allow.auto.create.topics": False,
            "reconnect.backoff.max.ms": 1000,
            # librdkafka logs every failed reconnect; error_cb reports what matters, once per outage.
            "log_level": 2,
        },
    )


class KafkaDelivery:
    """A confluent-kafka producer with a poll thread; nothing connects before ``start()``."""

    def __init__(self, bootstrap: str, *, ack_timeout_s: float, queue_limit: int = 20_000) -> None:
        self.ack_timeout_s = ack_timeout_s
        self._config = producer_config(bootstrap, ack_timeout_s, queue_limit)
        self._producer: Producer | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._brokers = "unknown"
        self._fatal: str | None = None

    def start(self) -> None:
        self._producer = Producer({**self._config, "error_cb": self._on_error, "logger": log})
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="callbacks-kafka-poll", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        producer = self._producer
        while producer is not None and not self._stop.is_set():
            producer.poll(0.1)

    def _on_error(self, err: KafkaError) -> None:
        # Runs on the poll thread. Connection errors repeat on every reconnect: log transitions only.
        if err.fatal():
            self._fatal = err.str()
            log.error("Kafka producer fatal error: %s", err.str())
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            if self._brokers != "down":
                log.warning("Kafka unreachable (%s): callbacks get 503 until it answers", err.str())
            self._brokers = "down"
        elif err.code() != KafkaError._TRANSPORT:
            log.info("Kafka: %s", err.str())

    def _on_delivered(self) -> None:
        if self._brokers == "down":
            log.info("Kafka reachable again")
        self._brokers = "up"

    def _on_failed(self, err: KafkaError) -> None:
        # A broker that accepts connections but does not answer shows up only as timed-out writes.
        if err.code() == KafkaError._MSG_TIMED_OUT or err.retriable():
            self._brokers = "down"

    async def send(self, message: OutgoingMessage) -> Delivered:
        producer = self._producer
        if producer is None:
            msg = "the Kafka producer is not started"
            raise DeliveryError(msg, hint="create_app's lifespan starts it")
        if self._fatal is not None:
            msg = f"the Kafka producer hit a fatal error: {self._fatal}"
            raise DeliveryError(msg, hint="restart the callback service")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivered] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            # Runs on the poll thread: hand the outcome to the request's event loop.
            if err is None:
                self._on_delivered()
                outcome: Delivered | DeliveryError = Delivered(msg.topic(), msg.partition(), msg.offset())
            else:
                self._on_failed(err)
                outcome = DeliveryError(
                    f"Kafka did not confirm the write to {message.topic}: {err.str()}",
                    hint="the broker is unreachable or refused it; retry later",
                )
            loop.call_soon_threadsafe(_settle, future, outcome)

        try:
            producer.produce(message.topic, value=message.value, key=message.key, on_delivery=on_delivery)
        except BufferError:
            msg = f"the producer queue is full, nothing was written to {message.topic}"
            raise DeliveryError(msg, hint="retry later") from None
        except KafkaException as exc:
            msg = f"could not produce to {message.topic}: {exc.args[0]}"
            raise DeliveryError(msg, hint="retry later") from None
        try:
            return await asyncio.wait_for(future, timeout=self.ack_timeout_s + _GRACE_S)
        except TimeoutError:
            msg = f"no delivery report from Kafka for {message.topic} within {self.ack_timeout_s + _GRACE_S:.1f}s"
            raise DeliveryError(msg, hint="retry later") from None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._producer is not None:
            # Writes still in flight get their reports (and their requests an answer) if they can.
            self._producer.flush(self.ack_timeout_s)
            self._producer = None

    def health(self) -> dict[str, str]:
        if self._fatal is not None:
            return {"kafka": "fatal", "reason": self._fatal}
        return {"kafka": self._brokers}


def _settle(future: asyncio.Future[Delivered], outcome: Delivered | DeliveryError) -> None:
    if future.done():  # the request gave up (timeout, client gone)
        return
    if isinstance(outcome, Delivered):
        future.set_result(outcome)
    else:
        future.set_exception(outcome)


def check_topics(bootstrap: str, catalog: Catalog, sync_names: list[str], timeout_s: float = 5.0) -> str | None:
    """Refuse to serve into a missing topic or one with fewer partitions than the catalog says.

    Returns a warning when the broker does not answer: the service starts and answers 503 until it does.
    """
    topics = [topic_of(catalog.sync(name)) for name in sync_names]
    try:
        kafka_topics.check_topics(
            bootstrap,
            topics,
            owners={t.name: name for t, name in zip(topics, sync_names, strict=True)},
            hint="create the catalog's topics (`smartsync stack up` does it locally); "
            "a short topic would put callbacks on other partitions than the flows expect",
            timeout_s=timeout_s,
        )
    except kafka_topics.KafkaUnreachableError as exc:
        return f"Kafka at {bootstrap} did not answer ({exc.reason}); callbacks get 503 until it does"
    return None
