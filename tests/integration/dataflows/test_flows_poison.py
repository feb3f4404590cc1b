"""Poison events on the real stack: each becomes a dead letter, the flow goes on.

A message that makes decoding raise anything (invalid UTF-8 inside a mapped string on the fast
parser, JSON nested deeper than any parser takes, a commit time beyond ``datetime``) used to
kill the worker, which replayed the same offset and died again. A dead letter larger than the
dead-letter topic's limit was retried forever; a producer error the broker will never accept
must stop the flow loudly instead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from connectors.kafka import config as kafka_config
from connectors.kafka.dead_letters import producer_config, read_dead_letters
from dataflows.testing import RunningFlow, converged, expected_mirror, wait_until
from smartsync.core.catalog import Direction, load_catalog
from tests.integration.chaos.full_reconciliation import assert_reconciled, even_out

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
DECISIONS = CAT.sync("application_decisions")
DLQ = CAT.dead_letter_topics[W2C].name


def _after(app: int, reason: str = "ok") -> dict[str, Any]:
    return {
        "application_id": app,
        "citizen_id": app,
        "scheme_code": "OAP",
        "status": "pending",
        "decision": None,
        "decision_reason": reason,
        "risk_score": "0.5000",
        "decided_at": None,
        "updated_at": "2026-11-21T21:10:15.777262Z",
    }


def poisons(app: int) -> dict[str, bytes]:
    """Each poison of the issue, keyed by a fragment of the reason its dead letter must carry."""
    source = {"connector": "postgresql", "lsn": 1, "ts_us": 1795295810286812}
    good = orjson.dumps({"op": "c", "before": None, "after": _after(app), "source": source})
    marker = b'"decision_reason":"ok"'
    return {
        "not valid UTF-8": good.replace(marker, b'"decision_reason":"ab\xff\xfecd"'),
        "depth limit": good.replace(marker, b'"decision_reason":' + b"[" * 100_000 + b"]" * 100_000),
        "source.ts_us out of range": orjson.dumps(
            {"op": "c", "after": _after(app), "source": {**source, "ts_us": 9 * 10**18}}
        ),
        "source.ts_ms out of range": orjson.dumps(
            {"op": "c", "after": _after(app), "source": {"lsn": 1, "ts_ms": -(10**17)}}
        ),
    }


def _produce(bootstrap: str, topic: str, key: bytes, values: list[bytes]) -> None:
    producer = Producer(producer_config(bootstrap, "smartsync-tests"))
    for value in values:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0


def _set_topic_config(bootstrap: str, topic: str, name: str, value: str | None) -> None:
    admin = AdminClient(kafka_config.admin_config(bootstrap))
    op = AlterConfigOpType.DELETE if value is None else AlterConfigOpType.SET
    entry = ConfigEntry(name, value or "", incremental_operation=op)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for fut in admin.incremental_alter_configs([resource]).values():
        fut.result(timeout=15)


def _dlq_end(bootstrap: str) -> int:
    return max((letter.offset + 1 for letter in read_dead_letters(bootstrap, DLQ, timeout_s=5)), default=0)


@pytest.fixture
def conns(warehouse_dsn: str, citizen_dsn: str) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any]]]:
    with psycopg.connect(warehouse_dsn, autocommit=True) as w, psycopg.connect(citizen_dsn, autocommit=True) as c:
        yield w, c


def _insert_application(conn: psycopg.Connection[Any], app: int) -> None:
    conn.execute(
        "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
        "VALUES (%s, %s, 'OAP', 'pending', 0.5000)",
        (app, app),
    )


def test_every_poison_event_becomes_a_dead_letter_and_the_flow_goes_on(
    tmp_path: Path, conns: Any, kafka_bootstrap: str
) -> None:
    wconn, cconn = conns
    even_out(DECISIONS)
    base = random.randrange(10**8, 9 * 10**8)
    key = f'{{"application_id":{base}}}'.encode()
    bad = poisons(base)
    assert DECISIONS.topic is not None
    start = _dlq_end(kafka_bootstrap)
    _produce(kafka_bootstrap, DECISIONS.topic.name, key, list(bad.values()))
    with RunningFlow(W2C, tmp_path, workers=1) as flow:
        _insert_application(wconn, base + 1)
        expected = expected_mirror(DECISIONS, wconn, "application_id", [base + 1])
        flow.wait(converged(DECISIONS, cconn, "application_id", [base + 1], expected), what="the good change")

        def ours() -> list[Any]:
            letters = read_dead_letters(kafka_bootstrap, DLQ, from_offset=start, timeout_s=5)
            return [letter for letter in letters if letter.key == key]

        flow.wait(lambda: len(ours()) >= len(bad), what="a dead letter per poison")
        letters = ours()
        reasons = [letter.reason for letter in letters]
        for fragment, value in bad.items():
            assert any(fragment in r for r in reasons), (fragment, reasons)
            assert any(letter.value == value for letter in letters), fragment
        assert_reconciled(DECISIONS, flow=flow)


def test_an_oversized_dead_letter_is_truncated_with_a_pointer(tmp_path: Path, kafka_bootstrap: str) -> None:
    even_out(DECISIONS)
    base = random.randrange(10**8, 9 * 10**8)
    key = f'{{"application_id":{base}}}'.encode()
    big = b"\x00{not json " + b"x" * 200_000  # fits the source topic, not the dead-letter topic below
    assert DECISIONS.topic is not None
    start = _dlq_end(kafka_bootstrap)
    _set_topic_config(kafka_bootstrap, DLQ, "max.message.bytes", "50000")
    try:
        _produce(kafka_bootstrap, DECISIONS.topic.name, key, [big])
        with RunningFlow(W2C, tmp_path, workers=1) as flow:

            def ours() -> list[Any]:
                letters = read_dead_letters(kafka_bootstrap, DLQ, from_offset=start, timeout_s=5)
                return [letter for letter in letters if letter.key == key]

            (letter,) = flow.wait(ours, what="the truncated dead letter", timeout_s=90)
            assert letter.truncated_from == len(big)
            assert letter.value is not None
            assert len(letter.value) < 50_000
            assert big.startswith(letter.value)
            assert letter.source_topic == DECISIONS.topic.name
            assert letter.source_offset >= 0
            assert_reconciled(DECISIONS, flow=flow)
    finally:
        _set_topic_config(kafka_bootstrap, DLQ, "max.message.bytes", None)


def test_a_dead_letter_the_broker_never_accepts_stops_the_flow_loudly(tmp_path: Path, kafka_bootstrap: str) -> None:
    even_out(DECISIONS)
    base = random.randrange(10**8, 9 * 10**8)
    key = f'{{"application_id":{base}}}'.encode()
    assert DECISIONS.topic is not None
    flow = RunningFlow(W2C, tmp_path, workers=1)
    try:
        with flow:
            flow.wait(lambda: flow.metric("smartsync_sink_up", flow=W2C.value) == 1, what="flow up")
            # The limit shrinks under the running flow: the broker refuses the letter (not retriable).
            _set_topic_config(kafka_bootstrap, DLQ, "max.message.bytes", "20000")
            _produce(kafka_bootstrap, DECISIONS.topic.name, key, [b"\x00{not json " + b"y" * 100_000])
            wait_until(lambda: flow.exit_codes() != [None], timeout_s=90, what="the flow to stop")
            assert flow.exit_codes()[0] != 0
            assert "stopped: dead-letter topic smartsync.dlq.warehouse_to_citizen refused" in flow.logs()
        # Stopping lost nothing: the refused event was never a row, every other change is in the target.
        assert_reconciled(DECISIONS)
    finally:
        _set_topic_config(kafka_bootstrap, DLQ, "max.message.bytes", None)
