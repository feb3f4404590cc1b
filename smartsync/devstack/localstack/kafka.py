"""Kafka (KRaft) and Kafka Connect with the Debezium connectors, and the sentinel change that proves CDC flows."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.debezium.connector import CONNECTOR_NAMES, connector_config, heartbeat_topic
from connectors.kafka import config as kafka_config
from smartsync.core.catalog import Catalog
from smartsync.core.errors import StackError
from smartsync.core.files import write_private
from smartsync.core.schema import HEARTBEAT_TABLE
from smartsync.core.tables import Database
from smartsync.devstack.localstack import security
from smartsync.devstack.localstack.java import LIB, _java_cmd
from smartsync.devstack.localstack.processes import _alive, _listening, _spawn, _wait_for
from smartsync.devstack.localstack.state import Progress, StackState, _write_state, stack_dir


def _start_kafka(state: StackState, progress: Progress) -> None:
    if _alive(state.pids.get("kafka")) and _listening(state.kafka_port):
        return
    run = stack_dir()
    data = run / "kafka-data"
    props = run / "server.properties"
    users = security.kafka_users(run) if state.secure else {}
    if state.secure:
        security.ensure_certificates(run)
        # The client listener is SASL_SSL only: a secure stack has no plaintext port for clients.
        listener = [
            f"listeners=SASL_SSL://127.0.0.1:{state.kafka_port},CONTROLLER://127.0.0.1:{state.controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{state.kafka_port}",
            "inter.broker.listener.name=SASL_SSL",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            *security.broker_properties(run, users),
        ]
    else:
        listener = [
            f"listeners=PLAINTEXT://127.0.0.1:{state.kafka_port},CONTROLLER://127.0.0.1:{state.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{state.kafka_port}",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        ]
    # server.properties holds the broker's own SCRAM password when secure.
    write_private(
        props,
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{state.controller_port}",
                *listener,
                "controller.listener.names=CONTROLLER",
                f"log.dirs={data}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=5",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # Catalog topics are created with their partition counts before Connect starts;
                # Debezium's heartbeat topics are created on first use.
                "auto.create.topics.enable=true",
                "log.retention.hours=168",
                "",
            ]
        ),
    )
    log = run / "logs" / "kafka.log"
    formatted_as = {"secure": state.secure, "users": security.users_fingerprint(users) if users else ""}
    marker = run / "kafka-format.json"
    if (data / "meta.properties").exists() and _formatted_as(marker) != formatted_as:
        # SCRAM users live in the cluster's metadata, written at format time: data formatted for
        # another security mode or other passwords could never be logged into.
        progress("Kafka's data was formatted for other credentials: formatting it again (topics are recreated)")
        shutil.rmtree(data)
    if not (data / "meta.properties").exists():
        progress("formatting Kafka storage (KRaft)" + (" with its SCRAM users" if users else ""))
        cid = _cluster_id()
        scram = security.scram_format_args(users) if users else []
        done = subprocess.run(  # noqa: S603
            _java_cmd(
                "256m",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cid,
                "-c",
                str(props),
                "--ignore-formatted",
                *scram,
                log=log,
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()
            for password in users.values():
                output = output.replace(password, "***")
            msg = f"Kafka storage format failed: {output[-300:]}"
            raise StackError(msg, hint=f"delete {data} and retry")
        write_private(marker, json.dumps(formatted_as))
    kind = "SASL_SSL, SCRAM-SHA-512" if state.secure else "PLAINTEXT, no authentication"
    progress(f"starting Kafka (KRaft) on {state.bootstrap} ({kind})")
    state.pids["kafka"] = _spawn(_java_cmd("512m", "kafka.Kafka", str(props), log=log), run / "logs" / "kafka.out")
    _write_state(state)
    _wait_for("Kafka broker", lambda: _alive(state.pids["kafka"]) and _broker_ready(state), 60, log)


def _formatted_as(marker: Path) -> dict[str, object]:
    # A data folder formatted before the marker existed was formatted for the plaintext stack.
    try:
        found: dict[str, object] = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {"secure": False, "users": ""}
    return found


def _formatted_secure() -> bool:
    """Whether this stack folder's Kafka data was last formatted for the secure stack."""
    run = stack_dir()
    formatted = (run / "kafka-data" / "meta.properties").exists()
    return formatted and _formatted_as(run / "kafka-format.json")["secure"] is True


