"""Every Prometheus scrape target resolves: each DNS name of ops/prometheus/prometheus.yml is a headless
Service of the rendered Kubernetes manifests, on the scraped port (else FlowDown fires forever)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from smartsync.cli.ops import OPS, ROOT

MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*/*.yaml"))


def _services(paths: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Service":
                out[(doc["metadata"]["name"], doc["metadata"].get("namespace", "default"))] = doc
    return out


def _targets() -> list[tuple[str, str, str, int]]:
    config = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    out = []
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                service, namespace = name.split(".")[:2]
                out.append((job["job_name"], service, namespace, sd["port"]))
    return out


def test_prometheus_scrapes_every_smartsync_process() -> None:
    jobs = {job for job, *_ in _targets()}
    assert jobs == {"smartsync-dataflows", "smartsync-callbacks", "smartsync-scheduler", "smartsync-monitor"}


@pytest.mark.parametrize("overlay", sorted({p.parent.name for p in MANIFESTS}))
@pytest.mark.parametrize(("job", "service", "namespace", "port"), _targets())
def test_every_scrape_target_has_its_headless_service(
    overlay: str, job: str, service: str, namespace: str, port: int
) -> None:
    services = _services([p for p in MANIFESTS if p.parent.name == overlay])
    found = services.get((service, namespace))
    assert found is not None, f"{job}: no Service {namespace}/{service} in deploy/kubernetes/{overlay}"
    assert found["spec"].get("clusterIP") == "None", f"{service} must be headless: one A record per pod"
    assert port in {p.get("targetPort", p["port"]) for p in found["spec"]["ports"]} | {
        p["port"] for p in found["spec"]["ports"]
    }
