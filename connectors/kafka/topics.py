"""The catalog's topics on a Kafka cluster: created with their partition counts, grown when short, checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported at run time, not marked so
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from confluent_kafka.cimpl import NewPartitions, NewTopic
from pydantic import BaseModel, ConfigDict

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


def topic_configs(*, min_insync_replicas: int | None = None) -> dict[str, str]:
    """Topic-level settings SmartSync sets on its topics (the broker's defaults otherwise)."""
    return {} if min_insync_replicas is None else {"min.insync.replicas": str(min_insync_replicas)}


class TopicAction(BaseModel):
    """What ``create_topics`` does (or, dry, would do) to one topic."""

    model_config = ConfigDict(frozen=True)

    topic: str
    action: Literal["create", "grow", "configure", "unchanged"]
    partitions: int  # the catalog's count
    current_partitions: int | None = None  # None: the topic does not exist yet
    replication_factor: int  # wanted (create) or found (existing)
    configs: dict[str, str] = {}  # settings created with or changed to
    warning: str | None = None  # e.g. an existing topic with fewer replicas than asked for


class TopicPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    bootstrap: str
    replication_factor: int
    applied: bool
    actions: tuple[TopicAction, ...]

    @property
    def changes(self) -> tuple[TopicAction, ...]:
        return tuple(a for a in self.actions if a.action != "unchanged")


def _fail(name: str, exc: Exception, *, doing: str) -> ConfigurationError:
    msg = f"could not {doing} topic {name}: {exc}"
    return ConfigurationError(msg, hint="check the broker's log and the client's ACLs")


def _current_configs(admin: AdminClient, names: Sequence[str], keys: Sequence[str]) -> dict[str, dict[str, str]]:
    if not names or not keys:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, str]] = {}
    for resource, fut in admin.describe_configs(resources).items():
        try:
            entries = fut.result()
        except Exception as exc:  # noqa: BLE001
            raise _fail(resource.name, exc, doing="describe") from None
        found[resource.name] = {k: entries[k].value for k in keys if k in entries}
    return found


def create_topics(
    bootstrap: str,
    catalog: Catalog,
    *,
    replication_factor: int = 1,
    min_insync_replicas: int | None = None,
    dry_run: bool = False,
) -> TopicPlan:
    """Create every catalog topic with its partition count; grow ones that have fewer.

    ``min_insync_replicas`` is set on new topics and changed on existing ones that differ. An
    existing topic's replication factor is never changed here (that is a partition reassignment):
    one with fewer replicas than asked for gets a warning. ``dry_run`` only plans.
    """
    if min_insync_replicas is not None and not 1 <= min_insync_replicas <= replication_factor:
        msg = (
            f"min.insync.replicas {min_insync_replicas} must be between 1 and "
            f"the replication factor {replication_factor}"
        )
        raise ConfigurationError(msg, hint="a producer with acks=all could never write; lower it")
    admin = AdminClient(admin_config(bootstrap, log_level=3))
    wanted = wanted_topics(catalog)
    configs = topic_configs(min_insync_replicas=min_insync_replicas)
    try:
        existing = admin.list_topics(timeout=10).topics
    except Exception as exc:  # noqa: BLE001 — any client failure means the broker is not reachable
        reason = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
        raise KafkaUnreachableError(bootstrap, str(reason)) from None
    present = [name for name in wanted if name in existing and existing[name].error is None]
    current = _current_configs(admin, present, list(configs))
    actions = []
    for name, partitions in wanted.items():
        if name not in present:
            actions.append(
                TopicAction(
                    topic=name,
                    action="create",
                    partitions=partitions,
                    replication_factor=replication_factor,
                    configs=configs,
                )
            )
            continue
        found = existing[name].partitions
        replicas = min((len(p.replicas) for p in found.values()), default=0)
        warning = None
        if replicas < replication_factor:
            warning = f"has {replicas} replicas, {replication_factor} asked for: reassign its partitions"
        differing = {k: v for k, v in configs.items() if current.get(name, {}).get(k) != v}
        action: Literal["grow", "configure", "unchanged"] = (
            "grow" if len(found) < partitions else "configure" if differing else "unchanged"
        )
        actions.append(
            TopicAction(
                topic=name,
                action=action,
                partitions=partitions,
                current_partitions=len(found),
                replication_factor=replicas,
                configs=differing,
                warning=warning,
            )
        )
    plan = TopicPlan(
        bootstrap=bootstrap, replication_factor=replication_factor, applied=not dry_run, actions=tuple(actions)
    )
    if not dry_run:
        _apply(admin, plan)
    return plan


def _apply(admin: AdminClient, plan: TopicPlan) -> None:
    new = [
        NewTopic(a.topic, num_partitions=a.partitions, replication_factor=a.replication_factor, config=dict(a.configs))
        for a in plan.actions
        if a.action == "create"
    ]
    if new:
        for name, fut in admin.create_topics(new, operation_timeout=30).items():
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise _fail(name, exc, doing="create") from None
    _grow_and_configure(admin, plan)


def _grow_and_configure(admin: AdminClient, plan: TopicPlan) -> None:
    grow = [NewPartitions(a.topic, a.partitions) for a in plan.actions if a.action == "grow"]
    if grow:
        for name, fut in admin.create_partitions(grow).items():
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001
                raise _fail(name, exc, doing="add partitions to") from None
    alter = [
        ConfigResource(
            ResourceType.TOPIC,
            a.topic,
            incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in a.configs.items()
            ],
        )
        for a in plan.actions
        if a.action in ("grow", "configure") and a.configs
    ]
    if alter:
        for resource, fut in admin.incremental_alter_configs(alter).items():
            try:
                fut.result()
            except Exception as exc:  # noqa: BLE001
                raise _fail(resource.name, exc, doing="configure") from None


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
