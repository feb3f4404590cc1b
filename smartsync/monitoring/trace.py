"""``smartsync trace``: one record followed through the system, for the support desk.

"The citizen says the portal is stale": the source row (masked by the sync's rules, never in
clear) and its last change time, the newest change event for its key on Kafka (found on the one
partition Debezium keys it to), the dead letters for that key, the target row as the portal sees
it, and the lag between them. The pure parts (keys, masking, the verdict) are plain functions;
the reads (PostgreSQL, Kafka) are at the edges.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import BaseModel, ConfigDict

from connectors.kafka import config as kafka_config
from connectors.kafka.dead_letters import read_dead_letters
from connectors.kafka.partitioning import partition_for
from masking import mask_value
from masking.policy import mask_row
from smartsync.core.catalog import Catalog, MaskRule, Sync
from smartsync.core.errors import ConfigurationError, SmartSyncError
from smartsync.core.settings import Settings
from smartsync.core.tables import SCHEMA

SCAN_OFFSETS = 50_000  # how far back one partition (and the dead-letter topic) is searched
_WINDOW = 10_000  # offsets read per step of the backward scan
_INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
_CHANGE_COLUMNS = ("updated_at", "modified_at", "changed_at", "created_at")
_KAFKA_HINT = "check SMARTSYNC_KAFKA_BOOTSTRAP and that the brokers are up (`smartsync doctor`)"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SourceRow(_Frozen):
    columns: dict[str, str | None]  # masked by the sync's rules
    changed_at: str | None  # the row's own change time column, when it has one


class KafkaEvent(_Frozen):
    topic: str
    partition: int
    offset: int
    op: str | None  # c/u/d/r; None for a tombstone
    lsn: int | None
    at: str | None  # the source commit time Debezium reports


class DeadLetters(_Frozen):
    topic: str
    count: int
    newest_reason: str | None
    newest_at: str | None
    unreadable: str | None = None  # why the topic could not be read (e.g. sealed letters without keys)


class TargetRow(_Frozen):
    columns: dict[str, str | None]
    source_lsn: int | None
    source_ts: str | None
    synced_at: str | None


class Trace(_Frozen):
    sync: str
    direction: str
    key: dict[str, str]
    topic: str
    partition: int
    scanned_offsets: int
    source: SourceRow | None
    event: KafkaEvent | None
    dead_letters: DeadLetters
    target: TargetRow | None
    lag_seconds: float | None  # source change time → target sync time
    target_behind: bool
    verdict: str


# ── pure parts ──────────────────────────────────────────────────────────────────────────


def parse_key(sync: Sync, raw: str) -> dict[str, Any]:
    """``--key`` as the sync's key columns (``a,b`` in key order for a composite key), typed as the source has them."""
    parts = [p.strip() for p in raw.split(",")] if len(sync.key) > 1 else [raw.strip()]
    if len(parts) != len(sync.key) or not all(parts):
        msg = (
            f"sync {sync.name} is keyed by {','.join(sync.key)}: give --key with {len(sync.key)} value(s) in that order"
        )
        raise ConfigurationError(msg, hint="e.g. --key " + ",".join(f"<{c}>" for c in sync.key))
    table = SCHEMA.table(sync.source_database, sync.source)
    out: dict[str, Any] = {}
    for target_column, value in zip(sync.key, parts, strict=True):
        source_column = sync.columns[target_column].source or target_column
        if table.column(source_column).sql_type in _INTEGER_TYPES:
            if not value.lstrip("-").isdigit():
                msg = f"key {target_column} is an integer; got a value that is not"
                raise ConfigurationError(msg, hint="give the number as stored")
            out[source_column] = int(value)
        else:
            out[source_column] = value
    return out


def message_key(sync: Sync, key: Mapping[str, Any]) -> bytes:
    """The Kafka message key Debezium writes for this row: compact JSON of the topic's key columns."""
    if sync.topic is None:
        msg = f"sync {sync.name} has no change-event topic (batch only): nothing to trace on Kafka"
        raise ConfigurationError(msg, hint="use `smartsync reconcile diff --table` for batch syncs")
    missing = [c for c in sync.topic.key_columns if c not in key]
    if missing:
        msg = f"sync {sync.name}'s topic is keyed by {','.join(missing)}, which --key does not give"
        raise ConfigurationError(msg, hint="trace by the topic's key columns")
    return json.dumps({c: key[c] for c in sync.topic.key_columns}, separators=(",", ":")).encode()


def portal_rules(catalog: Catalog) -> dict[str, MaskRule]:
    """Column name → the mask the portal applies to it (from the citizen-bound syncs' rules)."""
    rules: dict[str, MaskRule] = {}
    for sync in catalog.syncs:
        if sync.citizen_bound:
            rules.update({c: r for c, r in sync.masks().items() if r is not MaskRule.CLEAR})
    return rules


