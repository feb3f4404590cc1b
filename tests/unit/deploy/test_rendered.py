"""The rendered deployment files: kept in step with the catalog, and valid.

Core Kubernetes kinds are validated with kubernetes-validate in strict mode (unknown fields are
errors) against Kubernetes 1.33. kubernetes-validate has no schemas for CRDs: the Strimzi kinds
(KafkaTopic, KafkaConnector, KafkaConnect) and kustomize's Kustomization are skipped there,
explicitly by name, and checked structurally below against the fields we generate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict
from typer.testing import CliRunner

from connectors.debezium.connector import CONNECTOR_NAMES, connector_config
from connectors.kafka.topics import wanted_topics
from smartsync.cli.deploy import DEPLOY, RENDERED_DIRS, ROOT, rendered
from smartsync.cli.main import app
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.roles import (
    CDC_ROLE,
    DSN_ROLES,
    FLOW_SOURCE_ROLE,
    MONITOR_ROLE,
    RECONCILER_ROLE,
    SINK_ROLES,
    all_roles,
    role_passwords,
)
from smartsync.core.settings import CONNECTIONS, Settings, component_dsns
from smartsync.core.tables import Database
from smartsync.deploy.connect import CONNECT_SECRET_DIR
from smartsync.deploy.params import FLOW_SECRETS, PORTS, SECRET_KEYS, Secret, overlays

K8S_VERSION = "1.33.0"
NOT_CORE = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("kafka.strimzi.io/v1beta2", "KafkaConnector"),
    ("kafka.strimzi.io/v1beta2", "KafkaConnect"),
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
}
FILES = rendered()


def _docs(prefix: str) -> list[dict[str, Any]]:
    return [
        d
        for rel, text in FILES.items()
        if str(rel).startswith(prefix) and rel.suffix == ".yaml"
        for d in yaml.safe_load_all(text)
        if d
    ]


def _k8s(overlay: str) -> list[dict[str, Any]]:
    return _docs(f"kubernetes/{overlay}/")


def _by(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(doc["spec"]["template"]["spec"])


def test_committed_files_are_in_step_with_the_catalog(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", "render", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(DEPLOY) for d in RENDERED_DIRS for p in (DEPLOY / d).rglob("*") if p.is_file()}
    assert written == committed, "deploy/ is stale: run `smartsync deploy render`"
    for rel in written:
        assert (DEPLOY / rel).read_text() == (tmp_path / rel).read_text(), f"deploy/{rel} is stale"


@pytest.mark.parametrize("prefix", ["kubernetes/local/", "kubernetes/production/", "strimzi/"])
def test_core_kinds_validate_strictly(prefix: str) -> None:
    checked = 0
    for doc in _docs(prefix):
        if (doc["apiVersion"], doc["kind"]) in NOT_CORE:
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        checked += 1
    assert checked >= (2 if prefix == "strimzi/" else 20)


def test_only_the_listed_kinds_skip_strict_validation() -> None:
    for doc in [*_docs("kubernetes/"), *_docs("strimzi/")]:
        if (doc["apiVersion"], doc["kind"]) in NOT_CORE:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kustomizations_list_exactly_their_folder() -> None:
    for rel, text in FILES.items():
        if rel.name != "kustomization.yaml":
            continue
        doc = yaml.safe_load(text)
        assert set(doc) == {"apiVersion", "kind", "resources"}
        siblings = {p.name for p in FILES if p.parent == rel.parent and p.name != "kustomization.yaml"}
        assert set(doc["resources"]) == siblings, rel


def test_topics_match_the_catalog_replicated_three_times() -> None:
    topics = [d for d in _docs("strimzi/") if d["kind"] == "KafkaTopic"]
    assert {t["spec"]["topicName"]: t["spec"]["partitions"] for t in topics} == wanted_topics(load_catalog())
    for topic in topics:
        assert set(topic["spec"]) == {"topicName", "partitions", "replicas", "config"}
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"] == {"min.insync.replicas": "2"}
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "smartsync-kafka"
        assert "_" not in topic["metadata"]["name"]


def test_connectors_take_the_decoder_settings_and_never_a_password() -> None:
    catalog = load_catalog()
    connectors = [d for d in _docs("strimzi/") if d["kind"] == "KafkaConnector"]
    assert {c["metadata"]["name"] for c in connectors} == set(CONNECTOR_NAMES.values())
    for db in Database:
        expected = connector_config(db, catalog, hostname="h", port=5432, password="p")
        (resource,) = [c for c in connectors if c["metadata"]["name"] == CONNECTOR_NAMES[db]]
        assert set(resource["spec"]) == {"class", "tasksMax", "config"}
        assert resource["spec"]["class"] == expected["connector.class"]
        config = resource["spec"]["config"]
        assert config["database.password"] == "${secrets:smartsync/smartsync-cdc:password}"
        for where in ("compose", "production"):
            rest = json.loads(FILES[Path(f"connectors/{where}/{CONNECTOR_NAMES[db]}.json")])  # type: ignore[index]
            assert rest["database.password"] == "${dir:/etc/kafka-connect/secrets/smartsync-cdc:password}"
            for key, value in expected.items():
                if key not in {"database.hostname", "database.password"}:
                    assert rest[key] == value, key
        for key in ("decimal.handling.mode", "time.precision.mode", "message.key.columns", "table.include.list"):
            assert config[key] == expected[key]
        assert config["value.converter.schemas.enable"] == "false"
    connect = _by(_docs("strimzi/"), "KafkaConnect", "smartsync-connect")
    assert connect["metadata"]["annotations"]["strimzi.io/use-connector-resources"] == "true"
    assert (
        connect["spec"]["config"]["config.providers.secrets.class"] == "io.strimzi.kafka.KubernetesSecretConfigProvider"
    )


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_every_pod_runs_under_the_restricted_profile(overlay: str) -> None:
    docs = _k8s(overlay)
    namespace = _by(docs, "Namespace", "smartsync")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    workloads = [d for d in docs if d["kind"] in {"StatefulSet", "Deployment", "Job"}]
    assert len(workloads) == 6
    for doc in workloads:
        pod = _pod_spec(doc)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]  # noqa: S108
            assert set(container["resources"]) == {"requests", "limits"}
            if doc["kind"] != "Job":
                assert "readinessProbe" in container
                assert "livenessProbe" in container


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_flows_are_one_process_per_pod_with_their_own_recovery(overlay: str) -> None:
    params = overlays()[overlay]
    docs = _k8s(overlay)
    for direction in Direction:
        name = direction.value.replace("_", "-")
        sts = _by(docs, "StatefulSet", name)
        assert sts["spec"]["replicas"] == params.flow_replicas
        assert sts["spec"]["podManagementPolicy"] == "Parallel"
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        (container,) = _pod_spec(sts)["containers"]
        assert container["args"][:3] == ["flow", "run", direction.value]
        assert "--process-id" in container["args"]
        assert "--addresses" in container["args"]
        env = {e["name"]: e for e in container["env"]}
        assert env["SMARTSYNC_FLOW_PROCESS_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == (
            "metadata.labels['apps.kubernetes.io/pod-index']"
        )
        assert env["SMARTSYNC_FLOW_ADDRESSES"]["value"].split(";") == [
            f"{name}-{i}.{name}.smartsync.svc.cluster.local:2101" for i in range(params.flow_replicas)
        ]
        assert {"name": claim["metadata"]["name"], "mountPath": env["SMARTSYNC_RECOVERY_DIR"]["value"]} in container[
            "volumeMounts"
        ]
        service = _by(docs, "Service", name)
        assert service["spec"]["clusterIP"] == "None"
        assert sts["spec"]["serviceName"] == name
        assert _by(docs, "PodDisruptionBudget", name)["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_each_component_gets_only_its_own_secret(overlay: str) -> None:
    docs = _k8s(overlay)
    secrets = {
        d["metadata"]["name"]: {s["secretRef"]["name"] for c in _pod_spec(d)["containers"] for s in c["envFrom"]}
        for d in docs
        if d["kind"] in {"StatefulSet", "Deployment"}
    }
    assert secrets == {
        "warehouse-to-citizen": {"smartsync-flow-warehouse-to-citizen"},
        "citizen-to-warehouse": {"smartsync-flow-citizen-to-warehouse"},
        "smartsync-callbacks": {"smartsync-callbacks"},
        "smartsync-scheduler": {"smartsync-scheduler"},
        "smartsync-monitor": {"smartsync-monitor"},
    }
    assert "password" not in json.dumps(docs).lower()


def test_a_flows_secret_holds_every_connection_it_needs() -> None:
    # A flow reads its source too (start-up columns, the source identity check): without the source's DSN,
    # `smartsync flow run` stops at start naming it. Both DSNs log in as the flow's own roles (docs/deployment.md).
    for secret in FLOW_SECRETS.values():
        assert {f"SMARTSYNC_{name.upper()}" for name in CONNECTIONS} <= set(SECRET_KEYS[secret]), secret


def test_the_monitors_secret_holds_its_own_dsns_and_no_owners() -> None:
    # `smartsync monitor` runs with SMARTSYNC_MONITOR_*_DSN alone (smartsync_monitor): docs/security.md.
    keys = set(SECRET_KEYS[Secret.MONITOR])
    assert keys == {"SMARTSYNC_MONITOR_WAREHOUSE_DSN", "SMARTSYNC_MONITOR_CITIZEN_DSN", "SMARTSYNC_KAFKA_BOOTSTRAP"}


def test_the_compose_flows_get_both_dsns() -> None:
    (compose,) = _docs("compose/compose.yaml")
    services = compose["services"]
    for direction in Direction:
        env = services[direction.value.replace("_", "-")]["environment"]
        assert {"SMARTSYNC_WAREHOUSE_DSN", "SMARTSYNC_CITIZEN_DSN"} <= set(env), direction


# The compose services that keep running, by the component whose settings they run with (Settings.for_component).
COMPOSE_COMPONENTS = {
    "warehouse-to-citizen": "sink_citizen",
    "citizen-to-warehouse": "sink_warehouse",
    "scheduler": "reconciler",
    "monitor": "monitor",
    "callbacks": None,
}
OWNER = "postgres"


def _compose_services() -> dict[str, dict[str, Any]]:
    (compose,) = _docs("compose/compose.yaml")
    return dict(compose["services"])


def _interpolated(value: str) -> str:
    """What compose makes of a value with every variable unset: ``${VAR:-default}`` → default, ``$$`` → ``$``."""
    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
    assert not re.search(r"\$(?!\$)", text.replace("$$", "")), value
    return text.replace("$$", "$")


def _dsns(service: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Each ``*_DSN`` of a service's environment, parsed as libpq does (a DSN that does not parse fails here)."""
    return {
        k: {key: str(v) for key, v in conninfo_to_dict(_interpolated(value)).items()}
        for k, value in service.get("environment", {}).items()
        if k.endswith("_DSN")
    }


