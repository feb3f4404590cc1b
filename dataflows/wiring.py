"""The shape both dataflows share: Kafka → decode → (top N) → PostgreSQL, bad events → dead letters.

::

    kafka_in (the direction's topics, catalog partition counts)
      ├─ oks ─ decode (map, mask; bad ones become dead letters) ─┬─ changes, dead letters ─┐
      │                                                           └─ evaluations ─ key by group ─ top_n (stateful_map) ─┤
      └─ errs ─ consumer_errors (counted and logged; with a payload: dead letters) ───────────────────────────────────┴─ postgres

Nothing connects at import: ``build_flow`` runs the start-up checks (masking policy against
the live source columns, target tables, topics) and then returns the ``Dataflow``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import bytewax.operators as op
import psycopg
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from bytewax.connectors.kafka import operators as kop
from bytewax.dataflow import Dataflow
from confluent_kafka import OFFSET_BEGINNING

import masking
from connectors.debezium import DeadLetter, Decoded, Evaluation, Origin, Router, TargetChange, TopState, top_n_step
from connectors.kafka import check_topics
from dataflows.sink import FlowSink, SinkItem
from smartsync import metrics
from smartsync.catalog import Catalog, Direction, TopN, load_catalog
from smartsync.errors import SinkError, SourceError
from smartsync.settings import Settings, load_settings
from smartsync.tables import SCHEMA, SYNC_COLUMNS, Database

log = logging.getLogger(__name__)

# Per-partition consumers: bound each one's prefetch queue so 40 partitions stay small in memory.
_CONSUMER_CONFIG = {"queued.max.messages.kbytes": "8192"}
_BATCH_SIZE = int(os.environ.get("SMARTSYNC_FLOW_BATCH_SIZE", "2000"))


def _columns(dsn: str, tables: list[str]) -> dict[str, set[str]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
            "WHERE table_schema || '.' || table_name = ANY(%s)",
            (tables,),
        ).fetchall()
    found: dict[str, set[str]] = {t: set() for t in tables}
    for table, column in rows:
        found[table].add(column)
    return found


def _check_sources(catalog: Catalog, direction: Direction, settings: Settings) -> None:
    """Every citizen-bound sync's live source columns are mapped or dropped (default deny)."""
    syncs = [s for s in catalog.event_syncs(direction) if s.citizen_bound]
    by_db: dict[Database, list[str]] = {}
    for s in syncs:
        by_db.setdefault(s.source_database, []).append(s.source)
    live = {db: _columns(settings.dsn(db), tables) for db, tables in by_db.items()}
    for s in syncs:
        columns = live[s.source_database][s.source]
        if not columns:
            msg = f"source table {s.source_database}.{s.source} of sync {s.name!r} does not exist"
            raise SourceError(msg, hint="run `smartsync stack up` (it migrates both databases)")
        masking.check_live_columns(s, columns)


def _check_targets(catalog: Catalog, direction: Direction, settings: Settings) -> None:
    syncs = catalog.event_syncs(direction)
    target_db = direction.target_database
    live = _columns(settings.dsn(target_db), [s.target for s in syncs])
    sync_cols = {c.name for c in SYNC_COLUMNS}
    for s in syncs:
        have = live[s.target]
        if not have:
            msg = f"target table {target_db}.{s.target} of sync {s.name!r} does not exist"
            raise SinkError(msg, hint="run `smartsync stack up` (it migrates both databases) and start the flow again")
        missing = sorted((set(SCHEMA.table(target_db, s.target).primary_key) | set(s.columns) | sync_cols) - have)
        if missing:
            msg = f"target table {target_db}.{s.target} of sync {s.name!r} lacks column(s) {missing}"
            raise SinkError(msg, hint="migrate the target database and start the flow again")


def preflight(catalog: Catalog, direction: Direction, settings: Settings) -> None:
    """Refuse to start on a masking gap, a missing target table or column, or a missing topic."""
    masking.check_policy(catalog)
    try:
        _check_sources(catalog, direction, settings)
        _check_targets(catalog, direction, settings)
    except psycopg.OperationalError as exc:
        msg = f"cannot reach PostgreSQL for the start-up checks: {str(exc).strip().splitlines()[0]}"
        raise SinkError(msg, hint="check SMARTSYNC_WAREHOUSE_DSN / SMARTSYNC_CITIZEN_DSN and that PostgreSQL runs") from None
    syncs = catalog.event_syncs(direction)
    check_topics(settings.kafka_bootstrap, [s.topic for s in syncs if s.topic is not None])
    check_topics(settings.kafka_bootstrap, [catalog.dead_letter_topics[direction]])