def masked(sync: Sync, row: Mapping[str, object], portal: Mapping[str, MaskRule]) -> dict[str, str | None]:
    """A sync's columns of a row (by target name), masked by the sync's rules, as text.

    Syncs into the warehouse declare no masks (it holds personal data in clear); the support desk still sees those
    columns masked, by the rule the portal uses for a column of that name.
    """
    mapped = {t: row.get(c.source or t) for t, c in sync.columns.items() if (c.source or t) in row}
    if sync.citizen_bound:
        out = mask_row(sync, mapped)
    else:
        out = {t: mask_value(portal.get(t, MaskRule.CLEAR), v) for t, v in mapped.items()}
    return {k: None if v is None else str(v) for k, v in out.items()}


def _iso(value: object) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def assess(
    source: SourceRow | None, event: KafkaEvent | None, target: TargetRow | None
) -> tuple[float | None, bool, str]:
    """(lag in seconds, whether the target is behind, one sentence for the support desk)."""
    changed = _parse_time(source.changed_at) if source else (_parse_time(event.at) if event else None)
    synced = _parse_time(target.synced_at) if target else None
    lag = (synced - changed).total_seconds() if changed and synced else None
    if event is not None and event.lsn is not None and (target is None or (target.source_lsn or 0) < event.lsn):
        shown = "absent" if target is None else str(target.source_lsn)
        return lag, True, f"target behind: last event position {event.lsn} > target _source_lsn {shown}"
    if source is not None and target is None:
        return lag, True, "target behind: the source row is not in the target yet (no event found in the scan)"
    if source is None and target is not None and (event is None or event.op != "d"):
        return lag, True, "target behind: the row is gone from the source but still in the target"
    if source is None and target is None:
        return lag, False, "no such row on either side"
    return lag, False, "in sync: the target holds the last change event"


def event_of(topic: str, partition: int, offset: int, value: bytes | None) -> KafkaEvent:
    """The parts of a Debezium change event the support desk needs (no row data)."""
    if value is None:
        return KafkaEvent(topic=topic, partition=partition, offset=offset, op=None, lsn=None, at=None)
    body = json.loads(value)
    payload = body.get("payload", body) if isinstance(body, dict) else {}
    src = payload.get("source") or {}
    ts_ms = src.get("ts_ms")
    at = datetime.fromtimestamp(ts_ms / 1000, UTC).isoformat() if isinstance(ts_ms, int) else None
    lsn = src.get("lsn")
    return KafkaEvent(
        topic=topic,
        partition=partition,
        offset=offset,
        op=payload.get("op"),
        lsn=lsn if isinstance(lsn, int) else None,
        at=at,
    )


# ── reads ───────────────────────────────────────────────────────────────────────────────