def _setting_role(var: str, component: str | None) -> str:
    """The role smartsync.core.roles names for a setting; a shared one stands for the component's own setting."""
    name = var.removeprefix("SMARTSYNC_").lower()
    return DSN_ROLES[component_dsns(component).get(name, name) if component else name]


def test_no_long_running_compose_service_logs_in_as_postgres() -> None:
    services = _compose_services()
    long_running = {n for n, s in services.items() if "build" in s and s["restart"] == "unless-stopped"}
    assert long_running == set(COMPOSE_COMPONENTS)
    for name in long_running:
        environment = json.dumps(services[name]["environment"])
        assert "SMARTSYNC_COMPOSE_PASSWORD" not in environment, name  # the superuser's password
        for var, dsn in _dsns(services[name]).items():
            assert dsn["user"] != OWNER, (name, var)


def test_each_compose_service_logs_in_as_its_own_components_roles_only() -> None:
    services = _compose_services()
    wanted = {
        "warehouse-to-citizen": {SINK_ROLES[Database.CITIZEN], FLOW_SOURCE_ROLE},
        "citizen-to-warehouse": {SINK_ROLES[Database.WAREHOUSE], FLOW_SOURCE_ROLE},
        "scheduler": {RECONCILER_ROLE},
        "monitor": {MONITOR_ROLE},
        "callbacks": set(),
    }
    for name, component in COMPOSE_COMPONENTS.items():
        dsns = _dsns(services[name])
        assert {d["user"] for d in dsns.values()} == wanted[name], name
        if component is None:
            assert not [k for k in services[name]["environment"] if "DSN" in k or "PASSWORD" in k], name
            continue
        # Its own settings, each logging in as the role roles.py names for it, in the setting's database.
        own = {f"SMARTSYNC_{o.upper()}": shared for shared, o in component_dsns(component).items()}
        assert set(own) <= set(dsns), name
        for var, shared in own.items():
            assert dsns[var]["user"] == DSN_ROLES[var.removeprefix("SMARTSYNC_").lower()], (name, var)
            assert dsns[var]["dbname"] == Database[shared.removesuffix("_dsn").upper()].value, (name, var)
        # A shared name, where there is one, carries the same DSN as the own setting it stands for.
        for var in set(dsns) - set(own):
            twin = f"SMARTSYNC_{component_dsns(component)[var.removeprefix('SMARTSYNC_').lower()].upper()}"
            assert dsns[var] == dsns[twin], (name, var)