class _Decode:
    """Kafka message → decoded items; counts events in per sync target table."""

    def __init__(self, router: Router, flow: str) -> None:
        self._router = router
        self._count = {
            topic: metrics.EVENTS_IN.labels(flow, dec.sync.target) for topic, dec in router.decoders.items()
        }

    def __call__(self, msg: KafkaSourceMessage[bytes | None, bytes | None]) -> list[Decoded]:
        topic = msg.topic or ""
        counter = self._count.get(topic)
        if counter is not None:
            counter.inc()
        origin = Origin(topic, msg.partition if msg.partition is not None else -1,
                        msg.offset if msg.offset is not None else -1, msg.key, msg.value)
        return self._router.decode(origin)


class _ConsumerErrors:
    def __init__(self, flow: str) -> None:
        self._flow = flow
        self._count = metrics.CONSUMER_ERRORS.labels(flow)

    def __call__(self, err: KafkaError[bytes | None, bytes | None]) -> list[SinkItem]:
        self._count.inc()
        msg = err.msg
        if msg.value is not None and msg.topic:
            origin = Origin(msg.topic, msg.partition or 0, msg.offset or -1, msg.key, msg.value)
            return [DeadLetter(f"consumer error: {err.err}", origin)]
        log.warning("%s: Kafka consumer error: %s", self._flow, err.err)
        return []


class _TopN:
    """The stateful step of top-N syncs: one state per group (a citizen), snapshotted by recovery."""

    def __init__(self, specs: dict[str, TopN]) -> None:
        self._specs = specs

    def __call__(self, state: TopState | None, ev: Evaluation) -> tuple[TopState | None, list[TargetChange]]:
        new_state, changes = top_n_step(state, ev, self._specs[ev.sync])
        return new_state, [TargetChange(ev.sync, ch, ev.origin) for ch in changes]


def _is_evaluation(item: Decoded) -> bool:
    return isinstance(item, Evaluation)


def _group_of(ev: Decoded) -> str:
    assert isinstance(ev, Evaluation)  # noqa: S101 — branched on it
    return f"{ev.sync}:{ev.group}"


def _values(kv: tuple[str, list[TargetChange]]) -> list[TargetChange]:
    return kv[1]


def _ungroup(ev: Decoded) -> Evaluation:
    assert isinstance(ev, Evaluation)  # noqa: S101 — branched on it
    return ev


def _as_sink_item(item: Decoded) -> SinkItem:
    assert not isinstance(item, Evaluation)  # noqa: S101 — branched on it
    return item


def build_flow(direction: Direction, settings: Settings | None = None, *, tail: bool = True) -> Dataflow:
    """The dataflow of one direction; ``tail=False`` stops at the end of the topics (tests, benchmarks)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings or load_settings()
    catalog = load_catalog()
    preflight(catalog, direction, settings)
    router = Router(catalog, direction)
    flow_name = direction.value
    flow = Dataflow(flow_name)
    kin = kop.input(
        "kafka_in",
        flow,
        brokers=[settings.kafka_bootstrap],
        topics=router.topics,
        tail=tail,
        starting_offset=OFFSET_BEGINNING,
        add_config=dict(_CONSUMER_CONFIG),
        batch_size=_BATCH_SIZE,
    )
    decoded = op.flat_map("decode", kin.oks, _Decode(router, flow_name))
    consumer_errors = op.flat_map("consumer_errors", kin.errs, _ConsumerErrors(flow_name))
    split = op.branch("split_evaluations", decoded, _is_evaluation)
    ready: Any = op.map("as_sink_items", split.falses, _as_sink_item)
    specs = {
        s.name: s.top_n for s in catalog.event_syncs(direction) if s.top_n is not None and s.topic is not None
    }
    if specs:
        keyed = op.key_on("by_group", op.map("evaluations", split.trues, _ungroup), _group_of)
        tops = op.stateful_map("top_n", keyed, _TopN(specs))
        ready = op.merge("merge", ready, op.flat_map("top_n_changes", tops, _values))
    ready = op.merge("with_consumer_errors", ready, consumer_errors)
    op.output("postgres", ready, FlowSink(catalog, direction, settings.dsn(direction.target_database), settings.kafka_bootstrap))
    return flow
