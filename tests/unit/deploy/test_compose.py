"""deploy/compose/compose.yaml, checked structurally: no container engine (nor `docker compose`) runs here.

Every service has a pinned image, every depends_on names a service with a condition it can meet,
every named volume is declared, every bind mount exists in the repository, and every long-running
service has a health check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from smartsync.cli.deploy import DEPLOY

COMPOSE_DIR = DEPLOY / "compose"
CONFIG: dict[str, Any] = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = CONFIG["services"]
ONE_SHOT = {"migrate", "topics", "cdc-secret", "register-connectors"}
WANTED = {
    "postgres",
    "kafka",
    "connect",
    "warehouse-to-citizen",
    "citizen-to-warehouse",
    "scheduler",
    "callbacks",
    "monitor",
    "prometheus",
    "alertmanager",
    "grafana",
}


def test_the_whole_cluster_is_there() -> None:
    assert set(SERVICES) == WANTED | ONE_SHOT


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1], name
        assert not image.endswith(":latest"), name


def test_depends_on_names_services_with_a_meetable_condition() -> None:
    for name, service in SERVICES.items():
        for dep, cond in service.get("depends_on", {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            condition = cond["condition"]
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition == "service_healthy":
                assert "test" in SERVICES[dep].get("healthcheck", {}), f"{dep} has no health check"
            if condition == "service_completed_successfully":
                assert dep in ONE_SHOT


def test_long_running_services_have_health_checks_and_one_shots_do_not_restart() -> None:
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
        else:
            assert service["healthcheck"]["test"][0] == "CMD", name
            assert service["restart"] == "unless-stopped", name


def test_volumes_are_declared_and_bind_mounts_exist() -> None:
    declared = set(CONFIG["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).resolve().exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_ports_are_published_once() -> None:
    host_ports = [p.split(":")[0] for s in SERVICES.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))
    assert {"8088", "9090", "3000"} <= set(host_ports)


def test_prometheus_finds_every_smartsync_service_by_its_kubernetes_name() -> None:
    prometheus = yaml.safe_load((DEPLOY.parent / "ops" / "prometheus" / "prometheus.yml").read_text())
    names = {n for job in prometheus["scrape_configs"] for sd in job["dns_sd_configs"] for n in sd["names"]}
    aliases = {a for s in SERVICES.values() for a in s.get("networks", {}).get("default", {}).get("aliases", [])}
    assert names <= aliases


def test_smartsync_services_are_locked_down_like_their_pods() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            assert Path(COMPOSE_DIR / service["build"]["context"], service["build"]["dockerfile"]).resolve().is_file()
            assert service["read_only"] is True, name
            assert service["cap_drop"] == ["ALL"], name