def test_a_compose_flow_and_the_scheduler_pass_their_start_up_settings_check() -> None:
    # `flow run`, a flow's start-up and `scheduler run` check SMARTSYNC_WAREHOUSE_DSN / _CITIZEN_DSN before taking
    # the component's own: both are set, to the component's roles (as its Kubernetes Secret holds them).
    services = _compose_services()
    for name in ("warehouse-to-citizen", "citizen-to-warehouse", "scheduler"):
        env = {k: _interpolated(v) for k, v in services[name]["environment"].items() if k.startswith("SMARTSYNC_")}
        settings = Settings(**{k.removeprefix("SMARTSYNC_").lower(): v for k, v in env.items()})
        mine = settings.for_component(str(COMPOSE_COMPONENTS[name]))
        for db in Database:
            assert conninfo_to_dict(settings.dsn(db))["user"] == conninfo_to_dict(mine.dsn(db))["user"] != OWNER


def test_every_compose_dsn_parses_and_logs_in_as_the_role_of_its_setting() -> None:
    checked = 0
    for name, service in _compose_services().items():
        component = COMPOSE_COMPONENTS.get(name)
        for var, dsn in _dsns(service).items():
            assert dsn["host"] == "postgres", (name, var)
            assert dsn["dbname"] in {db.value for db in Database}, (name, var)
            assert dsn["password"], (name, var)
            if name == "migrate" and var in {"SMARTSYNC_WAREHOUSE_DSN", "SMARTSYNC_CITIZEN_DSN"}:
                assert dsn["user"] == OWNER  # db migrate and db roles create and grant
            else:
                assert dsn["user"] == _setting_role(var, component), (name, var)
            checked += 1
    assert checked == 2 + len(DSN_ROLES) + 4 + 4 + 4 + 2


