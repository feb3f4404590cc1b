"""compose.yaml: a one-command local cluster of the real images, shaped like the Kubernetes deployment.

PostgreSQL, Apache Kafka (KRaft), Kafka Connect with Debezium, the schema migration and topic
creation as one-shot services, both flows, the scheduler, the callbacks, the monitor, Prometheus,
Alertmanager and Grafana. Network aliases give every SmartSync service the DNS name of its
Kubernetes headless Service, so ``ops/prometheus/prometheus.yml`` serves both. The file lives in
``deploy/compose/``; relative paths below are from there.

Least privilege as in Kubernetes: only the one-shot ``migrate`` logs in as the ``postgres`` superuser (``db migrate``,
then ``db roles`` with every component's DSN, which sets each role's password); each long-running service gets its own
component's DSNs (smartsync/core/roles.py), the callbacks none.
"""

from __future__ import annotations

import shlex
from typing import Any

from connectors.debezium.connector import CONNECTOR_NAMES
from smartsync.core.catalog import Direction
from smartsync.core.roles import CDC_ROLE, DSN_ROLES
from smartsync.core.settings import component_dsns, flow_component
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

# A local cluster only: the PostgreSQL superuser's password, overridable; only `migrate` and `postgres` hold it.
PASSWORD = "${SMARTSYNC_COMPOSE_PASSWORD:-smartsync-local}"  # noqa: S105 — a local-only default
OWNER = "postgres"
KAFKA = "kafka:9092"
CONNECT_URL = "http://connect:8083"
# A shared DSN setting → its database; each component's own setting stands in for one (component_dsns).
_SHARED = {f"{db.name.lower()}_dsn": db for db in Database}


def password_variable(role: str) -> str:
    """``smartsync_sink_citizen`` → ``SMARTSYNC_COMPOSE_SINK_CITIZEN_PASSWORD``: one compose variable per role."""
    return f"SMARTSYNC_COMPOSE_{role.removeprefix('smartsync_').upper()}_PASSWORD"


def _password(role: str) -> str:
    # A default named after its role, like SMARTSYNC_COMPOSE_PASSWORD's: `docker compose up` stays one command for a
    # local demo, and nothing documents an env file that `${VAR:?...}` would send everyone to write first. The
    # defaults are public, so anything beyond a local demo sets every variable (docs/deployment.md).
    return f"${{{password_variable(role)}:-smartsync-local-{role.removeprefix('smartsync_').replace('_', '-')}}}"


def _dsn(db: Database, user: str = OWNER, password: str = PASSWORD) -> str:
    return f"postgresql://{user}:{password}@postgres:5432/{db.value}"


def _component_env(component: str, *, shared: bool) -> dict[str, str]:
    """A component's own DSNs, each logging in as its role (``Settings.for_component``'s names).

    ``shared``: the same DSNs under ``SMARTSYNC_WAREHOUSE_DSN`` / ``SMARTSYNC_CITIZEN_DSN`` too, for the commands
    whose ``load_settings`` checks those before taking the component's own (``flow run`` and a flow's start-up,
    ``scheduler run``), as the Kubernetes Secrets hold them; never the owner's.
    """
    env: dict[str, str] = {}
    for shared_name, own in component_dsns(component).items():
        dsn = _dsn(_SHARED[shared_name], DSN_ROLES[own], _password(DSN_ROLES[own]))
        env[f"SMARTSYNC_{own.upper()}"] = dsn
        if shared:
            env[f"SMARTSYNC_{shared_name.upper()}"] = dsn
    return env


COMPONENTS = (*(flow_component(d.target_database) for d in Direction), "reconciler", "monitor")


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
    then: list[list[str]] | None = None,
    env: dict[str, str],
    depends_on: dict[str, dict[str, str]],
    alias: str | None = None,
    healthcheck: dict[str, Any] | None = None,
    volumes: list[str] | None = None,
    ports: list[str] | None = None,
    one_shot: bool = False,
) -> dict[str, Any]:
    # Commands run one after the other, each only if the one before succeeded; the image's entrypoint is smartsync.
    run: dict[str, Any] = (
        {"entrypoint": ["sh", "-c", " && ".join(shlex.join(["smartsync", *c]) for c in [command, *then])]}
        if then
        else {"command": command}
    )
    service: dict[str, Any] = {
        "image": params.image,
        "build": {"context": "../..", "dockerfile": "Dockerfile"},
        **run,
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


def _cdc_secret_script() -> str:
    # Kafka Connect reads the CDC role's password through its DirectoryConfigProvider: one file per key, readable by
    # Connect's own user. `db roles` (in `migrate`) gives the role the same password.
    return "\n".join(["set -eu", "umask 022", "printf '%s' \"$$SMARTSYNC_CDC_PASSWORD\" > /secrets/password"])


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
            # `db roles` creates every component's role and sets its password from that component's DSN.
            then=[["db", "roles"]],
            env={
                "SMARTSYNC_WAREHOUSE_DSN": _dsn(Database.WAREHOUSE),
                "SMARTSYNC_CITIZEN_DSN": _dsn(Database.CITIZEN),
                **{k: v for c in COMPONENTS for k, v in _component_env(c, shared=False).items()},
                "SMARTSYNC_CDC_PASSWORD": _password(CDC_ROLE),
            },
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
        # Any shell that may write the volume does: the postgres image is pulled already and runs as root.
        "cdc-secret": {
            "image": POSTGRES_IMAGE,
            "entrypoint": ["sh", "-c", _cdc_secret_script()],
            "environment": {"SMARTSYNC_CDC_PASSWORD": _password(CDC_ROLE)},
            "volumes": ["connect-secrets:/secrets"],
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
            # The connectors log in as smartsync_cdc, which `migrate` creates with its password.
            "depends_on": {**_healthy("kafka"), **_done("topics", "migrate", "cdc-secret")},
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
                # Its sink role on the target, smartsync_flow_source on the source (start-up and identity checks).
                **_component_env(flow_component(direction.target_database), shared=True),
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
        env=_component_env("reconciler", shared=True),
        depends_on=_done("migrate"),
        alias=_fqdn(SCHEDULER, params),
        healthcheck=_http_check(f"http://127.0.0.1:{SCHEDULER_METRICS_PORT}/metrics"),
    )
    services["monitor"] = _smartsync(
        params,
        ["monitor", "--port", str(MONITOR_METRICS_PORT)],
        # `smartsync monitor` runs with its own DSNs alone (load_settings(component="monitor")).
        env={**_component_env("monitor", shared=False), **kafka_env},
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
