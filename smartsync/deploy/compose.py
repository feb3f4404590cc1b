"""compose.yaml: a one-command local cluster of the real images, shaped like the Kubernetes deployment.

PostgreSQL, Apache Kafka (KRaft), Kafka Connect with Debezium, the schema migration and topic
creation as one-shot services, both flows, the scheduler, the callbacks, the monitor, Prometheus,
Alertmanager and Grafana. Network aliases give every SmartSync service the DNS name of its
Kubernetes headless Service, so ``ops/prometheus/prometheus.yml`` serves both. The file lives in
``deploy/compose/``; relative paths below are from there.
"""

from __future__ import annotations

from typing import Any

from connectors.debezium.connector import CONNECTOR_NAMES
from smartsync.core.catalog import Direction
from smartsync.core.tables import Database
from smartsync.deploy.connect import CONNECT_SECRET_DIR
from smartsync.deploy.kubernetes import CALLBACKS, MONITOR, SCHEDULER
from smartsync.deploy.params import (
    CALLBACKS_PORT,
    FLOW_CLUSTER_PORT,
    FLOW_METRICS_PORT,
    MONITOR_METRICS_PORT,
    RECOVERY_DIR,
    SCHEDULER_METRICS_PORT,
    DeployParams,
    component_name,
)

# Third-party images, pinned by tag (pin digests where a registry is reachable: docs/deployment.md).
POSTGRES_IMAGE = "postgres:15.14-bookworm"
PROMETHEUS_IMAGE = "prom/prometheus:v2.55.1"
ALERTMANAGER_IMAGE = "prom/alertmanager:v0.28.1"
GRAFANA_IMAGE = "grafana/grafana:11.6.0"
CURL_IMAGE = "curlimages/curl:8.11.1"

# A local cluster only: one password for the PostgreSQL superuser and the CDC role, overridable.
PASSWORD = "${SMARTSYNC_COMPOSE_PASSWORD:-smartsync-local}"  # noqa: S105 — a local-only default
KAFKA = "kafka:9092"
CONNECT_URL = "http://connect:8083"


def _dsn(db: Database) -> str:
    return f"postgresql://postgres:{PASSWORD}@postgres:5432/{db.value}"


def _healthy(*names: str) -> dict[str, dict[str, str]]:
    return {n: {"condition": "service_healthy"} for n in names}


def _done(*names: str) -> dict[str, dict[str, str]]:
    return {n: {"condition": "service_completed_successfully"} for n in names}


def _http_check(url: str) -> dict[str, Any]:
    probe = f"import urllib.request; urllib.request.urlopen('{url}', timeout=3)"
    return {"test": ["CMD", "python", "-c", probe], "interval": "10s", "timeout": "5s", "retries": 6}


def _smartsync(
    params: DeployParams,
    command: list[str],
    *,
    env: dict[str, str],
    depends_on: dict[str, dict[str, str]],
    alias: str | None = None,
    healthcheck: dict[str, Any] | None = None,
    volumes: list[str] | None = None,
    ports: list[str] | None = None,
    one_shot: bool = False,
) -> dict[str, Any]:
    service: dict[str, Any] = {
        "image": params.image,
        "build": {"context": "../..", "dockerfile": "Dockerfile"},
        "command": command,
        "environment": {"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", **env},  # noqa: S108
        "depends_on": depends_on,
        # As in Kubernetes: a read-only root filesystem, /tmp in memory, no privileges.
        "read_only": True,
        "tmpfs": ["/tmp"],  # noqa: S108
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "healthcheck": healthcheck or {"disable": True},
        "restart": "no" if one_shot else "unless-stopped",
    }
    if volumes:
        service["volumes"] = volumes
    if ports:
        service["ports"] = ports
    if alias:
        service["networks"] = {"default": {"aliases": [alias]}}
    return service


def _fqdn(name: str, params: DeployParams) -> str:
    return f"{name}.{params.namespace}.svc.cluster.local"


def _register_script() -> str:
    lines = ["set -eu"]
    for name in CONNECTOR_NAMES.values():
        lines.append(
            f"curl -fsS -X PUT -H 'Content-Type: application/json' --data @/connectors/{name}.json "
            f"{CONNECT_URL}/connectors/{name}/config"
        )
    lines.append("echo connectors registered")
    return "\n".join(lines)


def _cdc_script() -> str:
    lines = ["set -eu", "umask 022"]
    lines += [
        f'psql "postgresql://postgres:$$PGPASSWORD@postgres:5432/{db.value}" -v cdc_password="$$PGPASSWORD" '
        f"-f /sql/cdc-role-{db.value}.sql"
        for db in Database
    ]
    # Kafka Connect reads the password through its DirectoryConfigProvider: one file per key.
    lines.append("printf '%s' \"$$PGPASSWORD\" > /secrets/password")
    return "\n".join(lines)


