"""Bad events, a target outage and a terminal error, on the real stack."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.kafka import config as kafka_config
from connectors.kafka.dead_letters import (
    H_OFFSET,
    H_PARTITION,
    H_REASON,
    H_TOPIC,
    StoredDeadLetter,
    producer_config,
    read_dead_letters,
    replay,
)
from dataflows.testing import RunningFlow, converged, expected_mirror
from smartsync.core.catalog import Direction, load_catalog

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
DECISIONS = CAT.sync("application_decisions")
FORECASTS = CAT.sync("benefit_forecasts")


@pytest.fixture
def conns(warehouse_dsn: str, citizen_dsn: str) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any]]]:
    with psycopg.connect(warehouse_dsn, autocommit=True) as w, psycopg.connect(citizen_dsn, autocommit=True) as c:
        yield w, c


def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-tests"))
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        consumer.close()


def _check_letters(
    letters: list[StoredDeadLetter], bad: dict[str, bytes], topic: str, key: bytes, refused_app: int
) -> list[StoredDeadLetter]:
    """Every bad message is a letter with its reason, original bytes and origin; returns the refused change."""
    reasons = [letter.reason for letter in letters]
    for fragment in bad:
        assert any(fragment in r for r in reasons), (fragment, reasons)
    # PostgreSQL's text or, once reasons are reduced to SQLSTATEs, its code (numeric_value_out_of_range).
    assert any("numeric field overflow" in r or "22003" in r for r in reasons), reasons
    # Earlier runs' refused changes are replayed too (a fresh flow reads its topics from the start).
    refused = [
        letter
        for letter in letters
        if "no_bogus_status" in letter.reason
        and orjson.loads(letter.value or b"{}")["after"]["application_id"] == refused_app
    ]
    assert len(refused) == 1
    raw = {letter.value for letter in letters if letter.source_topic == topic}
    assert set(bad.values()) <= raw
    first = next(letter for letter in letters if letter.value == bad["undecodable JSON"] and letter.key == key)
    assert first.source_offset >= 0
    assert first.sync == DECISIONS.name
    return refused


def _insert_application(conn: psycopg.Connection[Any], app: int, status: str = "pending") -> None:
    conn.execute(
        "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
        "VALUES (%s, %s, 'OAP', %s, 0.5000)",
        (app, app, status),
    )


def _assert_dead_letter_headers(bootstrap: str, dlq: str, offset: int) -> None:
    """The headers carry the reason and the source coordinates."""
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-tests"))
    try:
        consumer.assign([TopicPartition(dlq, 0, offset)])
        msg = consumer.poll(10)
        assert msg is not None
        headers = dict(msg.headers() or [])
        assert set(headers) >= {H_REASON, H_TOPIC, H_PARTITION, H_OFFSET}
    finally:
        consumer.close()


def test_bad_events_become_dead_letters_and_replay_after_a_fix(
    tmp_path: Path, conns: Any, kafka_bootstrap: str
) -> None:
    wconn, cconn = conns
    cconn.execute("TRUNCATE public.application_decisions, public.benefit_forecasts")
    base = random.randrange(10**8, 9 * 10**8)
    dlq = CAT.dead_letter_topics[W2C].name
    dlq_start = _end_offsets(kafka_bootstrap, dlq)[0]
    assert DECISIONS.topic is not None
    assert FORECASTS.topic is not None
    topic = DECISIONS.topic.name
    good_after = {
        "application_id": base,
        "citizen_id": base,
        "scheme_code": "OAP",
        "status": "pending",
        "decision": None,
        "decision_reason": None,
        "risk_score": "0.5000",
        "decided_at": None,
        "updated_at": "2026-11-21T21:10:15.777262Z",
    }
    source = {"connector": "postgresql", "lsn": 1, "ts_us": 1795295810286812}
    bad = {
        "undecodable JSON": b"\x00{not json",
        "missing field 'op'": orjson.dumps({"after": good_after, "source": source}),
        "missing field 'decision'": orjson.dumps(
            {"op": "c", "after": {k: v for k, v in good_after.items() if k != "decision"}, "source": source}
        ),
        "expected an integer": orjson.dumps({"op": "c", "after": {**good_after, "citizen_id": "x"}, "source": source}),
        "TOAST": orjson.dumps(
            {"op": "u", "after": {**good_after, "decision_reason": "__debezium_unavailable_value"}, "source": source}
        ),
    }
    # A forecast whose confidence overflows numeric(4,3): only the target can refuse it.
    overflow = orjson.dumps(
        {
            "op": "c",
            "before": None,
            "after": {
                "forecast_id": "6f1c2a52-2b8e-4d0c-9a57-000000000001",
                "citizen_id": base,
                "scheme_code": "OAP",
                "forecast_amount": "1.00",
                "forecast_period": "2027-Q1",
                "confidence": "12.500",
                "generated_at": "2026-11-21T09:30:00Z",
            },
            "source": {"connector": "callback", "sync": "benefit_forecasts", "ts_us": 1795295810286812},
        }
    )
    key = f'{{"application_id":{base}}}'.encode()
    producer = Producer(producer_config(kafka_bootstrap, "smartsync-tests"))
    for value in bad.values():
        producer.produce(topic, key=key, value=value)
    producer.produce(FORECASTS.topic.name, key=f'{{"citizen_id":{base}}}'.encode(), value=overflow)
    assert producer.flush(15) == 0
    # A target-side rule that refuses one real change: the "fix" is to drop it and replay.
    cconn.execute(
        "ALTER TABLE public.application_decisions ADD CONSTRAINT no_bogus_status CHECK (status <> 'bogus') NOT VALID"
    )
    try:
        with RunningFlow(W2C, tmp_path, workers=2) as flow:
            _insert_application(wconn, base + 1, "bogus")
            _insert_application(wconn, base + 2)
            ids = [base + 1, base + 2]
            ours = {key, f'{{"citizen_id":{base}}}'.encode(), f'{{"application_id":{base + 1}}}'.encode()}

            def all_ours_arrived() -> bool:
                letters = read_dead_letters(kafka_bootstrap, dlq, from_offset=dlq_start)
                return sum(1 for letter in letters if letter.key in ours) >= len(bad) + 2

            flow.wait(all_ours_arrived, what="dead letters")
            # The good change next to the refused one landed; the flow kept running.
            landed = {(base + 2,): expected_mirror(DECISIONS, wconn, "application_id", [base + 2])[(base + 2,)]}
            flow.wait(converged(DECISIONS, cconn, "application_id", ids, landed), what="the good change")
            letters = list(read_dead_letters(kafka_bootstrap, dlq, from_offset=dlq_start))
            refused = _check_letters(letters, bad, topic, key, base + 1)
            assert flow.metric("smartsync_dead_letters_total", flow=W2C.value) >= len(bad) + 2

            # After the fix, a replay of the refused change lands.
            cconn.execute("ALTER TABLE public.application_decisions DROP CONSTRAINT no_bogus_status")
            assert replay(kafka_bootstrap, refused) == 1
            expected = expected_mirror(DECISIONS, wconn, "application_id", ids)
            flow.wait(converged(DECISIONS, cconn, "application_id", ids, expected), what="replayed change")
            flow.check_alive()
    finally:
        cconn.execute("ALTER TABLE public.application_decisions DROP CONSTRAINT IF EXISTS no_bogus_status")
    _assert_dead_letter_headers(kafka_bootstrap, dlq, dlq_start)


def test_a_target_outage_is_retried_with_nothing_lost(tmp_path: Path, conns: Any) -> None:
    wconn, cconn = conns
    cconn.execute("TRUNCATE public.application_decisions")
    base = random.randrange(10**8, 9 * 10**8)
    before, during = [base + i for i in range(5)], [base + 100 + i for i in range(20)]
    with RunningFlow(W2C, tmp_path, workers=2) as flow:
        for app in before:
            _insert_application(wconn, app)
        expected = expected_mirror(DECISIONS, wconn, "application_id", before)
        flow.wait(converged(DECISIONS, cconn, "application_id", before, expected), what="changes before the outage")
        # The outage: smart_citizen refuses connections and the flow's sessions are cut.
        wconn.execute("ALTER DATABASE smart_citizen WITH ALLOW_CONNECTIONS false")
        try:
            wconn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'smart_citizen' AND application_name = %s",
                (f"smartsync-{W2C.value}",),
            )
            for app in during:
                _insert_application(wconn, app)
            wconn.execute(
                "UPDATE decision.applications SET status = 'approved' WHERE application_id = ANY(%s)", (before,)
            )
            flow.wait(lambda: flow.metric("smartsync_sink_retries_total", flow=W2C.value) >= 2, what="retries")
            assert flow.metric("smartsync_sink_up", flow=W2C.value) == 0
            time.sleep(3)
        finally:
            wconn.execute("ALTER DATABASE smart_citizen WITH ALLOW_CONNECTIONS true")
        everything = before + during
        expected = expected_mirror(DECISIONS, wconn, "application_id", everything)
        flow.wait(converged(DECISIONS, cconn, "application_id", everything, expected), what="catch-up after the outage")
        assert flow.metric("smartsync_sink_up", flow=W2C.value) == 1
        flow.check_alive()


def test_a_missing_target_table_stops_the_flow_with_a_clear_message(tmp_path: Path, conns: Any) -> None:
    wconn, cconn = conns
    base = random.randrange(10**8, 9 * 10**8)
    flow = RunningFlow(W2C, tmp_path, workers=1)
    try:
        with flow:
            flow.wait(lambda: flow.metric("smartsync_sink_up", flow=W2C.value) == 1, what="flow up")
            cconn.execute("ALTER TABLE public.application_decisions RENAME TO application_decisions_away")
            _insert_application(wconn, base)
            deadline = time.monotonic() + 60
            while flow.exit_codes() == [None] and time.monotonic() < deadline:
                time.sleep(0.2)
            codes = flow.exit_codes()
            assert codes != [None] and codes[0] != 0, codes
            assert "stopped: cannot write smart_citizen.public.application_decisions" in flow.logs()
            # Started again while the table is still missing, it refuses at start-up.
            flow.start()
            deadline = time.monotonic() + 60
            while flow.exit_codes() == [None] and time.monotonic() < deadline:
                time.sleep(0.2)
            assert (
                "target table smart_citizen.public.application_decisions of sync 'application_decisions' does not exist"
                in flow.logs()
            )
        # After the fix the flow resumes from recovery and the change that stopped it lands.
        cconn.execute("ALTER TABLE public.application_decisions_away RENAME TO application_decisions")
        with flow:
            expected = expected_mirror(DECISIONS, wconn, "application_id", [base])
            flow.wait(converged(DECISIONS, cconn, "application_id", [base], expected), what="change after the fix")
    finally:
        cconn.execute("ALTER TABLE IF EXISTS public.application_decisions_away RENAME TO application_decisions")
