"""The shape both dataflows share: Kafka → decode → (top N) → PostgreSQL, bad events → dead letters.

::

    kafka_in (the direction's topics, catalog partition counts)
      └─ decode (one call per input batch: map, mask; bad events and consumer errors become dead letters)
           ├─ changes, dead letters (one list per batch) ──────────────────────────┐
           └─ evaluations ─ key by group ─ top_n (stateful_map, state in recovery) ─┴─ postgres

``build_flow`` is wiring only: it connects nothing, checks nothing and reads no environment.
The source and the sink can be swapped (``TestingSource``/``TestingSink`` in unit tests); the
process set-up and start-up checks run in ``dataflows/startup.py`` before it is called.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.outputs import Sink
from confluent_kafka import OFFSET_BEGINNING

from connectors import metrics
from connectors.kafka.dead_letters import DeadLetter
from connectors.kafka.source import Consumed, ConsumerError, OriginSource
from connectors.postgres.sink import FlowSink
from connectors.postgres.writer import SinkItem, TargetChange
from dataflows.decode import Router
from dataflows.top_n import Evaluation, TopState, top_n_step
from smartsync.core.catalog import Catalog, Direction, TopN
from smartsync.core.settings import Settings

log = logging.getLogger(__name__)

# Per-partition consumers: bound each one's prefetch queue so 40 partitions stay small in memory.
_CONSUMER_CONFIG = {"queued.max.messages.kbytes": "8192"}


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
        # An empty state (nothing of the group can reach the top) is discarded: memory stays with live groups.
        return new_state or None, [TargetChange(ev.sync, ch, ev.origin) for ch in changes]


def _items(batch: DecodedBatch) -> list[SinkItem]:
    return batch.items


def _evaluations(batch: DecodedBatch) -> list[Evaluation]:
    return batch.evaluations


def _group_of(ev: Evaluation) -> str:
    return f"{ev.sync}:{ev.group}"


def _changes(kv: tuple[str, list[SinkItem]]) -> list[SinkItem]:
    return kv[1]


def kafka_source(router: Router, settings: Settings, *, tail: bool = True, flow: str = "") -> OriginSource:
    """The direction's topics, from the beginning; ``tail=False`` stops at their end (tests, benchmarks)."""
    # Consumer errors stay in the stream: the decoding step handles messages and errors in one pass.
    return OriginSource(
        [settings.kafka_bootstrap],
        router.topics,
        tail=tail,
        starting_offset=OFFSET_BEGINNING,
        add_config=dict(_CONSUMER_CONFIG),
        batch_size=settings.flow_batch_size,
        flow=flow,
    )


def build_flow(
    catalog: Catalog,
    direction: Direction,
    settings: Settings,
    *,
    source: Source[Consumed] | None = None,
    sink: Sink[list[SinkItem]] | None = None,
    tail: bool = True,
) -> Dataflow:
    """The dataflow of one direction; by default Kafka in (``tail`` as ``kafka_source``) and PostgreSQL out."""
    router = Router(catalog, direction)
    flow_name = direction.value
    flow = Dataflow(flow_name)
    messages = op.input(
        "kafka_in", flow, source if source is not None else kafka_source(router, settings, tail=tail, flow=flow_name)
    )
    decoded = op.flat_map_batch("decode", messages, _DecodeBatch(router, flow_name))
    ready: Any = op.map("sink_items", decoded, _items)
    specs = {s.name: s.top_n for s in catalog.event_syncs(direction) if s.top_n is not None and s.topic is not None}
    if specs:
        evaluations = op.flat_map("evaluations", decoded, _evaluations)
        keyed = op.key_on("by_group", evaluations, _group_of)
        tops = op.stateful_map("top_n", keyed, _TopN(specs))
        ready = op.merge("merge", ready, op.map("top_n_changes", tops, _changes))
    if sink is None:
        sink = FlowSink(
            catalog,
            direction,
            settings.dsn(direction.target_database),
            settings.kafka_bootstrap,
            source_dsn=settings.dsn(direction.source_database),
        )
    op.output("postgres", ready, sink)
    return flow
