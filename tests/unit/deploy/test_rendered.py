"""The rendered deployment files: kept in step with the catalog, and valid.

Core Kubernetes kinds are validated with kubernetes-validate in strict mode (unknown fields are
errors) against Kubernetes 1.33. kubernetes-validate has no schemas for CRDs: the Strimzi kinds
(KafkaTopic, KafkaConnector, KafkaConnect) and kustomize's Kustomization are skipped there,
explicitly by name, and checked structurally below against the fields we generate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from connectors.debezium.connector import CONNECTOR_NAMES, connector_config
from connectors.kafka.topics import wanted_topics
from smartsync.cli.deploy import DEPLOY, RENDERED_DIRS, ROOT, rendered
from smartsync.cli.main import app
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import CONNECTIONS
from smartsync.core.tables import Database
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