def compose(params: DeployParams) -> dict[str, Any]:
    kafka_env = {"SMARTSYNC_KAFKA_BOOTSTRAP": KAFKA}
    ready = _done("migrate", "topics")
    services: dict[str, Any] = {
        "postgres": {
            "image": POSTGRES_IMAGE,
            "command": ["postgres", "-c", "wal_level=logical", "-c", "max_replication_slots=10"],
            "environment": {"POSTGRES_PASSWORD": PASSWORD},
            "volumes": ["postgres-data:/var/lib/postgresql/data", "./initdb:/docker-entrypoint-initdb.d:ro"],
            "healthcheck": {
                "test": ["CMD", "pg_isready", "-U", "postgres"],
                "interval": "5s",
                "timeout": "5s",
                "retries": 12,
            },
            "restart": "unless-stopped",
        },
        "kafka": {
            "image": f"apache/kafka:{params.kafka_version}",
            "environment": {
                "KAFKA_NODE_ID": "1",
                "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{KAFKA}",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093",
                "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
                # A single broker: every internal topic has one replica.
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
                "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
            },
            "volumes": ["kafka-data:/var/lib/kafka/data"],
            "healthcheck": {
                "test": ["CMD", "/opt/kafka/bin/kafka-broker-api-versions.sh", "--bootstrap-server", "localhost:9092"],
                "interval": "10s",
                "timeout": "10s",
                "retries": 12,
            },
            "restart": "unless-stopped",
        },
        "migrate": _smartsync(
            params,
            ["db", "migrate"],
            env={"SMARTSYNC_WAREHOUSE_DSN": _dsn(Database.WAREHOUSE), "SMARTSYNC_CITIZEN_DSN": _dsn(Database.CITIZEN)},
            depends_on=_healthy("postgres"),
            one_shot=True,
        ),
        "topics": _smartsync(
            params,
            ["kafka", "topics", "apply", "--replication-factor", "1", "--min-insync-replicas", "1"],
            env=kafka_env,
            depends_on=_healthy("kafka"),
            one_shot=True,
        ),
        "cdc-role": {
            "image": POSTGRES_IMAGE,
            "entrypoint": ["sh", "-c", _cdc_script()],
            "environment": {"PGPASSWORD": PASSWORD},
            "volumes": ["../sql:/sql:ro", "connect-secrets:/secrets"],
            "depends_on": _done("migrate"),
            "restart": "no",
        },
        "connect": {
            "image": f"quay.io/debezium/connect:{params.debezium_version}",
            "environment": {
                "BOOTSTRAP_SERVERS": KAFKA,
                "GROUP_ID": "smartsync-connect",
                "CONFIG_STORAGE_TOPIC": "smartsync-connect-configs",
                "OFFSET_STORAGE_TOPIC": "smartsync-connect-offsets",
                "STATUS_STORAGE_TOPIC": "smartsync-connect-status",
                "CONFIG_STORAGE_REPLICATION_FACTOR": "1",
                "OFFSET_STORAGE_REPLICATION_FACTOR": "1",
                "STATUS_STORAGE_REPLICATION_FACTOR": "1",
                # The connector configs name the password as ${dir:<secret dir>:password}.
                "CONNECT_CONFIG_PROVIDERS": "dir",
                "CONNECT_CONFIG_PROVIDERS_DIR_CLASS": "org.apache.kafka.common.config.provider.DirectoryConfigProvider",
                "CONNECT_CONFIG_PROVIDERS_DIR_PARAM_ALLOWED_PATHS": CONNECT_SECRET_DIR,
            },
            "volumes": [f"connect-secrets:{CONNECT_SECRET_DIR}:ro"],
            "ports": ["8083:8083"],
            "depends_on": {**_healthy("kafka"), **_done("topics", "cdc-role")},
            "healthcheck": {
                "test": ["CMD", "curl", "-fsS", "http://localhost:8083/connectors"],
                "interval": "10s",
                "timeout": "5s",
                "retries": 12,
            },
            "restart": "unless-stopped",
        },
        "register-connectors": {
            "image": CURL_IMAGE,
            "entrypoint": ["sh", "-c", _register_script()],
            "volumes": ["../connectors/compose:/connectors:ro"],
            "depends_on": _healthy("connect"),
            "restart": "no",
        },
    }
    for direction in Direction:
        name = component_name(direction)
        source, target = direction.source_database, direction.target_database
        services[name] = _smartsync(
            params,
            [
                "flow",
                "run",
                direction.value,
                "--process-id",
                "0",
                "--addresses",
                f"{_fqdn(name, params)}:{FLOW_CLUSTER_PORT}",
                "--workers",
                str(params.flow_workers),
            ],
            env={
                f"SMARTSYNC_{target.name}_DSN": _dsn(target),
                # The start-up checks and the source identity check read the source database.
                f"SMARTSYNC_{source.name}_DSN": _dsn(source),
                **kafka_env,
                "SMARTSYNC_RECOVERY_DIR": RECOVERY_DIR,
                "SMARTSYNC_METRICS_PORT": str(FLOW_METRICS_PORT),
            },
            depends_on={**ready, **_healthy("connect")},
            alias=_fqdn(name, params),
            healthcheck=_http_check(f"http://127.0.0.1:{FLOW_METRICS_PORT}/metrics"),
            volumes=[f"recovery-{name}:{RECOVERY_DIR}"],
        )
    services["callbacks"] = _smartsync(
        params,
        ["callbacks", "serve", "--host", "0.0.0.0", "--port", str(CALLBACKS_PORT)],  # noqa: S104
        env=kafka_env,
        depends_on=_done("topics"),
        alias=_fqdn(f"{CALLBACKS}-pods", params),
        healthcheck=_http_check(f"http://127.0.0.1:{CALLBACKS_PORT}/healthz"),
        ports=[f"{CALLBACKS_PORT}:{CALLBACKS_PORT}"],
    )
    services["scheduler"] = _smartsync(
        params,
        ["scheduler", "run", "--metrics-port", str(SCHEDULER_METRICS_PORT)],
        env={"SMARTSYNC_WAREHOUSE_DSN": _dsn(Database.WAREHOUSE), "SMARTSYNC_CITIZEN_DSN": _dsn(Database.CITIZEN)},
        depends_on=_done("migrate"),
        alias=_fqdn(SCHEDULER, params),
        healthcheck=_http_check(f"http://127.0.0.1:{SCHEDULER_METRICS_PORT}/metrics"),
    )
    services["monitor"] = _smartsync(
        params,
        ["monitor", "--port", str(MONITOR_METRICS_PORT)],
        env={
            "SMARTSYNC_WAREHOUSE_DSN": _dsn(Database.WAREHOUSE),
            "SMARTSYNC_CITIZEN_DSN": _dsn(Database.CITIZEN),
            **kafka_env,
        },
        depends_on=ready,
        alias=_fqdn(MONITOR, params),
        healthcheck=_http_check(f"http://127.0.0.1:{MONITOR_METRICS_PORT}/metrics"),
    )
    services["prometheus"] = {
        "image": PROMETHEUS_IMAGE,
        "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
        "volumes": ["../../ops/prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"],
        "ports": ["9090:9090"],
        "depends_on": {"alertmanager": {"condition": "service_started"}},
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:9090/-/ready"],
            "interval": "10s",
            "timeout": "5s",
            "retries": 6,
        },
        "restart": "unless-stopped",
    }
    services["alertmanager"] = {
        "image": ALERTMANAGER_IMAGE,
        "command": ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"],
        "volumes": ["../../ops/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro"],
        "ports": ["9093:9093"],
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:9093/-/ready"],
            "interval": "10s",
            "timeout": "5s",
            "retries": 6,
        },
        "restart": "unless-stopped",
    }
    services["grafana"] = {
        "image": GRAFANA_IMAGE,
        "volumes": ["./grafana:/etc/grafana/provisioning:ro", "../../ops/grafana:/var/lib/grafana/dashboards:ro"],
        "ports": ["3000:3000"],
        "depends_on": {"prometheus": {"condition": "service_healthy"}},
        "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost:3000/api/health"],
            "interval": "10s",
            "timeout": "5s",
            "retries": 6,
        },
        "restart": "unless-stopped",
    }
    volumes = ["postgres-data", "kafka-data", "connect-secrets", "prometheus-data"]
    volumes += [f"recovery-{component_name(d)}" for d in Direction]
    return {"name": "smartsync", "services": services, "volumes": {v: {} for v in volumes}}


def initdb_sql() -> str:
    """The PostgreSQL container's first-start script: both databases (``db migrate`` fills them)."""
    return "".join(f"CREATE DATABASE {db.value};\n" for db in Database)


def grafana_provisioning() -> dict[str, dict[str, Any]]:
    """Grafana's datasource and dashboard provider, by path under ``deploy/compose/grafana``."""
    return {
        "datasources/prometheus.yaml": {
            "apiVersion": 1,
            "datasources": [
                {"name": "Prometheus", "type": "prometheus", "access": "proxy", "url": "http://prometheus:9090"}
            ],
        },
        "dashboards/smartsync.yaml": {
            "apiVersion": 1,
            "providers": [
                {"name": "smartsync", "type": "file", "options": {"path": "/var/lib/grafana/dashboards"}},
            ],
        },
    }
