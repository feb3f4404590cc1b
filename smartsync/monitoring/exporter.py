"""``smartsync monitor``: measures from outside what the flows cannot report about themselves.

A hung flow, a failed connector or an unreachable broker produce no latency samples, so the
lag is measured here, from Kafka and the targets, every ``interval`` seconds:

- ``smartsync_sync_lag_seconds{sync}``: the age of the oldest change that has reached Kafka but
  not the target. Bytewax commits no offsets to Kafka (they live in its recovery snapshots, on
  the flow pods' own volumes), so the monitor compares what is on Kafka with what the target
  holds: every target row carries the source position of the change that wrote it
  (``_source_lsn``). For each partition the monitor decodes the messages that arrived since its
  last look, oldest first, with the flows' own decoder, and finds the first change whose key the
  target does not have at that position or later (for a delete: a row still there, older).
  That change is the partition's marker; the lag is its age (its Kafka timestamp) until the
  target has it, then the partition is checked again from there. A frozen flow therefore
  passes 60 s within 60 s plus one poll interval (15 s) of its first undelivered change.
  Changes that write no row (unchanged updates, dead letters, top-N evaluations that do not
  rank) are not markers: they prove nothing either way. Only the last ``WINDOW`` messages of
  a partition are read per poll, so under a backlog the marker may be younger than the
  oldest undelivered change: the lag is then a lower bound, and the offset lag shows the rest.
- ``smartsync_kafka_offset_lag{topic,partition}``: messages from the marker to the end.
- connectors and tasks from the Kafka Connect REST API; replication slots from
  ``pg_replication_slots`` (retained WAL from ``restart_lsn``, unconfirmed from
  ``confirmed_flush_lsn``).
- ``smartsync_monitor_check_up{check}``: 0 when a system could not be reached; its gauges keep
  no stale value (they are removed), so the failure alerts instead of looking healthy.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from psycopg import sql

from connectors.debezium.connector import CONNECTOR_NAMES, slot_name
from connectors.debezium.envelope import Origin
from connectors.kafka.config import consumer_config
from connectors.postgres.writer import TargetChange
from dataflows.decode import SyncDecoder
from smartsync.core.catalog import Catalog
from smartsync.core.settings import Settings
from smartsync.core.tables import Database
from smartsync.monitoring import exporter_metrics as m

log = logging.getLogger(__name__)

WINDOW = 50  # messages read per partition and poll, at most
_KAFKA_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Marker:
    """The oldest change seen on a partition that its target did not have."""

    offset: int
    kafka_ts: float  # seconds; when the change reached Kafka
    change: TargetChange


@dataclass
class PartitionState:
    checked: int = -1  # messages before this offset were delivered or prove nothing
    marker: Marker | None = None


def partition_lag(state: PartitionState, high: int, now: float) -> tuple[float, int]:
    """(seconds, messages) a partition is behind, from its marker and end offset."""
    if state.marker is None:
        return 0.0, 0
    return max(0.0, now - state.marker.kafka_ts), max(0, high - state.marker.offset)


def delivered(change: TargetChange, stored_position: int | None) -> bool:
    """Whether the target has this change (or a newer one of the same key)."""
    if change.change.row is None:  # a delete: delivered once no older row is left
        return stored_position is None or stored_position >= change.change.position
    return stored_position is not None and stored_position >= change.change.position


class TargetPositions:
    """The ``_source_lsn`` of target rows by key (the positions the sinks store with each row)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._conns: dict[Database, psycopg.Connection[Any]] = {}

    def _conn(self, database: Database) -> psycopg.Connection[Any]:
        conn = self._conns.get(database)
        if conn is None or conn.closed:
            conn = psycopg.connect(self._settings.dsn(database), autocommit=True, connect_timeout=5)
            self._conns[database] = conn
        return conn

    def position(self, decoder: SyncDecoder, key: tuple[Any, ...]) -> int | None:
        table = decoder.target
        schema, name = table.qualified_name.split(".", 1)
        query = sql.SQL("SELECT _source_lsn FROM {t} WHERE ({k}) = ({v})").format(
            t=sql.Identifier(schema, name),
            k=sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key),
            v=sql.SQL(", ").join(sql.Placeholder() * len(key)),
        )
        row = self._conn(decoder.sync.target_database).execute(query, key).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()