def test_compose_migrate_sets_every_roles_password_and_connect_logs_in_as_the_cdc_role() -> None:
    services = _compose_services()
    migrate = services["migrate"]
    assert migrate["entrypoint"] == ["sh", "-c", "smartsync db migrate && smartsync db roles"]
    env = {k: _interpolated(v) for k, v in migrate["environment"].items() if k.startswith("SMARTSYNC_")}
    assert {f"SMARTSYNC_{name.upper()}" for name in DSN_ROLES} <= set(env)
    # `db roles` reads these settings: every role gets a password, the one its component logs in with.
    passwords = role_passwords(Settings(**{k.removeprefix("SMARTSYNC_").lower(): v for k, v in env.items()}))
    assert set(passwords) == set(all_roles())
    for name in COMPOSE_COMPONENTS:
        for dsn in _dsns(services[name]).values():
            assert passwords[dsn["user"]] == dsn["password"], name
    # Debezium: the connector logs in as smartsync_cdc with the password file cdc-secret writes from the same value.
    secret = services["cdc-secret"]
    assert _interpolated(secret["environment"]["SMARTSYNC_CDC_PASSWORD"]) == passwords[CDC_ROLE]
    assert "SMARTSYNC_CDC_PASSWORD" in secret["entrypoint"][2]
    assert "> /secrets/password" in secret["entrypoint"][2]
    connect = services["connect"]
    assert f"connect-secrets:{CONNECT_SECRET_DIR}:ro" in connect["volumes"]
    assert "connect-secrets:/secrets" in secret["volumes"]
    assert {d for d, c in connect["depends_on"].items() if c["condition"] == "service_completed_successfully"} >= {
        "migrate",
        "cdc-secret",
    }
    for db in Database:
        rest = json.loads(FILES[Path(f"connectors/compose/{CONNECTOR_NAMES[db]}.json")])  # type: ignore[index]
        assert rest["database.user"] == CDC_ROLE
        assert rest["database.password"] == f"${{dir:{CONNECT_SECRET_DIR}:password}}"