def stack_client_config(state: StackState, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (from ``connectors.kafka.config``) with this stack's security, whatever the environment names.

    The stack's own clients (readiness, topics, the sentinel) run before ``smartsync stack env`` is in effect.
    """
    plain = {k: v for k, v in config.items() if not k.startswith(security.SECURITY_PREFIXES)}
    return {**plain, **state.kafka_security()}


def connect_worker_security(state: StackState) -> list[str]:
    """The security lines of a Connect worker on this stack (empty for a plaintext stack); they hold a password."""
    if not state.secure:
        return []
    run = stack_dir()
    return security.connect_worker_properties(run, security.kafka_users(run))


def _cluster_id() -> str:
    """A KRaft cluster id as Kafka makes them: base64url of a UUID, never starting with '-'
    (the storage tool would read that as an option)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _broker_ready(state: StackState) -> bool:
    if not _listening(state.kafka_port):
        return False
    try:
        config = stack_client_config(state, kafka_config.admin_config(state.bootstrap, log_level=3))
        meta = AdminClient(config).list_topics(timeout=2)
    except Exception:  # noqa: BLE001 — any failure means "not yet"
        return False
    return bool(meta.brokers)


def _start_connect(state: StackState, catalog: Catalog, progress: Progress) -> None:
    if _alive(state.pids.get("connect")) and _connectors_running(state):
        return
    run = stack_dir()
    worker = run / "connect-worker.properties"
    # 0600: a secure stack's worker file holds Connect's SCRAM password.
    write_private(
        worker,
        "\n".join(
            [
                f"bootstrap.servers={state.bootstrap}",
                *connect_worker_security(state),
                "key.converter=org.apache.kafka.connect.json.JsonConverter",
                "value.converter=org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable=false",
                "value.converter.schemas.enable=false",
                f"offset.storage.file.filename={run / 'connect.offsets'}",
                "offset.flush.interval.ms=1000",
                f"plugin.path={LIB / 'connect-plugins'}",
                "plugin.discovery=hybrid_warn",
                f"listeners=http://127.0.0.1:{state.connect_port}",
                "producer.linger.ms=5",
                "producer.compression.type=lz4",
                "",
            ]
        ),
    )
    connector_files = []
    for db in Database:
        path = run / f"connector-{db.value}.properties"
        config = connector_config(db, catalog, hostname="127.0.0.1", port=state.pg_port, password=state.cdc_password)
        write_private(path, "".join(f"{k}={v}\n" for k, v in config.items()))
        connector_files.append(str(path))
    progress("starting Kafka Connect with the Debezium PostgreSQL connectors")
    log = run / "logs" / "connect.log"
    cmd = _java_cmd("768m", "org.apache.kafka.connect.cli.ConnectStandalone", str(worker), *connector_files, log=log)
    state.pids["connect"] = _spawn(cmd, run / "logs" / "connect.out")
    _write_state(state)
    _wait_for("Kafka Connect", lambda: _alive(state.pids["connect"]) and _connectors_running(state), 90, log)


def _connectors_running(state: StackState) -> bool:
    for name in CONNECTOR_NAMES.values():
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{state.connect_port}/connectors/{name}/status", timeout=2
            ) as resp:
                status = json.loads(resp.read())
        except (OSError, ValueError):
            return False
        tasks = status.get("tasks", [])
        if status.get("connector", {}).get("state") != "RUNNING" or not tasks:
            return False
        if any(t.get("state") == "FAILED" for t in tasks):
            trace = tasks[0].get("trace", "").splitlines()[:1]
            msg = f"Debezium connector {name} failed: {trace}"
            raise StackError(msg, hint=f"see {stack_dir() / 'logs' / 'connect.log'}")
        if any(t.get("state") != "RUNNING" for t in tasks):
            return False
    return True


def wait_for_sentinel(state: StackState, catalog: Catalog, timeout: float = 60) -> float:
    """Update the heartbeat row in both databases and wait for both changes on Kafka."""
    started = time.monotonic()
    token = secrets.token_hex(8)
    topics = {db: heartbeat_topic(db, catalog) for db in Database}
    consumer = Consumer(
        stack_client_config(
            state,
            kafka_config.consumer_config(
                state.bootstrap, group_id=f"smartsync-sentinel-{token}", **{"enable.auto.commit": "false"}
            ),
        )
    )
    try:
        # Start from the end of each topic, so only a change made now counts.
        parts = []
        for topic in topics.values():
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            parts.append(TopicPartition(topic, 0, high))
        consumer.assign(parts)
        stamp = f"2000-01-01 00:00:{int(token[:4], 16) % 60:02d}+00"
        seen: set[str] = set()
        last_poke = 0.0
        while time.monotonic() - started < timeout:
            if time.monotonic() - last_poke > 3:
                # Re-poke until seen: the first change may land before the slot exists.
                for db, topic in topics.items():
                    if topic not in seen:
                        with psycopg.connect(state.dsn(db), autocommit=True) as conn:
                            conn.execute(f"UPDATE {HEARTBEAT_TABLE} SET beat_at = %s WHERE id = 1", (stamp,))
                last_poke = time.monotonic()
            msg = consumer.poll(0.5)
            if msg is None or msg.error() or msg.value() is None:
                continue
            after = (json.loads(msg.value() or b"null") or {}).get("after") or {}
            if str(after.get("beat_at", "")).startswith("2000-01-01T00:00:"):
                seen.add(str(msg.topic()))
            if len(seen) == len(topics):
                return time.monotonic() - started
    finally:
        consumer.close()
    msg_0 = f"no change event reached Kafka within {timeout:.0f}s"
    raise StackError(msg_0, hint=f"see {stack_dir() / 'logs' / 'connect.log'}")
