"""Metrics of ``smartsync monitor``: what the flows cannot report about themselves.

Declared at module level so docs/metrics.md lists them; only the monitor process sets them.
"""

from __future__ import annotations

from prometheus_client import Gauge

SYNC_LAG = Gauge(
    "smartsync_sync_lag_seconds",
    "Age of the oldest change on Kafka the sync's target does not have yet (0 when caught up)",
    ["sync"],
)
OFFSET_LAG = Gauge(
    "smartsync_kafka_offset_lag",
    "Messages of a partition from its oldest change not yet in the target to the end of the partition",
    ["topic", "partition"],
)
CONNECTOR_RUNNING = Gauge(
    "smartsync_cdc_connector_running", "1 when the Debezium connector is RUNNING (Connect REST API)", ["connector"]
)
TASK_RUNNING = Gauge(
    "smartsync_cdc_task_running", "1 when the connector's task is RUNNING (Connect REST API)", ["connector", "task"]
)
SLOT_RETAINED = Gauge(
    "smartsync_replication_slot_retained_bytes",
    "WAL the replication slot keeps on its database (pg_current_wal_lsn - restart_lsn)",
    ["database", "slot"],
)
SLOT_CONFIRMED_LAG = Gauge(
    "smartsync_replication_slot_confirmed_lag_bytes",
    "WAL written but not yet confirmed by the slot's consumer (pg_current_wal_lsn - confirmed_flush_lsn)",
    ["database", "slot"],
)
SLOT_ACTIVE = Gauge("smartsync_replication_slot_active", "1 when a consumer holds the slot", ["database", "slot"])
CHECK_UP = Gauge(
    "smartsync_monitor_check_up",
    "1 when the monitor's last look at a system succeeded (kafka, connect, ...)",
    ["check"],
)
