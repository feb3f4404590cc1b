"""The configuration of every Kafka client SmartSync makes, built in one place.

Flow consumers, the dead-letter and callback producers, admin clients, topic scanners and the
dead-letter reader all start from ``client_config``, so connection-wide settings (the brokers
today; TLS and SASL later) are added here once and reach every client.

librdkafka's keys contain dots, so overrides are passed as a mapping:
``consumer_config(bootstrap, group_id="g", **{"enable.auto.commit": False})``.
"""

from __future__ import annotations

from typing import Any


def client_config(bootstrap: str, *, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """What every client needs to reach the cluster, plus the caller's own properties."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap}
    if client_id is not None:
        config["client.id"] = client_id
    config.update(overrides)
    return config


def producer_config(bootstrap: str, *, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A durable, ordered producer that partitions as Kafka's Java clients (and so Debezium) do."""
    return client_config(
        bootstrap,
        client_id=client_id,
        **{
            "acks": "all",
            "enable.idempotence": True,
            # Same function as Java's default partitioner for non-null keys, so a key lands on
            # the partition a Java client (or Debezium) would pick.
            "partitioner": "murmur2_random",
            **overrides,
        },
    )


def consumer_config(
    bootstrap: str, *, group_id: str | None = None, client_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A consumer; ``group_id`` is optional because Bytewax's source sets its own."""
    extra: dict[str, Any] = {} if group_id is None else {"group.id": group_id}
    return client_config(bootstrap, client_id=client_id, **extra, **overrides)


def admin_config(bootstrap: str, *, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An admin client (topic listing, creation, partition growth)."""
    return client_config(bootstrap, client_id=client_id, **overrides)
