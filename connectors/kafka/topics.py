"""The catalog's topics on a Kafka cluster: created with their partition counts, grown when short, checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic

from connectors.debezium.connector import heartbeat_topic
from connectors.kafka.config import admin_config
from smartsync.core.catalog import Catalog, Topic
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


class KafkaUnreachableError(ConfigurationError):
    """The broker did not answer the topic check; callers decide whether that stops them."""

    def __init__(self, bootstrap: str, reason: str) -> None:
        self.bootstrap = bootstrap
        self.reason = reason
        msg = f"Kafka at {bootstrap} is not reachable: {reason}"
        super().__init__(msg, hint="check SMARTSYNC_KAFKA_BOOTSTRAP and that the broker runs")


def check_topics(
    bootstrap: str,
    topics: Sequence[Topic],
    *,
    owners: Mapping[str, str] | None = None,
    hint: str = "create the catalog's topics (`smartsync stack up` does it locally)",
    timeout_s: float = 10.0,
) -> None:
    """Refuse a catalog topic that is missing or has fewer partitions than the catalog says.

    One rule for every client: a topic with more partitions is accepted, as ``create_topics``
    grows a short topic but Kafka can never shrink one. ``owners`` names the sync of a topic in
    the message. Raises ``KafkaUnreachableError`` when the broker does not answer.
    """
    admin = AdminClient(admin_config(bootstrap, log_level=2))
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except Exception as exc:  # noqa: BLE001 — any client failure means the broker is not reachable
        reason = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
        raise KafkaUnreachableError(bootstrap, str(reason)) from None
    owners = owners or {}
    problems = []
    for topic in topics:
        of = f" of sync {owners[topic.name]!r}" if topic.name in owners else ""
        found = existing.get(topic.name)
        if found is None or found.error is not None:
            problems.append(f"topic {topic.name}{of} does not exist on {bootstrap}")
        elif len(found.partitions) < topic.partitions:
            problems.append(
                f"topic {topic.name}{of} has {len(found.partitions)} partitions, the catalog says {topic.partitions}"
            )
    if problems:
        raise ConfigurationError("; ".join(problems), hint=hint)
