"""The Debezium PostgreSQL connector configuration, derived from the catalog.

The envelope decoder depends on these settings (decimals as strings, microsecond times,
tombstones after deletes, keys from the catalog's key columns), so they are declared here,
beside the decoder, and every deployment (the local stack, rendered Connect configurations)
takes them from this one function.
"""

from __future__ import annotations

from smartsync.core.catalog import Catalog, Trigger
from smartsync.core.schema import HEARTBEAT_TABLE, PUBLICATION
from smartsync.core.tables import Database

CONNECTOR_NAMES = {Database.WAREHOUSE: "smartsync-warehouse", Database.CITIZEN: "smartsync-citizen"}
CDC_ROLE = "smartsync_cdc"


def heartbeat_topic(database: Database, catalog: Catalog) -> str:
    """The topic of the heartbeat table's change events (a sentinel that the path is live)."""
    return f"{catalog.topic_prefixes[database]}.{HEARTBEAT_TABLE}"


def slot_name(database: Database, catalog: Catalog) -> str:
    return f"smartsync_{catalog.topic_prefixes[database]}"


def connector_config(
    database: Database, catalog: Catalog, *, hostname: str, port: int, user: str = CDC_ROLE, password: str
) -> dict[str, str]:
    """Connector settings for one database. ``password`` may be a config-provider reference."""
    captured = [*catalog.captured_tables(database), HEARTBEAT_TABLE]
    keyed = [
        f"{s.source}:{','.join(s.topic.key_columns)}"
        for s in catalog.syncs
        if s.trigger is Trigger.CDC and s.source_database == database and s.topic is not None
    ]
    return {
        "name": CONNECTOR_NAMES[database],
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "plugin.name": "pgoutput",
        "database.hostname": hostname,
        "database.port": str(port),
        "database.user": user,
        "database.password": password,
        "database.dbname": database.value,
        "topic.prefix": catalog.topic_prefixes[database],
        "slot.name": slot_name(database, catalog),
        "publication.name": PUBLICATION,
        "publication.autocreate.mode": "disabled",
        "table.include.list": ",".join(captured),
        # Messages are keyed (and so partitioned) by the catalog's key columns.
        "message.key.columns": ";".join(keyed),
        # Existing rows are the batch path's job: stream from the slot's creation on.
        "snapshot.mode": "no_data",
        # The envelope decoder reads NUMERIC as decimal strings and times in microseconds.
        "decimal.handling.mode": "string",
        "time.precision.mode": "adaptive_time_microseconds",
        "heartbeat.interval.ms": "10000",
        "heartbeat.action.query": f"UPDATE {HEARTBEAT_TABLE} SET beat_at = now() WHERE id = 1",
        "tombstones.on.delete": "true",
        "max.batch.size": "8192",
        "max.queue.size": "32768",
        "poll.interval.ms": "50",
    }
