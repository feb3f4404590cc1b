"""smartsync monitor against the real stack: a change on Kafka that no flow delivers is lag.

No flow runs in these tests, which is exactly a frozen flow: Debezium puts the source change on
Kafka and nothing writes it to the target. The monitor must see its age pass 60 s within 75 s;
once the change is in the target (written by the sinks' own apply_changes), the lag is 0. The monitor runs as
``smartsync monitor`` does: as smartsync_monitor where the session's stack exports its DSNs (``_monitor_settings``).
"""

from __future__ import annotations

import os
import random
import time

import psycopg
import pytest
from confluent_kafka import TopicPartition
from prometheus_client import REGISTRY
from psycopg.conninfo import conninfo_to_dict

from connectors.postgres.apply import apply_changes
from smartsync.core.catalog import load_catalog
from smartsync.core.roles import MONITOR_ROLE
from smartsync.core.settings import Settings, load_settings
from smartsync.core.tables import Database
from smartsync.monitoring.exporter import Monitor
from tests.integration.reconcile.reconcile_fixtures import PROFILE_360, execute

SYNC = "profile_summary"


def _wait_for_marker(monitor: Monitor, key: int, timeout_s: float = 60.0) -> tuple[float, object]:
    """Poll until the monitor holds the change of ``key`` as undelivered; its Kafka time and the change."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        monitor.poll()
        lag = monitor._lag
        assert lag is not None
        for state in lag.states.values():
            if state.marker is not None and state.marker.change.change.key == (key,):
                return state.marker.kafka_ts, state.marker.change
        time.sleep(0.5)
    pytest.fail(f"the change of key {key} never showed up as undelivered on Kafka")


def _skip_history(monitor: Monitor) -> None:
    """Start every partition at its current end, as if everything before had been delivered."""
    lag = monitor._lag
    assert lag is not None
    for (topic, partition), state in lag.states.items():
        _, high = lag.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        state.checked, state.marker = high, None


def _monitor_settings() -> Settings:
    """What `smartsync monitor` runs with: its own role when SMARTSYNC_MONITOR_*_DSN are set (the session's stack)."""
    settings = load_settings(component="monitor")
    if os.environ.get("SMARTSYNC_MONITOR_CITIZEN_DSN"):
        assert conninfo_to_dict(settings.dsn(Database.CITIZEN))["user"] == MONITOR_ROLE
        assert conninfo_to_dict(settings.dsn(Database.WAREHOUSE))["user"] == MONITOR_ROLE
    return settings


def _gauge(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_an_undelivered_change_is_lag_and_a_delivered_one_is_not(warehouse_dsn: str, citizen_dsn: str) -> None:
    settings = _monitor_settings()
    catalog = load_catalog()
    key = random.randint(200_000, 260_000)
    clock = [time.time()]
    monitor = Monitor(catalog, settings, clock=lambda: clock[0])
    try:
        monitor.poll()
        _skip_history(monitor)  # earlier tests' undelivered changes are not this test's
        execute(warehouse_dsn, PROFILE_360, {"lo": key, "hi": key})
        kafka_ts, change = _wait_for_marker(monitor, key)

        # A frozen flow: 75 s after the change reached Kafka its age is past the 60 s warning.
        clock[0] = kafka_ts + 75
        monitor.poll()
        assert (_gauge("smartsync_sync_lag_seconds", {"sync": SYNC}) or 0) >= 75 - 1
        assert _gauge("smartsync_monitor_check_up", {"check": "sync_lag"}) == 1
        topic = catalog.sync(SYNC).topic
        assert topic is not None
        offsets = [
            _gauge("smartsync_kafka_offset_lag", {"topic": topic.name, "partition": str(p)}) or 0
            for p in range(topic.partitions)
        ]
        assert sum(offsets) >= 1

        # The sink writes it: caught up, lag 0.
        assert monitor._lag is not None
        decoder = monitor._lag.decoders[SYNC]
        with psycopg.connect(citizen_dsn) as conn:
            apply_changes(conn, decoder.target, [change.change])  # type: ignore[attr-defined]
        monitor.poll()
        assert _gauge("smartsync_sync_lag_seconds", {"sync": SYNC}) == 0
        # The target positions were read in the monitor's own session.
        user = monitor._lag.targets._conn(Database.CITIZEN).execute("SELECT current_user").fetchone()
        assert user == (conninfo_to_dict(settings.dsn(Database.CITIZEN))["user"],)
    finally:
        monitor.close()
        with psycopg.connect(citizen_dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM public.profile_summary WHERE citizen_id = %s", (key,))
        with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
            conn.execute("DELETE FROM public.profile_360 WHERE citizen_id = %s", (key,))


def test_connectors_and_slots_are_measured() -> None:
    monitor = Monitor(load_catalog(), _monitor_settings())
    try:
        monitor.poll()
    finally:
        monitor.close()
    for check in ("connect", "smart_warehouse", "smart_citizen"):
        assert _gauge("smartsync_monitor_check_up", {"check": check}) == 1, check
    assert _gauge("smartsync_cdc_connector_running", {"connector": "smartsync-warehouse"}) == 1
    assert _gauge("smartsync_cdc_task_running", {"connector": "smartsync-warehouse", "task": "0"}) == 1
    retained = _gauge(
        "smartsync_replication_slot_retained_bytes", {"database": "smart_warehouse", "slot": "smartsync_warehouse"}
    )
    assert retained is not None and retained >= 0


def test_an_unreachable_broker_is_a_failed_check_not_a_healthy_zero() -> None:
    settings = _monitor_settings().model_copy(update={"kafka_bootstrap": "127.0.0.1:9", "connect_url": ""})
    monitor = Monitor(load_catalog(), settings)
    try:
        monitor.poll()
    finally:
        monitor.close()
    assert _gauge("smartsync_monitor_check_up", {"check": "sync_lag"}) == 0
    assert _gauge("smartsync_sync_lag_seconds", {"sync": SYNC}) is None
