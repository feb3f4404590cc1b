"""Kafka Connect and topics: the Debezium connectors (REST JSON, Strimzi), KafkaTopics, the CDC role.

The connector settings come from ``connectors.debezium.connector.connector_config``, the one place
the envelope decoder's assumptions live; the password is always a config-provider reference.
"""

from __future__ import annotations

from typing import Any

from connectors.debezium.connector import CDC_ROLE, CONNECTOR_NAMES, connector_config
from connectors.kafka.topics import topic_configs, wanted_topics
from smartsync.core.catalog import Catalog
from smartsync.core.schema import HEARTBEAT_TABLE
from smartsync.core.tables import Database
from smartsync.deploy.params import DeployParams, Secret

STRIMZI_API = "kafka.strimzi.io/v1beta2"
# Plain Kafka Connect: the worker mounts the CDC secret (a file per key) here and enables Kafka's
# DirectoryConfigProvider as `dir` (docs/deployment.md shows the worker settings).
CONNECT_SECRET_DIR = f"/etc/kafka-connect/secrets/{Secret.CDC.value}"
REST_PASSWORD = f"${{dir:{CONNECT_SECRET_DIR}:password}}"
# Strimzi: KubernetesSecretConfigProvider as `secrets`, reading <namespace>/<secret>:<key>.
POSTGRES_PORT = 5432
# The envelope decoder reads schemaless JSON: set on the connector so no worker default can change it.
CONVERTERS = {
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "key.converter.schemas.enable": "false",
    "value.converter.schemas.enable": "false",
}


def strimzi_password(params: DeployParams) -> str:
    return f"${{secrets:{params.namespace}/{Secret.CDC.value}:password}}"


def rest_connectors(catalog: Catalog, *, hosts: dict[Database, str]) -> dict[str, dict[str, str]]:
    """One flat config per connector, the body of ``PUT /connectors/<name>/config`` (creates or updates)."""
    return {
        CONNECTOR_NAMES[db]: {
            **connector_config(db, catalog, hostname=hosts[db], port=POSTGRES_PORT, password=REST_PASSWORD),
            **CONVERTERS,
        }
        for db in Database
    }


def strimzi_connectors(catalog: Catalog, params: DeployParams) -> list[dict[str, Any]]:
    """KafkaConnector resources for a Strimzi KafkaConnect with ``strimzi.io/use-connector-resources``."""
    resources = []
    for db in Database:
        config = {
            **connector_config(
                db, catalog, hostname=params.database_hosts[db], port=POSTGRES_PORT, password=strimzi_password(params)
            ),
            **CONVERTERS,
        }
        name = config.pop("name")
        connector_class = config.pop("connector.class")
        tasks = int(config.pop("tasks.max"))
        resources.append(
            {
                "apiVersion": STRIMZI_API,
                "kind": "KafkaConnector",
                "metadata": {
                    "name": name,
                    "namespace": params.kafka_namespace,
                    "labels": {"strimzi.io/cluster": params.connect_cluster, "app.kubernetes.io/part-of": "smartsync"},
                },
                "spec": {"class": connector_class, "tasksMax": tasks, "config": config},
            }
        )
    return resources


def strimzi_connect(params: DeployParams) -> dict[str, Any]:
    """The KafkaConnect cluster: Debezium's PostgreSQL plugin built in, the secrets config provider on."""
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaConnect",
        "metadata": {
            "name": params.connect_cluster,
            "namespace": params.kafka_namespace,
            "annotations": {"strimzi.io/use-connector-resources": "true"},
            "labels": {"app.kubernetes.io/part-of": "smartsync"},
        },
        "spec": {
            "version": params.kafka_version,
            "replicas": 2,
            "bootstrapServers": f"{params.kafka_cluster}-kafka-bootstrap:{params.kafka_port}",
            "config": {
                "group.id": params.connect_cluster,
                "offset.storage.topic": f"{params.connect_cluster}-offsets",
                "config.storage.topic": f"{params.connect_cluster}-configs",
                "status.storage.topic": f"{params.connect_cluster}-status",
                "offset.storage.replication.factor": params.topic_replication_factor,
                "config.storage.replication.factor": params.topic_replication_factor,
                "status.storage.replication.factor": params.topic_replication_factor,
                "config.providers": "secrets",
                "config.providers.secrets.class": "io.strimzi.kafka.KubernetesSecretConfigProvider",
            },
            "build": {
                "output": {"type": "docker", "image": params.connect_build_image},
                "plugins": [
                    {
                        "name": "debezium-postgres",
                        "artifacts": [
                            {
                                "type": "maven",
                                "group": "io.debezium",
                                "artifact": "debezium-connector-postgres",
                                "version": params.debezium_version,
                            }
                        ],
                    }
                ],
            },
        },
    }


def strimzi_secret_access(params: DeployParams) -> list[dict[str, Any]]:
    """Let the Connect cluster's service account read the CDC secret, and nothing else."""
    name = f"{params.connect_cluster}-reads-{Secret.CDC.value}"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": params.namespace},
            "rules": [
                {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [Secret.CDC.value], "verbs": ["get"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": params.namespace},
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": f"{params.connect_cluster}-connect",
                    "namespace": params.kafka_namespace,
                }
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        },
    ]


def kubernetes_name(topic: str) -> str:
    """A topic's resource name: Kubernetes names take no underscores (``spec.topicName`` keeps the real one)."""
    return topic.replace("_", "-").lower()


def strimzi_topics(catalog: Catalog, params: DeployParams) -> list[dict[str, Any]]:
    """KafkaTopic resources: the catalog's partition counts, replicated, ``min.insync.replicas`` set."""
    configs = topic_configs(min_insync_replicas=params.topic_min_insync_replicas)
    return [
        {
            "apiVersion": STRIMZI_API,
            "kind": "KafkaTopic",
            "metadata": {
                "name": kubernetes_name(name),
                "namespace": params.kafka_namespace,
                "labels": {"strimzi.io/cluster": params.kafka_cluster, "app.kubernetes.io/part-of": "smartsync"},
            },
            "spec": {
                "topicName": name,
                "partitions": partitions,
                "replicas": params.topic_replication_factor,
                "config": dict(configs),
            },
        }
        for name, partitions in wanted_topics(catalog).items()
    ]


def cdc_role_sql(database: Database, catalog: Catalog) -> str:
    """psql script: the CDC role (REPLICATION, LOGIN) with SELECT on exactly the captured tables.

    Run as an owner of the tables after ``smartsync db migrate``:
    ``psql "$DSN" -v cdc_password="$PASSWORD" -f cdc-role-<database>.sql``. Safe to run again.
    """
    tables = [*catalog.captured_tables(database), HEARTBEAT_TABLE]
    schemas = sorted({t.split(".")[0] for t in tables})
    lines = [
        f"-- The Debezium role of {database.value}: generated by `smartsync deploy render`; do not edit by hand.",
        "\\set ON_ERROR_STOP on",
        f"SELECT format('CREATE ROLE {CDC_ROLE} LOGIN REPLICATION')",
        f"  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{CDC_ROLE}') \\gexec",
        f"ALTER ROLE {CDC_ROLE} WITH LOGIN REPLICATION PASSWORD :'cdc_password';",
    ]
    lines += [f"GRANT USAGE ON SCHEMA {schema} TO {CDC_ROLE};" for schema in schemas]
    lines += [f"GRANT SELECT ON TABLE {table} TO {CDC_ROLE};" for table in tables]
    return "\n".join(lines) + "\n"
