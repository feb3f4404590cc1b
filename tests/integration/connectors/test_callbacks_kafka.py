"""The callback API against the real broker: confirmed writes on the Java partition, 422, 503."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from fastapi.testclient import TestClient

from connectors.callbacks import create_app
from connectors.callbacks.producer import check_topics
from connectors.kafka import config as kafka_config
from connectors.kafka.partitioning import partition_for
from smartsync.core.catalog import Catalog, Topic, load_catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.settings import load_settings
from smartsync.devstack.localstack import StackState

FORECASTS = "/v1/callbacks/benefit-forecasts"
ALERTS = "/v1/callbacks/ml-alerts"


def topic_of(sync: str) -> Topic:
    topic = load_catalog().sync(sync).topic
    assert topic is not None
    return topic


def _auth() -> dict[str, str]:
    """The stack's local caller (``smartsync stack env`` exports its token)."""
    token = next(iter(json.loads(os.environ["SMARTSYNC_CALLBACK_TOKENS"]).values()))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client(stack: StackState) -> Iterator[TestClient]:
    with TestClient(create_app(load_settings()), headers=_auth()) as test_client:
        yield test_client


@pytest.fixture
def consumer(kafka_bootstrap: str) -> Iterator[Consumer]:
    c = Consumer(
        kafka_config.consumer_config(
            kafka_bootstrap,
            group_id=f"test-callbacks-{uuid.uuid4()}",
            **{"enable.auto.commit": False, "isolation.level": "read_committed"},
        )
    )
    yield c
    c.close()


