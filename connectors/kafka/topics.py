"""The catalog's topics on a Kafka cluster: created with their partition counts, grown when short."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic

from connectors.debezium.connector import heartbeat_topic
from connectors.kafka.config import admin_config
from smartsync.core.catalog import Catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.tables import Database


def wanted_topics(catalog: Catalog) -> dict[str, int]:
    """Every topic SmartSync reads or writes, with its partition count."""
    wanted = {t.name: t.partitions for t in catalog.topics()}
    wanted.update({heartbeat_topic(db, catalog): 1 for db in Database})
    return wanted


def create_topics(bootstrap: str, catalog: Catalog, *, replication_factor: int = 1) -> None:
    """Create every catalog topic with its partition count; grow ones that have fewer."""
    admin = AdminClient(admin_config(bootstrap, log_level=3))
    wanted = wanted_topics(catalog)
    existing = admin.list_topics(timeout=10).topics
    missing = [
        NewTopic(name, num_partitions=n, replication_factor=replication_factor)
        for name, n in wanted.items()
        if name not in existing
    ]
    if missing:
        for name, fut in admin.create_topics(missing, operation_timeout=30).items():
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    msg = f"could not create topic {name}: {exc}"
                    raise ConfigurationError(msg, hint="check the broker's log and the client's ACLs") from None
    grow = [
        NewPartitions(name, n) for name, n in wanted.items() if name in existing and len(existing[name].partitions) < n
    ]
    if grow:
        for name, fut in admin.create_partitions(grow).items():
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001
                msg = f"could not add partitions to topic {name}: {exc}"
                raise ConfigurationError(msg, hint="check the broker's log and the client's ACLs") from None