def _where(key: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    return " AND ".join(f'"{c}" = %s' for c in key), tuple(key.values())


def _quoted(table: str) -> str:
    return ".".join(f'"{p}"' for p in table.split("."))


def _read_row(dsn: str, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    where, params = _where(key)
    with psycopg.connect(dsn, connect_timeout=10) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {_quoted(table)} WHERE {where} LIMIT 1", params)
        found = cur.fetchone()
        if found is None:
            return None
        return dict(zip([d.name for d in cur.description or ()], found, strict=True))


def read_source(
    settings: Settings, sync: Sync, key: Mapping[str, Any], portal: Mapping[str, MaskRule]
) -> SourceRow | None:
    row = _read_row(settings.dsn(sync.source_database), sync.source, key)
    if row is None:
        return None
    changed = next((row[c] for c in _CHANGE_COLUMNS if c in row), None)
    return SourceRow(columns=masked(sync, row, portal), changed_at=_iso(changed))


def read_target(
    settings: Settings, sync: Sync, key: Mapping[str, Any], portal: Mapping[str, MaskRule]
) -> TargetRow | None:
    target_key = {t: key[c.source or t] for t, c in sync.columns.items() if t in sync.key}
    row = _read_row(settings.dsn(sync.target_database), sync.target, target_key)
    if row is None:
        return None
    shown = {t: row.get(t) for t in sync.columns}
    columns = (
        {k: None if v is None else str(v) for k, v in shown.items()}
        if sync.citizen_bound
        else masked(sync, shown, portal)
    )
    return TargetRow(
        columns=columns,
        source_lsn=row.get("_source_lsn"),
        source_ts=_iso(row.get("_source_ts")),
        synced_at=_iso(row.get("_synced_at")),
    )


def _quiet() -> dict[str, Any]:
    """librdkafka's own log lines only with ``--debug``: the failure is reported as one line."""
    return {} if os.environ.get("SMARTSYNC_DEBUG") else {"log_level": 0}


def _kafka_failed(exc: Exception) -> ConfigurationError:
    err = exc.args[0] if exc.args else exc
    text = err.str() if isinstance(err, KafkaError) else str(err)
    return ConfigurationError(f"Kafka: {text}", hint=_KAFKA_HINT)


def newest_event(
    bootstrap: str, topic: str, partition: int, key: bytes, *, depth: int = SCAN_OFFSETS, timeout_s: float = 15.0
) -> KafkaEvent | None:
    """The newest message with this key on one partition, scanning back ``depth`` offsets in windows."""
    options: dict[str, Any] = {"enable.auto.commit": False, "enable.partition.eof": True, **_quiet()}
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-trace", **options))
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            msg = f"topic {topic} not found on Kafka"
            raise ConfigurationError(msg, hint="start the stack or create the catalog's topics (`smartsync doctor`)")
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
        floor = max(low, high - depth)
        end = high
        while end > floor:
            start = max(floor, end - _WINDOW)
            found = _scan_window(consumer, topic, partition, start, end, key=key, timeout_s=timeout_s)
            if found is not None:
                return found
            end = start
        return None
    except KafkaException as exc:
        raise _kafka_failed(exc) from None
    finally:
        consumer.close()


def _scan_window(
    consumer: Consumer, topic: str, partition: int, start: int, end: int, *, key: bytes, timeout_s: float
) -> KafkaEvent | None:
    consumer.assign([TopicPartition(topic, partition, start)])
    newest = None
    while True:
        record = consumer.poll(timeout_s)
        if record is None:
            msg = f"reading {topic}/{partition} timed out at offsets {start}..{end}"
            raise ConfigurationError(msg, hint=_KAFKA_HINT)
        error = record.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                break
            raise KafkaException(error)
        offset = record.offset() or 0
        if offset >= end:
            break
        if record.key() == key:
            newest = (offset, record.value())
        if offset + 1 >= end:
            break
    return None if newest is None else event_of(topic, partition, newest[0], newest[1])


def dead_letters_for(bootstrap: str, topic: str, key: bytes, *, depth: int = SCAN_OFFSETS) -> DeadLetters:
    """Dead letters for one key among the topic's last ``depth`` (sealed ones opened by the existing reader)."""
    try:
        probe = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-trace", **_quiet()))
        try:
            _, high = probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        finally:
            probe.close()
        matches = [
            letter
            for letter in read_dead_letters(bootstrap, topic, from_offset=max(0, high - depth))
            if letter.key == key
        ]
    except KafkaException as exc:
        raise _kafka_failed(exc) from None
    except SmartSyncError as exc:  # e.g. sealed letters without the keys: the rest of the trace still helps
        return DeadLetters(topic=topic, count=0, newest_reason=None, newest_at=None, unreadable=str(exc))
    newest = matches[-1] if matches else None
    return DeadLetters(
        topic=topic,
        count=len(matches),
        newest_reason=newest.reason if newest else None,
        newest_at=newest.failed_at if newest else None,
    )


def trace(settings: Settings, catalog: Catalog, sync_name: str, raw_key: str) -> Trace:
    """Follow one record of a CDC sync: source, Kafka, dead letters, target, and the verdict."""
    sync = catalog.sync(sync_name)
    if sync.topic is None:
        msg = f"sync {sync.name} has no change-event topic (batch only): nothing to trace on Kafka"
        raise ConfigurationError(msg, hint="use `smartsync reconcile diff --table` for batch syncs")
    key = parse_key(sync, raw_key)
    kafka_key = message_key(sync, key)
    partition = partition_for(kafka_key, sync.topic.partitions)
    portal = portal_rules(catalog)
    source = read_source(settings, sync, key, portal)
    event = newest_event(settings.kafka_bootstrap, sync.topic.name, partition, kafka_key)
    letters = dead_letters_for(settings.kafka_bootstrap, catalog.dead_letter_topics[sync.direction].name, kafka_key)
    target = read_target(settings, sync, key, portal)
    lag, behind, verdict = assess(source, event, target)
    return Trace(
        sync=sync.name,
        direction=sync.direction.value,
        key={c: str(v) for c, v in key.items()},
        topic=sync.topic.name,
        partition=partition,
        scanned_offsets=SCAN_OFFSETS,
        source=source,
        event=event,
        dead_letters=letters,
        target=target,
        lag_seconds=lag,
        target_behind=behind,
        verdict=verdict,
    )


def summary_lines(result: Trace) -> Sequence[tuple[str, str]]:
    """(label, text) lines of the one-screen view."""
    src = result.source
    ev = result.event
    dl = result.dead_letters
    tg = result.target
    lines = [
        ("sync", f"{result.sync} ({result.direction}) key {result.key}"),
        ("source", "absent" if src is None else f"changed at {src.changed_at or 'unknown'}"),
        (
            "kafka",
            f"no event for this key in the last {result.scanned_offsets} offsets of {result.topic}/{result.partition}"
            if ev is None
            else f"{ev.topic}/{ev.partition}@{ev.offset} op={ev.op} lsn={ev.lsn} at {ev.at}",
        ),
        (
            "dead letters",
            f"unreadable: {dl.unreadable}"
            if dl.unreadable
            else f"{dl.count} on {dl.topic}" + (f"; newest {dl.newest_at}: {dl.newest_reason}" if dl.count else ""),
        ),
        (
            "target",
            "absent"
            if tg is None
            else f"_source_lsn={tg.source_lsn} _source_ts={tg.source_ts} _synced_at={tg.synced_at}",
        ),
        ("lag", "unknown" if result.lag_seconds is None else f"{result.lag_seconds:.1f} s"),
        ("verdict", result.verdict),
    ]
    return lines
