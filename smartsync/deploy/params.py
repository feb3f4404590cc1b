"""What a deployment varies by: names, sizes, images, peers. One ``DeployParams`` per overlay."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smartsync.core.catalog import Direction
from smartsync.core.roles import DSN_ROLES
from smartsync.core.tables import Database

# Ports SmartSync serves; the Dockerfile exposes the same list.
FLOW_METRICS_PORT = 3030
FLOW_CLUSTER_PORT = 2101
CALLBACKS_PORT = 8088
SCHEDULER_METRICS_PORT = 9108
MONITOR_METRICS_PORT = 9109
PORTS = (FLOW_METRICS_PORT, FLOW_CLUSTER_PORT, CALLBACKS_PORT, SCHEDULER_METRICS_PORT, MONITOR_METRICS_PORT)

RUN_AS = 10001  # the image's smartsync user (Dockerfile)
RECOVERY_DIR = "/var/lib/smartsync/recovery"


class Secret(StrEnum):
    """The Kubernetes Secrets, one per component: each holds only what that component needs."""

    CDC = "smartsync-cdc"  # key `password`: the CDC role's password, read by Kafka Connect only
    FLOW_WAREHOUSE_TO_CITIZEN = "smartsync-flow-warehouse-to-citizen"  # its sink and flow-source DSNs + Kafka
    FLOW_CITIZEN_TO_WAREHOUSE = "smartsync-flow-citizen-to-warehouse"  # its sink and flow-source DSNs + Kafka
    SCHEDULER = "smartsync-scheduler"  # both DSNs
    CALLBACKS = "smartsync-callbacks"  # Kafka only
    MONITOR = "smartsync-monitor"  # its own DSNs (smartsync_monitor: keys and positions, slots) + Kafka
    MIGRATE = "smartsync-migrate"  # owners' DSNs (db migrate), each component's DSN and the CDC password (db roles)


FLOW_SECRETS = {
    Direction.WAREHOUSE_TO_CITIZEN: Secret.FLOW_WAREHOUSE_TO_CITIZEN,
    Direction.CITIZEN_TO_WAREHOUSE: Secret.FLOW_CITIZEN_TO_WAREHOUSE,
}
# The keys each Secret carries (docs/deployment.md shows the `kubectl create secret` lines). A flow's target DSN
# logs in as its sink role, its source DSN as smartsync_flow_source (the start-up and identity checks only).
SECRET_KEYS: dict[Secret, tuple[str, ...]] = {
    Secret.CDC: ("password",),
    # Its dead letters hold unmasked PII: sealed with these keys (docs/security.md).
    Secret.FLOW_WAREHOUSE_TO_CITIZEN: (
        "SMARTSYNC_CITIZEN_DSN",
        "SMARTSYNC_WAREHOUSE_DSN",
        "SMARTSYNC_KAFKA_BOOTSTRAP",
        "SMARTSYNC_DEAD_LETTER_KEYS",
    ),
    Secret.FLOW_CITIZEN_TO_WAREHOUSE: ("SMARTSYNC_WAREHOUSE_DSN", "SMARTSYNC_CITIZEN_DSN", "SMARTSYNC_KAFKA_BOOTSTRAP"),
    Secret.SCHEDULER: ("SMARTSYNC_WAREHOUSE_DSN", "SMARTSYNC_CITIZEN_DSN"),
    Secret.CALLBACKS: ("SMARTSYNC_KAFKA_BOOTSTRAP", "SMARTSYNC_CALLBACK_TOKENS"),  # no DSN: it never touches a database
    # No owner DSN: `smartsync monitor` runs with SMARTSYNC_MONITOR_*_DSN alone (smartsync_monitor, one password).
    Secret.MONITOR: ("SMARTSYNC_MONITOR_WAREHOUSE_DSN", "SMARTSYNC_MONITOR_CITIZEN_DSN", "SMARTSYNC_KAFKA_BOOTSTRAP"),
    # `db roles` sets each role's password from its component's DSN (smartsync.core.roles.DSN_ROLES).
    Secret.MIGRATE: (
        "SMARTSYNC_WAREHOUSE_DSN",
        "SMARTSYNC_CITIZEN_DSN",
        *(f"SMARTSYNC_{setting.upper()}" for setting in DSN_ROLES),
        "SMARTSYNC_CDC_PASSWORD",
    ),
}


def component_name(direction: Direction) -> str:
    """``warehouse_to_citizen`` → ``warehouse-to-citizen`` (Kubernetes names take no underscores)."""
    return direction.value.replace("_", "-")


class Resources(BaseModel):
    model_config = ConfigDict(frozen=True)

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def to_k8s(self) -> dict[str, Any]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


class DeployParams(BaseModel):
    """One overlay's choices. Defaults are the production ones."""

    model_config = ConfigDict(frozen=True)

    overlay: str = "production"
    namespace: str = "smartsync"
    image: str = "smartsync:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    flow_replicas: int = Field(default=2, ge=1)
    flow_workers: int = Field(default=1, ge=1)
    recovery_storage: str = "5Gi"
    storage_class: str | None = None
    callbacks_replicas: int = Field(default=2, ge=1)
    flow_resources: Resources = Resources(cpu_request="1", memory_request="1Gi", cpu_limit="2", memory_limit="2Gi")
    callbacks_resources: Resources = Resources(
        cpu_request="250m", memory_request="256Mi", cpu_limit="1", memory_limit="512Mi"
    )
    scheduler_resources: Resources = Resources(
        cpu_request="500m", memory_request="1Gi", cpu_limit="2", memory_limit="3Gi"
    )
    monitor_resources: Resources = Resources(
        cpu_request="100m", memory_request="128Mi", cpu_limit="500m", memory_limit="256Mi"
    )
    # Who may reach SmartSync, and whom SmartSync may reach (NetworkPolicy peers).
    prometheus_namespace: str = "monitoring"
    prometheus_pod_labels: dict[str, str] = {"app.kubernetes.io/name": "prometheus"}
    callback_caller_namespaces: tuple[str, ...] = ("ml-services",)
    kafka_namespace: str = "kafka"
    kafka_port: int = 9092
    # PostgreSQL is often a managed service outside the cluster: an empty list allows the port to any address.
    postgres_cidrs: tuple[str, ...] = ()
    postgres_port: int = 5432
    # Strimzi: the Kafka and KafkaConnect clusters (both in kafka_namespace).
    kafka_cluster: str = "smartsync-kafka"
    connect_cluster: str = "smartsync-connect"
    connect_build_image: str = "registry.invalid/smartsync/kafka-connect-debezium:latest"
    database_hosts: dict[Database, str] = {
        Database.WAREHOUSE: "smart-warehouse-postgres.databases.svc.cluster.local",
        Database.CITIZEN: "smart-citizen-postgres.databases.svc.cluster.local",
    }
    topic_replication_factor: int = Field(default=3, ge=1)
    topic_min_insync_replicas: int = Field(default=2, ge=1)
    debezium_version: str = "3.6.1.Final"
    kafka_version: str = "4.3.0"


def overlays(image: str = "smartsync:0.1.0") -> dict[str, DeployParams]:
    """The two rendered overlays: a small single-node cluster (kind, minikube) and production."""
    production = DeployParams(image=image)
    local = production.model_copy(
        update={
            "overlay": "local",
            "flow_replicas": 1,
            "callbacks_replicas": 1,
            "recovery_storage": "1Gi",
            "flow_resources": Resources(cpu_request="250m", memory_request="512Mi", cpu_limit="1", memory_limit="1Gi"),
            "scheduler_resources": Resources(
                cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi"
            ),
        }
    )
    return {"local": local, "production": production}