@dataclass
class SyncLag:
    """The lag of every event sync, measured from Kafka and the targets."""

    catalog: Catalog
    consumer: Any  # confluent_kafka.Consumer (assign-only, never commits)
    targets: TargetPositions
    states: dict[tuple[str, int], PartitionState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.decoders = {s.name: SyncDecoder(s) for s in self.catalog.event_syncs() if s.topic is not None}

    def measure(self, now: float) -> tuple[dict[str, float], dict[tuple[str, int], int]]:
        """Lag in seconds per sync and in messages per partition."""
        lags: dict[str, float] = {}
        offsets: dict[tuple[str, int], int] = {}
        for name, decoder in self.decoders.items():
            topic = decoder.sync.topic
            assert topic is not None  # noqa: S101 — only syncs with a topic have a decoder
            worst = 0.0
            for partition in range(topic.partitions):
                high = self._advance(decoder, topic.name, partition)
                seconds, messages = partition_lag(self.states[(topic.name, partition)], high, now)
                worst = max(worst, seconds)
                offsets[(topic.name, partition)] = messages
            lags[name] = worst
        return lags, offsets

    def _advance(self, decoder: SyncDecoder, topic: str, partition: int) -> int:
        state = self.states.setdefault((topic, partition), PartitionState())
        low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=_KAFKA_TIMEOUT_S)
        if state.marker is not None:
            if not self._delivered(decoder, state.marker.change):
                return int(high)
            state.checked, state.marker = state.marker.offset + 1, None
        start = max(state.checked, low, high - WINDOW)
        if start >= high:
            state.checked = max(state.checked, high)
            return int(high)
        for offset, kafka_ts, change in self._changes(decoder, topic, partition, start, high):
            if not self._delivered(decoder, change):
                state.marker = Marker(offset, kafka_ts, change)
                return int(high)
        state.checked = high
        return int(high)

    def _delivered(self, decoder: SyncDecoder, change: TargetChange) -> bool:
        return delivered(change, self.targets.position(decoder, change.change.key))

    def _changes(
        self, decoder: SyncDecoder, topic: str, partition: int, start: int, end: int
    ) -> Iterable[tuple[int, float, TargetChange]]:
        """The target changes among the messages [start, end), oldest first."""
        self.consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + _KAFKA_TIMEOUT_S
        offset = start
        while offset < end and time.monotonic() < deadline:
            for msg in self.consumer.consume(num_messages=min(500, end - offset), timeout=1.0):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        return  # the end (offsets of transaction markers are never delivered)
                    raise KafkaException(msg.error())
                offset = msg.offset() + 1
                origin = Origin(topic, partition, msg.offset(), msg.key(), msg.value())
                _, ts_ms = msg.timestamp()
                for item in decoder.decode(origin):
                    if isinstance(item, TargetChange):
                        yield msg.offset(), ts_ms / 1000.0, item
                        break


def connector_states(connect_url: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``GET /connectors/NAME/status`` of each connector; a missing one reads as not running."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        url = f"{connect_url.rstrip('/')}/connectors/{name}/status"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 — the configured Connect URL
                out[name] = json.load(resp)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
            out[name] = {"connector": {"state": "MISSING"}, "tasks": []}
    return out


SLOT_SQL = """
SELECT slot_name, active,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
FROM pg_replication_slots WHERE slot_name = %s
"""


def slot_states(dsn: str, slot: str) -> tuple[bool, int, int] | None:
    """(active, retained bytes, unconfirmed bytes) of a slot, None when it does not exist."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(SLOT_SQL, (slot,)).fetchone()
    return None if row is None else (bool(row[1]), int(row[2] or 0), int(row[3] or 0))


@dataclass
class Monitor:
    catalog: Catalog
    settings: Settings
    clock: Callable[[], float] = time.time
    _lag: SyncLag | None = None

    def _sync_lag(self) -> SyncLag:
        if self._lag is None:
            config = consumer_config(
                self.settings.kafka_bootstrap,
                group_id="smartsync-monitor",  # never joined or committed: partitions are assigned
                client_id="smartsync-monitor",
                **{"enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 50},
            )
            self._lag = SyncLag(self.catalog, Consumer(config), TargetPositions(self.settings))
        return self._lag

    def _check(self, name: str, probe: Callable[[], None], gauges: Iterable[Any] = ()) -> None:
        try:
            probe()
        except Exception as exc:  # noqa: BLE001 — any failure of a look is the alert itself
            log.warning("monitor: %s unreachable: %s", name, type(exc).__name__)
            m.CHECK_UP.labels(name).set(0)
            for gauge in gauges:
                gauge.clear()  # no stale values: what is unknown must not look healthy
            if name == "sync_lag" and self._lag is not None:
                self._lag.consumer.close()
                self._lag = None
            return
        m.CHECK_UP.labels(name).set(1)

    def poll(self) -> None:
        self._check("sync_lag", self._poll_kafka, (m.SYNC_LAG, m.OFFSET_LAG))
        if self.settings.connect_url:
            self._check("connect", self._poll_connect, (m.CONNECTOR_RUNNING, m.TASK_RUNNING))
        for database in Database:
            self._check(database.value, lambda db=database: self._poll_slot(db))  # type: ignore[misc]

    def _poll_kafka(self) -> None:
        lags, offsets = self._sync_lag().measure(self.clock())
        for sync, seconds in lags.items():
            m.SYNC_LAG.labels(sync).set(seconds)
        for (topic, partition), messages in offsets.items():
            m.OFFSET_LAG.labels(topic, str(partition)).set(messages)

    def _poll_connect(self) -> None:
        states = connector_states(self.settings.connect_url, CONNECTOR_NAMES.values())
        for name, status in states.items():
            m.CONNECTOR_RUNNING.labels(name).set(int(status["connector"]["state"] == "RUNNING"))
            for task in status.get("tasks", []):
                m.TASK_RUNNING.labels(name, str(task["id"])).set(int(task["state"] == "RUNNING"))

    def _poll_slot(self, database: Database) -> None:
        slot = slot_name(database, self.catalog)
        state = slot_states(self.settings.dsn(database), slot)
        if state is None:
            m.SLOT_ACTIVE.labels(database.value, slot).set(0)
            return
        active, retained, unconfirmed = state
        m.SLOT_ACTIVE.labels(database.value, slot).set(int(active))
        m.SLOT_RETAINED.labels(database.value, slot).set(retained)
        m.SLOT_CONFIRMED_LAG.labels(database.value, slot).set(unconfirmed)

    def close(self) -> None:
        if self._lag is not None:
            self._lag.consumer.close()
            self._lag.targets.close()