def test_every_compose_password_variable_is_documented_with_its_default() -> None:
    text = FILES[Path("compose/compose.yaml")]  # type: ignore[index]
    found = dict(re.findall(r"\$\{(SMARTSYNC_COMPOSE_\w+):-([^}]*)\}", text))
    assert len(found) == 1 + len(all_roles())
    docs = (ROOT / "docs" / "deployment.md").read_text()
    for variable, default in found.items():
        assert f"| `{variable}` |" in docs and f"| `{default}` |" in docs, variable


def test_network_policies_deny_by_default_and_open_only_what_is_needed() -> None:
    docs = _k8s("production")
    deny = _by(docs, "NetworkPolicy", "smartsync-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}
    flow = _by(docs, "NetworkPolicy", "warehouse-to-citizen")
    assert sorted(p["port"] for rule in flow["spec"]["ingress"] for p in rule["ports"]) == [2101, 3030]
    assert sorted(p["port"] for rule in flow["spec"]["egress"] for p in rule["ports"]) == [2101, 5432, 9092]
    callbacks = _by(docs, "NetworkPolicy", "smartsync-callbacks")
    assert [p["port"] for rule in callbacks["spec"]["ingress"] for p in rule["ports"]] == [8088]
    assert [p["port"] for rule in callbacks["spec"]["egress"] for p in rule["ports"]] == [9092]


def test_prometheus_scrapes_the_headless_services() -> None:
    config = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    services = {
        f"{d['metadata']['name']}.smartsync.svc.cluster.local": {p["port"] for p in d["spec"]["ports"]}
        for d in _k8s("production")
        if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"
    }
    scraped = {
        (name, sd["port"]) for job in config["scrape_configs"] for sd in job["dns_sd_configs"] for name in sd["names"]
    }
    assert len(scraped) == 5
    for name, port in scraped:
        assert port in services[name], name


def test_dockerfile_pins_its_base_exposes_every_port_and_checks_health() -> None:
    text = (ROOT / "Dockerfile").read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert froms and all(":" in image and not image.endswith(":latest") for image in froms)
    (expose,) = [line for line in text.splitlines() if line.startswith("EXPOSE ")]
    assert {int(p) for p in expose.split()[1:]} == set(PORTS)
    assert "\nHEALTHCHECK " in text
    assert "--require-hashes -r requirements/runtime.txt" in text
    assert "\nUSER 10001" in text


def test_the_kubernetes_migration_job_migrates_then_sets_every_roles_password() -> None:
    for rel, text in rendered().items():
        if rel.parts[0] != "kubernetes" or rel.parent.name != "migrate" or rel.name != "job.yaml":
            continue
        pod = yaml.safe_load(text)["spec"]["template"]["spec"]
        # An init container runs to success before the main one starts: grants are made on migrated tables.
        assert [c["args"] for c in pod["initContainers"]] == [["db", "migrate"]]
        assert [c["args"] for c in pod["containers"]] == [["db", "roles"]]
        assert {c["envFrom"][0]["secretRef"]["name"] for c in [*pod["initContainers"], *pod["containers"]]} == {
            Secret.MIGRATE.value
        }
    keys = set(SECRET_KEYS[Secret.MIGRATE])
    assert {f"SMARTSYNC_{setting.upper()}" for setting in DSN_ROLES} <= keys
    assert "SMARTSYNC_CDC_PASSWORD" in keys
