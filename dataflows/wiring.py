"""The shape both dataflows share: Kafka → decode → (top N) → PostgreSQL, bad events → dead letters.

::

    kafka_in (the direction's topics, catalog partition counts)
      └─ decode (one call per input batch: map, mask; bad events and consumer errors become dead letters)
           ├─ changes, dead letters (one list per batch) ───────────────────────────────┐
           └─ evaluations ─ key by group ─ top_n (stateful_map, state in recovery) ───┴─ postgres (commits per write_batch)

Nothing connects at import: ``build_flow`` runs the start-up checks (masking policy against
the live source columns, target tables, topics) and then returns the ``Dataflow``.
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
import psycopg
from bytewax.dataflow import Dataflow
from confluent_kafka import OFFSET_BEGINNING

import masking
from connectors import metrics
from connectors.kafka.dead_letters import DeadLetter
from connectors.kafka.source import Consumed, ConsumerError, OriginSource
from connectors.kafka.topics import check_topics
from connectors.postgres.sink import FlowSink
from connectors.postgres.writer import SinkItem, TargetChange
from dataflows import runner
from dataflows.decode import Router
from dataflows.top_n import Evaluation, TopState, top_n_step
from smartsync.core.catalog import Catalog, Direction, TopN, load_catalog
from smartsync.core.errors import SinkError, SourceError
from smartsync.core.settings import Settings, load_settings
from smartsync.core.tables import SCHEMA, SYNC_COLUMNS, Database

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
    syncs = [s for s in catalog.event_syncs(direction) if s.topic is not None]
    topics = [s.topic for s in syncs if s.topic is not None] + [catalog.dead_letter_topics[direction]]
    check_topics(
        settings.kafka_bootstrap,
        topics,
        owners={s.topic.name: s.name for s in syncs if s.topic is not None},
        hint="create the catalog's topics (`smartsync stack up` does) before starting a flow",
    )


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """One input batch, decoded: what goes straight to the sink, and the evaluations of top-N syncs."""

    items: list[SinkItem]
    evaluations: list[Evaluation]


class _DecodeBatch:
    """A batch of Kafka messages and consumer errors → one ``DecodedBatch``.

    Working on whole batches keeps Bytewax's per-item cost off the hot path: mirror and
    append changes travel to the sink as one list per input batch.
    """

    def __init__(self, router: Router, flow: str) -> None:
        self._router = router
        self._flow = flow
        self._count_in = {
            topic: metrics.EVENTS_IN.labels(flow, dec.sync.target) for topic, dec in router.decoders.items()
        }
        self._consumer_errors = metrics.CONSUMER_ERRORS.labels(flow)

    def __call__(self, batch: list[Consumed]) -> list[DecodedBatch]:
        items: list[SinkItem] = []
        evaluations: list[Evaluation] = []
        counts: dict[str, int] = {}
        decode = self._router.decode
        for origin in batch:
            if isinstance(origin, ConsumerError):
                items.extend(self._consumer_error(origin))
                continue
            topic = origin.topic
            counts[topic] = counts.get(topic, 0) + 1
            for item in decode(origin):
                if isinstance(item, Evaluation):
                    evaluations.append(item)
                else:
                    items.append(item)
        for topic, n in counts.items():
            counter = self._count_in.get(topic)
            if counter is not None:
                counter.inc(n)
        return [DecodedBatch(items, evaluations)]

    def _consumer_error(self, err: ConsumerError) -> list[SinkItem]:
        self._consumer_errors.inc()
        if err.origin.value is not None and err.origin.topic:
            return [DeadLetter(f"consumer error: {err.error}", err.origin)]
        log.warning("%s: Kafka consumer error: %s", self._flow, err.error)
        return []


class _TopN:
    """The stateful step of top-N syncs: one state per group (a citizen), snapshotted by recovery."""

    def __init__(self, specs: dict[str, TopN]) -> None:
        self._specs = specs

    def __call__(self, state: TopState | None, ev: Evaluation) -> tuple[TopState | None, list[SinkItem]]:
        new_state, changes = top_n_step(state, ev, self._specs[ev.sync])
        return new_state, [TargetChange(ev.sync, ch, ev.origin) for ch in changes]


def _items(batch: DecodedBatch) -> list[SinkItem]:
    return batch.items


def _evaluations(batch: DecodedBatch) -> list[Evaluation]:
    return batch.evaluations


def _group_of(ev: Evaluation) -> str:
    return f"{ev.sync}:{ev.group}"


def _changes(kv: tuple[str, list[SinkItem]]) -> list[SinkItem]:
    return kv[1]


def _tune_gc() -> None:
    """Every event allocates a handful of short-lived dicts and tuples; the default first-generation
    threshold (700) runs the collector every few dozen events. A flow process is dedicated to its
    flow, so collect less often (``SMARTSYNC_FLOW_GC_THRESHOLD``, 0 keeps Python's default)."""
    threshold = int(os.environ.get("SMARTSYNC_FLOW_GC_THRESHOLD", "50000"))
    if threshold > 0:
        gc.set_threshold(threshold, 20, 20)


def build_flow(direction: Direction, settings: Settings | None = None, *, tail: bool = True) -> Dataflow:
    """The dataflow of one direction; ``tail=False`` stops at the end of the topics (tests, benchmarks)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runner.follow_supervisor()
    settings = settings or load_settings()
    catalog = load_catalog()
    preflight(catalog, direction, settings)
    _tune_gc()
    router = Router(catalog, direction)
    flow_name = direction.value
    flow = Dataflow(flow_name)
    # Consumer errors stay in the stream: the decoding step handles messages and errors in one pass.
    source = OriginSource(
        [settings.kafka_bootstrap],
        router.topics,
        tail=tail,
        starting_offset=OFFSET_BEGINNING,
        add_config=dict(_CONSUMER_CONFIG),
        batch_size=_BATCH_SIZE,
    )
    messages = op.input("kafka_in", flow, source)
    decoded = op.flat_map_batch("decode", messages, _DecodeBatch(router, flow_name))
    ready: Any = op.map("sink_items", decoded, _items)
    specs = {
        s.name: s.top_n for s in catalog.event_syncs(direction) if s.top_n is not None and s.topic is not None
    }
    if specs:
        evaluations = op.flat_map("evaluations", decoded, _evaluations)
        keyed = op.key_on("by_group", evaluations, _group_of)
        tops = op.stateful_map("top_n", keyed, _TopN(specs))
        ready = op.merge("merge", ready, op.map("top_n_changes", tops, _changes))
    sink = FlowSink(catalog, direction, settings.dsn(direction.target_database), settings.kafka_bootstrap)
    op.output("postgres", ready, sink)
    return flow
