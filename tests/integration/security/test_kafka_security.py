"""Kafka on the secure local stack: only SCRAM-SHA-512 over TLS gets in, and SmartSync's own clients do.

The session stack is started ``--secure`` (tests/conftest.py); a reused plaintext stack fails these tests
with the command that gives a secure one.
"""

from __future__ import annotations

import json
import random
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from connectors.callbacks import create_app
from connectors.kafka import config as kafka_config
from dataflows.testing import RunningFlow, converged, expected_mirror
from smartsync.cli.main import app
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import load_settings
from smartsync.devstack.localstack import StackState, security, stack_dir

CAT = load_catalog()
DECISIONS = CAT.sync("application_decisions")


@pytest.fixture(scope="module")
def secure(stack: StackState) -> StackState:
    assert stack.secure, "the running stack is plaintext: `smartsync stack down && smartsync stack up --secure`"
    assert kafka_config.CONFIG_FILE_VAR in stack.env()
    return stack


@pytest.fixture(scope="module")
def topic(secure: StackState) -> Iterator[str]:
    """A topic holding one message, written by a client with the stack's credentials."""
    name = f"smartsync.test.security.{uuid.uuid4().hex[:8]}"
    admin = AdminClient(kafka_config.admin_config(secure.bootstrap))
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)
    producer = Producer(kafka_config.producer_config(secure.bootstrap))
    producer.produce(name, key=b"k", value=b"written with credentials", partition=0)
    assert producer.flush(30) == 0
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(timeout=30)


def _without_security(bootstrap: str, **extra: str) -> dict[str, Any]:
    base = kafka_config.client_config(bootstrap, log_level=0)
    return {**{k: v for k, v in base.items() if not k.startswith(security.SECURITY_PREFIXES)}, **extra}


def _bad_clients(state: StackState) -> dict[str, dict[str, Any]]:
    good = state.kafka_security()
    return {
        "plaintext": _without_security(state.bootstrap),
        "TLS without credentials": _without_security(
            state.bootstrap, **{"security.protocol": "SSL", "ssl.ca.location": good["ssl.ca.location"]}
        ),
        "wrong password": _without_security(state.bootstrap, **{**good, "sasl.password": "not-the-password"}),
    }


@pytest.mark.parametrize("kind", ["plaintext", "TLS without credentials", "wrong password"])
def test_a_client_without_the_credentials_can_neither_produce_nor_consume(
    secure: StackState, topic: str, kind: str
) -> None:
    config = _bad_clients(secure)[kind]
    with pytest.raises(KafkaException):
        AdminClient(config).list_topics(timeout=3)

    outcomes: list[KafkaError | None] = []
    producer = Producer({**config, "message.timeout.ms": 3000})
    producer.produce(topic, value=b"must not land", on_delivery=lambda err, _msg: outcomes.append(err))
    producer.flush(8)
    assert outcomes, "no delivery report"
    assert outcomes[0] is not None, f"a {kind} client produced"

    consumer = Consumer({**config, "group.id": f"smartsync-test-{uuid.uuid4().hex[:6]}"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            assert msg is None or msg.error() is not None, f"a {kind} client read a message"
    finally:
        consumer.close()

    # Nothing the refused producer sent landed: the topic still holds only the one message.
    good = Consumer(kafka_config.consumer_config(secure.bootstrap, group_id="smartsync-tests"))
    try:
        assert good.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 1)
    finally:
        good.close()


def test_a_client_with_the_properties_file_produces_and_consumes(secure: StackState, topic: str) -> None:
    props = kafka_config.security_properties(secure.kafka_config_file)
    assert props["security.protocol"] == "SASL_SSL"
    assert props["sasl.mechanism"] == "SCRAM-SHA-512"
    consumer = Consumer(kafka_config.consumer_config(secure.bootstrap, group_id="smartsync-tests"))
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        msg = consumer.poll(15)
        assert msg is not None
        assert msg.error() is None
        assert msg.value() == b"written with credentials"
    finally:
        consumer.close()


def test_the_flow_and_the_callback_producer_work_on_the_secure_stack(
    secure: StackState, tmp_path: Path, warehouse_dsn: str, citizen_dsn: str
) -> None:
    base = random.randrange(10**8, 9 * 10**8)
    forecast_id = str(uuid.uuid4())
    token = next(iter(json.loads(secure.env()["SMARTSYNC_CALLBACK_TOKENS"]).values()))
    with TestClient(create_app(load_settings()), headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.post(
            "/v1/callbacks/benefit-forecasts",
            json={
                "forecast_id": forecast_id,
                "citizen_id": base,
                "scheme_code": "OLD_AGE_PENSION",
                "forecast_amount": 100.0,
                "forecast_period": "2027-Q1",
                "confidence": "0.5",
                "generated_at": "2026-11-21T09:30:00+05:30",
            },
        )
    # 202 comes only after the broker confirmed the write.
    assert response.status_code == 202, response.text

    with psycopg.connect(warehouse_dsn, autocommit=True) as wconn, psycopg.connect(citizen_dsn, autocommit=True) as cc:
        wconn.execute(
            "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
            "VALUES (%s, %s, 'OAP', 'pending', 0.5000)",
            (base, base),
        )
        expected = expected_mirror(DECISIONS, wconn, "application_id", [base])
        # The flow's processes get the stack's settings, the Kafka properties file among them, from the environment.
        with RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path) as flow:
            flow.wait(converged(DECISIONS, cc, "application_id", [base], expected), what="the application")

            def forecast_landed() -> bool:
                row = cc.execute(
                    "SELECT count(*) FROM public.benefit_forecasts WHERE forecast_id = %s", (forecast_id,)
                ).fetchone()
                return row is not None and row[0] == 1

            flow.wait(forecast_landed, what="the callback's forecast")
            assert flow.exit_codes() == [None]


def test_the_secrets_are_private_files_and_never_printed(secure: StackState) -> None:
    run = stack_dir()
    private = [
        Path(secure.kafka_config_file),
        security.broker_key_file(run),
        security.tls_dir(run) / "ca.key",
        run / "kafka-users.json",
        run / "server.properties",
        run / "connect-worker.properties",
    ]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    passwords = list(security.kafka_users(run).values())
    for command in (["stack", "status"], ["stack", "env"]):
        result = CliRunner().invoke(app, command, env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert not any(p in result.output for p in passwords), command
    env_lines = CliRunner().invoke(app, ["stack", "env"]).output
    assert f"export SMARTSYNC_KAFKA_CONFIG_FILE={secure.kafka_config_file}" in env_lines
