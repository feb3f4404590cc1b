"""Both dataflows end to end inside Bytewax, without Kafka or PostgreSQL.

``build_flow`` takes a ``TestingSource`` of ``Origin`` records (the bytes Debezium and the
callback service write) and a ``TestingSink``; the flow runs with one worker (``run_main``)
and with two (``cluster_main``), and the sink must receive exactly the expected items.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from connectors.debezium.envelope import Origin
from connectors.kafka.dead_letters import DeadLetter
from connectors.kafka.source import Consumed, ConsumerError
from connectors.postgres.apply import RowChange
from connectors.postgres.writer import SinkItem, TargetChange
from dataflows.runner import free_ports
from dataflows.wiring import build_flow
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import Settings

CATALOG = load_catalog()
# Nothing connects: the source and the sink are swapped for Bytewax's testing ones.
SETTINGS = Settings(kafka_bootstrap="unused:9092")
TS_US = 1795295810286812
COMMITTED = datetime(2026, 11, 21, 21, 16, 50, 286812, tzinfo=UTC)


def _topic(sync: str) -> str:
    topic = CATALOG.sync(sync).topic
    assert topic is not None
    return topic.name


def _event(
    sync: str,
    offset: int,
    op: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    lsn: int,
    key: dict[str, Any],
) -> Origin:
    """A change event as Debezium's JsonConverter (schemas off) writes it."""
    source = {
        "version": "2.7.3.Final",
        "connector": "postgresql",
        "name": "warehouse",
        "ts_ms": TS_US // 1000,
        "ts_us": TS_US,
        "snapshot": "false",
        "db": "smart_warehouse",
        "schema": "public",
        "table": "t",
        "txId": 812,
        "lsn": lsn,
        "xmin": None,
    }
    value = {
        "before": before,
        "after": after,
        "source": source,
        "op": op,
        "ts_ms": TS_US // 1000 + 3,
        "transaction": None,
    }
    return Origin(_topic(sync), 0, offset, orjson.dumps(key), orjson.dumps(value))


def _run_main(flow: Dataflow) -> None:
    run_main(flow)


def _two_workers(flow: Dataflow) -> None:
    cluster_main(flow, [f"127.0.0.1:{free_ports(1)[0]}"], 0, worker_count_per_proc=2)


RUNNERS: dict[str, Callable[[Dataflow], None]] = {"1 worker": _run_main, "2 workers": _two_workers}


def _run(direction: Direction, inputs: list[Consumed], run: Callable[[Dataflow], None]) -> list[SinkItem]:
    out: list[list[SinkItem]] = []
    flow = build_flow(CATALOG, direction, SETTINGS, source=TestingSource(inputs), sink=TestingSink(out))
    run(flow)
    return [item for batch in out for item in batch]


def _sort_key(item: SinkItem) -> tuple[str, int, str]:
    return (item.origin.topic, item.origin.offset, repr(item))


# ── warehouse → citizen ──────────────────────────────────────────────────────────────


DECISION = {
    "application_id": 5,
    "citizen_id": 9,
    "scheme_code": "OAP",
    "status": "approved",
    "decision": "approve",
    "decision_reason": "meets the income rule",
    "risk_score": "0.8123",
    "decided_at": "2026-11-21T21:10:15.777262Z",
    "updated_at": "2026-11-21T21:10:15.777262Z",
}
DECISION_ROW = {
    **DECISION,
    "risk_score": Decimal("0.8123"),
    "decided_at": datetime(2026, 11, 21, 21, 10, 15, 777262, tzinfo=UTC),
    "updated_at": datetime(2026, 11, 21, 21, 10, 15, 777262, tzinfo=UTC),
}
EVALUATED = "2026-11-21T21:16:50.283942Z"
EVALUATED_AT = datetime(2026, 11, 21, 21, 16, 50, 283942, tzinfo=UTC)


def _snapshot(offset: int, scheme: str, score: str, status: str, lsn: int) -> Origin:
    after = {
        "citizen_id": 9,
        "scheme_code": scheme,
        "eligibility_score": score,
        "status": status,
        "evaluated_at": EVALUATED,
        "updated_at": EVALUATED,
    }
    return _event("eligibility_hints", offset, "c", None, after, lsn=lsn, key={"citizen_id": 9, "scheme_code": scheme})


def _hint(scheme: str, score: str) -> dict[str, Any]:
    return {
        "citizen_id": 9,
        "scheme_code": scheme,
        "eligibility_score": Decimal(score),
        "status": "eligible",
        "evaluated_at": EVALUATED_AT,
    }


def _warehouse_inputs() -> list[Consumed]:
    decision = _event("application_decisions", 0, "c", None, DECISION, lsn=1000, key={"application_id": 5})
    decision_deleted = _event("application_decisions", 1, "d", DECISION, None, lsn=1010, key={"application_id": 5})
    tombstone = Origin(_topic("application_decisions"), 0, 2, b'{"application_id":5}', None)
    # Citizen 9: six schemes; one is not eligible, and the sixth eligible one pushes the lowest out.
    snapshots = [
        _snapshot(0, "OAP", "0.5000", "eligible", 2000),
        _snapshot(1, "XYZ", "0.9900", "ineligible", 2001),
        _snapshot(2, "S1", "0.6000", "eligible", 2002),
        _snapshot(3, "S2", "0.7000", "eligible", 2003),
        _snapshot(4, "S3", "0.8000", "eligible", 2004),
        _snapshot(5, "S4", "0.9000", "eligible", 2005),
        _snapshot(6, "S5", "0.9500", "eligible", 2006),
    ]
    broken = Origin(_topic("golden_records"), 3, 17, b'{"citizen_id":9}', b"{not json")
    stray = Origin("warehouse.public.not_synced", 0, 4, None, b"{}")
    consumer_error = ConsumerError("Broker: Not leader for partition", Origin(_topic("ml_alerts"), 1, 8, None, b"x"))
    return [decision, decision_deleted, tombstone, *snapshots, broken, stray, consumer_error]