def read_at(consumer: Consumer, topic: str, partition: int, offset: int) -> Any:
    consumer.assign([TopicPartition(topic, partition, offset)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        return msg
    pytest.fail(f"nothing at {topic}[{partition}]@{offset}")


def high_watermarks(consumer: Consumer, topic: Topic) -> list[int]:
    return [
        consumer.get_watermark_offsets(TopicPartition(topic.name, p), timeout=10)[1] for p in range(topic.partitions)
    ]


def forecast(citizen_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "forecast_id": str(uuid.uuid4()),
        "citizen_id": citizen_id,
        "scheme_code": "OLD_AGE_PENSION",
        "forecast_amount": 18000.5,
        "forecast_period": "2027-Q1",
        "confidence": "0.87",
        "generated_at": "2026-11-21T09:30:00+05:30",
    }
    body.update(overrides)
    return body


def alert(citizen_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "alert_id": str(uuid.uuid4()),
        "citizen_id": citizen_id,
        "source_model": "AI-PLATFORM-07",
        "alert_type": "beneficiary_detection",
        "severity": "medium",
        "message": "Possible unclaimed benefit",
    }
    body.update(overrides)
    return body


def test_a_forecast_is_written_to_its_topic_on_the_partition_for(client: TestClient, consumer: Consumer) -> None:
    topic = topic_of("benefit_forecasts")
    citizen = 4_000_000_000_123
    body = forecast(citizen)
    response = client.post(FORECASTS, json=body)
    assert response.status_code == 202, response.text
    ack = response.json()
    key = json.dumps({"citizen_id": citizen}, separators=(",", ":")).encode()
    assert ack["topic"] == topic.name
    assert ack["partition"] == partition_for(key, topic.partitions)
    # The 202 carries the offset the broker assigned: it was sent after the write was confirmed,
    # and the write is already readable (below the high watermark) when the answer arrives.
    low, high = consumer.get_watermark_offsets(TopicPartition(topic.name, ack["partition"]), timeout=10)
    assert low <= ack["offset"] < high
    msg = read_at(consumer, topic.name, ack["partition"], ack["offset"])
    assert msg.key() == key
    value = json.loads(msg.value())
    assert value["op"] == "c"
    assert value["before"] is None
    assert value["source"] == {"connector": "callback", "sync": "benefit_forecasts", "ts_us": ack["accepted_at_us"]}
    assert value["after"] == {
        "forecast_id": body["forecast_id"],
        "citizen_id": citizen,
        "scheme_code": "OLD_AGE_PENSION",
        "forecast_amount": "18000.50",
        "forecast_period": "2027-Q1",
        "confidence": "0.870",
        "generated_at": "2026-11-21T04:00:00+00:00",
    }


def test_an_alert_is_written_to_its_topic_on_the_partition_for(client: TestClient, consumer: Consumer) -> None:
    topic = topic_of("ml_alerts")
    body = alert(31337)
    before_us = time.time_ns() // 1000
    response = client.post(ALERTS, json=body)
    assert response.status_code == 202, response.text
    ack = response.json()
    assert ack["topic"] == topic.name
    assert ack["partition"] == partition_for(b'{"citizen_id":31337}', topic.partitions)
    msg = read_at(consumer, topic.name, ack["partition"], ack["offset"])
    value = json.loads(msg.value())
    assert value["after"]["alert_id"] == body["alert_id"]
    assert value["after"]["severity"] == "medium"
    assert value["after"]["source_model"] == "AI-PLATFORM-07"
    assert before_us <= value["source"]["ts_us"] == ack["accepted_at_us"]


def test_many_citizens_land_where_java_clients_put_them(client: TestClient, consumer: Consumer) -> None:
    topic = topic_of("benefit_forecasts")
    citizens = [*range(1, 41), 2**40 + 7, 2**62 + 11]
    response = client.post(f"{FORECASTS}/batch", json=[forecast(c) for c in citizens])
    assert response.status_code == 202, response.text
    items = response.json()["items"]
    assert [json.loads(i["key"])["citizen_id"] for i in items] == citizens
    for citizen, item in zip(citizens, items, strict=True):
        key = f'{{"citizen_id":{citizen}}}'.encode()
        assert item["partition"] == partition_for(key, topic.partitions), citizen
    assert len({i["partition"] for i in items}) == topic.partitions
    last = items[-1]
    assert read_at(consumer, topic.name, last["partition"], last["offset"]).key() == last["key"].encode()


def test_a_citizens_callbacks_keep_their_order(client: TestClient, consumer: Consumer) -> None:
    topic = topic_of("ml_alerts")
    bodies = [alert(555, message=f"step {i}") for i in range(10)]
    response = client.post(f"{ALERTS}/batch", json=bodies)
    assert response.status_code == 202, response.text
    items = response.json()["items"]
    assert len({i["partition"] for i in items}) == 1
    offsets = [i["offset"] for i in items]
    assert offsets == sorted(offsets)
    first = items[0]
    consumer.assign([TopicPartition(topic.name, first["partition"], first["offset"])])
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while len(seen) < 10 and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and msg.error() is None and msg.key() == b'{"citizen_id":555}':
            seen.append(json.loads(msg.value() or b"null")["after"]["message"])
    assert seen == [f"step {i}" for i in range(10)]


def test_a_bad_payload_gets_422_and_writes_nothing(client: TestClient, consumer: Consumer) -> None:
    topic = topic_of("benefit_forecasts")
    before = high_watermarks(consumer, topic)
    response = client.post(FORECASTS, json=forecast(0, confidence=1.5))
    assert response.status_code == 422
    assert {p["field"] for p in response.json()["detail"]} == {"citizen_id", "confidence"}
    assert high_watermarks(consumer, topic) == before


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_broker_gets_503_not_a_hang(stack: StackState) -> None:
    settings = load_settings().model_copy(update={"kafka_bootstrap": f"127.0.0.1:{_closed_port()}"})
    with TestClient(create_app(settings, ack_timeout_s=1.0), headers=_auth()) as unreachable:
        response = unreachable.post(ALERTS, json=alert(42))
        assert response.status_code == 503
        assert "Kafka did not confirm the write to callbacks.ml_alerts" in response.json()["detail"]
        assert response.headers["retry-after"] == "1"
        assert unreachable.get("/healthz").json()["status"] == "degraded"


def test_a_frozen_broker_gets_503_and_writes_resume_after(stack: StackState) -> None:
    # A broker that keeps its connections open but stops answering (SIGSTOP): the nastier outage.
    kafka_pid = stack.pids["kafka"]
    with TestClient(create_app(load_settings(), ack_timeout_s=2.0), headers=_auth()) as frozen:
        assert frozen.post(ALERTS, json=alert(6)).status_code == 202
        os.kill(kafka_pid, signal.SIGSTOP)
        try:
            response = frozen.post(ALERTS, json=alert(6))
            health = frozen.get("/healthz").json()
        finally:
            os.kill(kafka_pid, signal.SIGCONT)
        assert response.status_code == 503
        assert "Message timed out" in response.json()["detail"]
        assert health["kafka"] == "down"
        deadline = time.monotonic() + 60
        while (status := frozen.post(ALERTS, json=alert(6)).status_code) != 202 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 202
        assert frozen.get("/healthz").json()["kafka"] == "up"


def test_the_catalog_topics_exist_with_their_partition_counts(kafka_bootstrap: str) -> None:
    assert check_topics(kafka_bootstrap, load_catalog(), ["benefit_forecasts", "ml_alerts"]) is None


def test_a_topic_with_other_partition_counts_is_refused(kafka_bootstrap: str) -> None:
    catalog = load_catalog()
    syncs = tuple(
        s.model_copy(update={"topic": s.topic.model_copy(update={"partitions": s.topic.partitions + 1})})
        if s.name == "ml_alerts" and s.topic is not None
        else s
        for s in catalog.syncs
    )
    drifted: Catalog = catalog.model_copy(update={"syncs": syncs})
    with pytest.raises(ConfigurationError, match="the catalog says"):
        check_topics(kafka_bootstrap, drifted, ["ml_alerts"])


def test_the_serve_command_answers_over_http(kafka_bootstrap: str) -> None:
    port = _closed_port()
    exe = Path(sys.executable).parent / "smartsync"
    proc = subprocess.Popen(  # noqa: S603 — our own CLI
        [str(exe), "callbacks", "serve", "--port", str(port)],
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.2)
        assert httpx.post(f"{base}{ALERTS}", json=alert(8), timeout=30).status_code == 401
        response = httpx.post(f"{base}{ALERTS}", json=alert(8), headers=_auth(), timeout=30)
        assert response.status_code == 202, response.text
        assert response.json()["topic"] == topic_of("ml_alerts").name
        assert httpx.post(f"{base}{ALERTS}", json=alert(-8), headers=_auth(), timeout=30).status_code == 422
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'smartsync_callbacks_received_total{outcome="accepted",sync="ml_alerts"} 1.0' in metrics
        assert 'smartsync_callbacks_received_total{outcome="invalid",sync="ml_alerts"} 1.0' in metrics
        assert 'smartsync_callback_ack_seconds_count{sync="ml_alerts"} 1.0' in metrics
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
