"""The top-N rule of top-N syncs (e.g. a citizen's five best eligibility hints): pure functions.

A top-N sync's decoded changes are ``Evaluation`` items, keyed by their group (``group_key``).
``top_n_step`` applies one to the group's state and returns the row changes of the top-N
table. The dataflow keeps the state per group in a ``stateful_map`` (snapshotted by recovery);
nothing here knows Bytewax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from connectors.debezium.envelope import Origin
from connectors.postgres.apply import RowChange
from smartsync.core.catalog import TopN


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class Evaluation:
    """One scored item of a top-N group (e.g. one scheme of one citizen); ``row`` None = deleted."""

    sync: str
    group: str  # the stateful key: the group-by values
    key: tuple[Any, ...]  # the target key of the item
    rank: Decimal | None
    status: str | None
    row: dict[str, Any] | None  # the target row, masked
    position: int
    source_ts: datetime | None
    origin: Origin


def group_key(row: Mapping[str, Any], spec: TopN) -> str:
    """The stateful key of a top-N group: its group-by values as a string."""
    values = [row[c] for c in spec.group_by]
    return str(values[0]) if len(values) == 1 else orjson.dumps(values, default=str).decode()


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class Scored:
    """What a top-N state keeps of one item: enough to rank it and to write its row again."""

    key: tuple[Any, ...]
    rank: Decimal | None
    status: str | None
    row: dict[str, Any] | None
    position: int


TopState = dict[tuple[Any, ...], Scored]

# Candidates kept per group beyond the top N (a multiple of N): enough to refill the top when items leave
# it; a group with more eligible items than this forgets the weakest until they are evaluated again.
CANDIDATES_PER_SLOT = 4


def top_items(state: Mapping[tuple[Any, ...], Scored], spec: TopN) -> list[tuple[Any, ...]]:
    """Keys of the group's top N: included statuses only, highest rank first, ties by key."""
    ranked = [s for s in state.values() if s.row is not None and s.status in spec.included_statuses]
    ranked.sort(key=lambda s: (-(s.rank or 0), s.key))
    return [s.key for s in ranked[: spec.n]]


def top_n_step(state: TopState | None, ev: Evaluation, spec: TopN) -> tuple[TopState, list[RowChange]]:
    """Apply one evaluation to a group's state; return the new state and the changes of the top-N table.

    An item entering the top N is upserted, one leaving it (pushed out, deleted, or no longer
    of an included status) is deleted, one that stays but changed is upserted again. Every
    change carries the evaluation's position, so the writes of one group are ordered even
    when an item re-enters after it was deleted. A stale or repeated evaluation changes nothing.
    """
    state = {} if state is None else state
    known = state.get(ev.key)
    if known is not None and known.position >= ev.position:
        return state, []
    before = top_items(state, spec)
    state[ev.key] = Scored(ev.key, ev.rank, ev.status if ev.row is not None else None, ev.row, ev.position)
    after = top_items(state, spec)
    after_set = set(after)
    changes = [RowChange(key, None, ev.position, ev.source_ts) for key in before if key not in after_set]
    before_set = set(before)
    for key in after:
        if key not in before_set or key == ev.key:
            row = state[key].row
            assert row is not None  # noqa: S101 — top_items() only picks items with a row
            changes.append(RowChange(key, row, ev.position, ev.source_ts))
    return prune(state, spec), changes


def prune(state: TopState, spec: TopN) -> TopState:
    """Keep what can still reach the top: the best ``CANDIDATES_PER_SLOT × N`` items of an included status.

    A deleted or excluded item is forgotten (it comes back with its next evaluation, which carries its
    row); so is a candidate beyond the bound. Per-key order on Kafka means a forgotten item's older
    evaluation only returns with a replay from recovery, whose state predates the pruning, or a dead-letter
    replay, which the sink's positions and tombstones guard. An empty state ends the group (the dataflow
    discards it), so citizens with nothing eligible hold no memory.
    """
    keep = top_candidates(state, spec, spec.n * CANDIDATES_PER_SLOT)
    if len(keep) == len(state):
        return state
    return {key: state[key] for key in keep}


def top_candidates(state: Mapping[tuple[Any, ...], Scored], spec: TopN, limit: int) -> list[tuple[Any, ...]]:
    ranked = [s for s in state.values() if s.row is not None and s.status in spec.included_statuses]
    if len(ranked) > limit:
        ranked.sort(key=lambda s: (-(s.rank or 0), s.key))
        ranked = ranked[:limit]
    return [s.key for s in ranked]