def _expected_warehouse(inputs: list[Consumed]) -> list[SinkItem]:
    origins = [i for i in inputs if isinstance(i, Origin)]
    decision, decision_deleted, _, oap, _, s1, s2, s3, s4, s5, broken, stray = origins
    consumer_error = inputs[-1]
    assert isinstance(consumer_error, ConsumerError)
    hints = "eligibility_hints"
    return [
        TargetChange("application_decisions", RowChange((5,), DECISION_ROW, 1000, COMMITTED), decision),
        TargetChange("application_decisions", RowChange((5,), None, 1010, COMMITTED), decision_deleted),
        TargetChange(hints, RowChange((9, "OAP"), _hint("OAP", "0.5000"), 2000, COMMITTED), oap),
        TargetChange(hints, RowChange((9, "S1"), _hint("S1", "0.6000"), 2002, COMMITTED), s1),
        TargetChange(hints, RowChange((9, "S2"), _hint("S2", "0.7000"), 2003, COMMITTED), s2),
        TargetChange(hints, RowChange((9, "S3"), _hint("S3", "0.8000"), 2004, COMMITTED), s3),
        TargetChange(hints, RowChange((9, "S4"), _hint("S4", "0.9000"), 2005, COMMITTED), s4),
        # The sixth eligible scheme: OAP (the lowest) leaves the top 5, S5 enters it, both at S5's position.
        TargetChange(hints, RowChange((9, "OAP"), None, 2006, COMMITTED), s5),
        TargetChange(hints, RowChange((9, "S5"), _hint("S5", "0.9500"), 2006, COMMITTED), s5),
        DeadLetter(
            "undecodable JSON: unexpected character, expected a string key: line 1 column 2 (char 1)",
            broken,
            "golden_records",
        ),
        DeadLetter("no sync reads topic 'warehouse.public.not_synced'", stray),
        DeadLetter("consumer error: Broker: Not leader for partition", consumer_error.origin),
    ]


@pytest.mark.parametrize("workers", RUNNERS)
def test_warehouse_to_citizen_syncs_ranks_and_dead_letters(workers: str) -> None:
    inputs = _warehouse_inputs()
    expected = _expected_warehouse(inputs)
    got = _run(Direction.WAREHOUSE_TO_CITIZEN, inputs, RUNNERS[workers])
    assert sorted(got, key=_sort_key) == sorted(expected, key=_sort_key)
    # Per key, order is what makes the target right: each sync's (and each top-N group's) changes in input order.
    for sync in ("application_decisions", "eligibility_hints"):
        assert [i for i in got if isinstance(i, TargetChange) and i.sync == sync] == [
            i for i in expected if isinstance(i, TargetChange) and i.sync == sync
        ]


def test_a_top_n_group_never_holds_more_than_n_or_an_ineligible_item() -> None:
    got = _run(Direction.WAREHOUSE_TO_CITIZEN, _warehouse_inputs(), _run_main)
    held: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in got:
        if isinstance(item, TargetChange) and item.sync == "eligibility_hints":
            if item.change.row is None:
                held.pop(item.change.key, None)
            else:
                held[item.change.key] = dict(item.change.row)
    assert sorted(held) == [(9, "S1"), (9, "S2"), (9, "S3"), (9, "S4"), (9, "S5")]
    assert {row["status"] for row in held.values()} == {"eligible"}


# ── citizen → warehouse ──────────────────────────────────────────────────────────────


APPLICATION = {
    "application_id": 77,
    "citizen_id": 9,
    "scheme_code": "OAP",
    "status": "submitted",
    "submitted_at": "2026-11-21T21:10:15.777262Z",
    "updated_at": "2026-11-21T21:10:15.777262Z",
}


def _event_row(status: str, lsn: int, event_type: str) -> dict[str, Any]:
    return {
        "application_id": 77,
        "citizen_id": 9,
        "scheme_code": "OAP",
        "status": status,
        "source_lsn": lsn,
        "event_type": event_type,
        "occurred_at": COMMITTED,
    }


@pytest.mark.parametrize("workers", RUNNERS)
def test_citizen_to_warehouse_appends_application_events(workers: str) -> None:
    key = {"application_id": 77}
    submitted = _event("application_submissions", 0, "c", None, APPLICATION, lsn=3000, key=key)
    renamed = _event(
        "application_submissions", 1, "u", APPLICATION, {**APPLICATION, "scheme_code": "X"}, lsn=3001, key=key
    )  # no status change: no event
    withdrawn = _event(
        "application_submissions", 2, "u", APPLICATION, {**APPLICATION, "status": "withdrawn"}, lsn=3002, key=key
    )
    bad_type = _event("application_submissions", 3, "c", None, {**APPLICATION, "citizen_id": "nine"}, lsn=3003, key=key)
    got = _run(Direction.CITIZEN_TO_WAREHOUSE, [submitted, renamed, withdrawn, bad_type], RUNNERS[workers])
    assert got == [
        TargetChange(
            "application_submissions",
            RowChange((77, 3000), _event_row("submitted", 3000, "submitted"), 3000, COMMITTED),
            submitted,
        ),
        TargetChange(
            "application_submissions",
            RowChange((77, 3002), _event_row("withdrawn", 3002, "withdrawn"), 3002, COMMITTED),
            withdrawn,
        ),
        DeadLetter(
            "type error: column 'citizen_id': expected an integer, got str of length 4",
            bad_type,
            "application_submissions",
        ),
    ]
