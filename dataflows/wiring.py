"""The shape both dataflows share: Kafka → decode → (top N) → PostgreSQL, bad events → dead letters.

::

    kafka_in (the direction's topics, catalog partition counts)
      └─ decode (one call per input batch: map, mask; bad events and consumer errors become dead letters)
           ├─ changes, dead letters (one list per batch) ──────────────────────────┐
           └─ evaluations ─ key by group ─ top_n (stateful, state in recovery, idle expiry) ─┴─ postgres

``build_flow`` is wiring only: it connects nothing, checks nothing and reads no environment.
The source and the sink can be swapped (``TestingSource``/``TestingSink`` in unit tests); the
process set-up and start-up checks run in ``dataflows/startup.py`` before it is called.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.operators import StatefulLogic
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


@dataclass(slots=True)
class TopNGroup:
    """What recovery keeps of one top-N group: its state and when the flow last evaluated it (Unix time)."""

    sync: str
    state: TopState
    seen_at: float


# A group restored from recovery gets at least this long after the restart before it may expire, so a backlog
# read after an outage reaches the groups it evaluates before their idle clock (which kept running) drops them.
RESTORE_GRACE_S = 600.0

_NOTHING: tuple[list[SinkItem], ...] = ()


class _TopN:
    """The top-N step's builder: one ``_TopNLogic`` per group (a citizen), with the idle clock.

    The rule itself is ``dataflows.top_n.top_n_step``; this only adds time. A group not evaluated for
    ``idle_s`` seconds (wall clock) is discarded by a Bytewax notification, so the state holds the groups
    evaluated recently instead of every group ever seen. ``idle_s`` 0 never expires a group.
    """

    def __init__(
        self, specs: dict[str, TopN], flow: str, idle_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.specs = specs
        self.idle_s = idle_s
        self.clock = clock
        self.expired = {name: metrics.TOP_N_GROUPS_EXPIRED.labels(flow, name) for name in specs}
        self.live = {name: metrics.TOP_N_GROUPS.labels(flow, name) for name in specs}

    def __call__(self, resume: TopNGroup | None) -> _TopNLogic:
        if resume is not None:
            self.live[resume.sync].inc()
            if self.idle_s:
                grace = min(self.idle_s, RESTORE_GRACE_S)
                resume.seen_at = max(resume.seen_at, self.clock() - self.idle_s + grace)
        return _TopNLogic(self, resume)


class _TopNLogic(StatefulLogic[Evaluation, list[SinkItem], TopNGroup]):
    """One group's top-N state in Bytewax's ``stateful``: evaluations in, changes out, discarded when idle."""

    __slots__ = ("_group", "_step")

    def __init__(self, step: _TopN, group: TopNGroup | None) -> None:
        self._step = step
        self._group = group

    def on_item(self, value: Evaluation) -> tuple[Iterable[list[SinkItem]], bool]:
        step = self._step
        group = self._group
        if group is None:
            # A group the state does not hold: new, emptied, or expired. It starts from this evaluation; an
            # expired one may leave hints in the target the flow no longer knows of, which the daily fixing
            # reconcile repairs (docs/event-path.md).
            group = self._group = TopNGroup(value.sync, {}, 0.0)
            step.live[value.sync].inc()
        state, changes = top_n_step(group.state, value, step.specs[value.sync])
        out: tuple[list[SinkItem], ...] = (
            ([TargetChange(value.sync, ch, value.origin) for ch in changes],) if changes else _NOTHING
        )
        if not state:  # nothing of the group can reach the top: it holds no memory
            step.live[value.sync].dec()
            return out, StatefulLogic.DISCARD
        group.state = state
        group.seen_at = step.clock()
        return out, StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[list[SinkItem]], bool]:
        group = self._group
        step = self._step
        # Bytewax may notify after an evaluation in the same activation moved the deadline: check it again.
        if group is None or not step.idle_s or step.clock() < group.seen_at + step.idle_s:
            return _NOTHING, StatefulLogic.RETAIN
        step.expired[group.sync].inc()
        step.live[group.sync].dec()
        return _NOTHING, StatefulLogic.DISCARD

    def notify_at(self) -> datetime | None:
        group = self._group
        if group is None or not self._step.idle_s:
            return None
        return datetime.fromtimestamp(group.seen_at + self._step.idle_s, tz=UTC)

    def snapshot(self) -> TopNGroup:
        group = self._group
        assert group is not None  # noqa: S101 — Bytewax snapshots only retained logic, which holds a group
        # A shallow copy is enough: top_n_step replaces a group's Scored items, it never changes one in place.
        return TopNGroup(group.sync, dict(group.state), group.seen_at)


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
        tops = op.stateful("top_n", keyed, _TopN(specs, flow_name, settings.top_n_idle_s))
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
