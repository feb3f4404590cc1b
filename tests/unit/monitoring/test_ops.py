"""The monitoring files: generated from the catalog, referencing only metrics that exist."""

from __future__ import annotations

import re

import yaml
from prometheus_client import REGISTRY

import connectors.callbacks.app
import connectors.metrics  # noqa: F401 — registers the event path's metrics
import reconcile.metrics  # noqa: F401 — registers the batch path's metrics
import smartsync.monitoring.exporter_metrics  # noqa: F401 — registers smartsync monitor's metrics
from smartsync.cli.ops import OPS, ROOT, rendered
from smartsync.core.catalog import load_catalog
from smartsync.monitoring.render import alert_rules

EXTERNAL = {"bytewax_kafka_consumer_lag", "up"}  # Bytewax's own and Prometheus's


def _known_metrics() -> set[str]:
    names = set(EXTERNAL)
    for family in REGISTRY.collect():
        for sample in family.samples:
            names.add(sample.name)
        names.add(family.name)
        names.update({f"{family.name}_total", f"{family.name}_bucket"})
    return names


def _metric_names(expr: str) -> set[str]:
    words = set(re.findall(r"\b(smartsync_[a-z_]+|bytewax_[a-z_]+|up)\b(?=[{\[\s)]|$)", expr))
    return words


def test_checked_in_files_match_the_catalog() -> None:
    for rel, text in rendered().items():
        assert (ROOT / rel).read_text() == text, f"{rel} is stale: run `smartsync ops render`"


def test_every_alert_references_existing_metrics() -> None:
    known = _known_metrics()
    for group in alert_rules(load_catalog())["groups"]:
        for rule in group["rules"]:
            missing = _metric_names(rule["expr"]) - known
            assert not missing, f"{rule['alert']} uses unknown metrics {missing}"


def test_every_sync_and_job_has_its_alerts() -> None:
    catalog = load_catalog()
    names = {r["alert"] for g in alert_rules(catalog)["groups"] for r in g["rules"]}
    for sync in catalog.event_syncs():
        assert f"SmartSyncLatency_{sync.name}" in names
    for _, schedule in catalog.jobs():
        assert f"SmartSyncBatchLate_{schedule.job}" in names


def test_batch_alerts_read_the_batch_job_label_never_job() -> None:
    """Prometheus renames a target's own ``job`` label to ``exported_job``: rules must not match on it."""
    for group in alert_rules(load_catalog())["groups"]:
        for rule in group["rules"]:
            assert not re.search(r"smartsync_batch_[a-z_]+\{job=", rule["expr"]), rule["alert"]
    for family in REGISTRY.collect():
        if family.name.startswith("smartsync_"):
            for sample in family.samples:
                assert not {"job", "instance"} & set(sample.labels), family.name
    late = {r["alert"]: r for g in alert_rules(load_catalog())["groups"] for r in g["rules"]}
    expr = late["SmartSyncBatchLate_scheme_master_daily"]["expr"]
    assert 'smartsync_batch_next_due_timestamp_seconds{batch_job="scheme_master_daily"} > 900' in expr


def test_every_runbook_anchor_exists() -> None:
    headings = set(re.findall(r"^### (\S+)$", (ROOT / "docs" / "operations.md").read_text(), flags=re.MULTILINE))
    for group in alert_rules(load_catalog())["groups"]:
        for rule in group["rules"]:
            anchor = rule["annotations"]["runbook"].split("#", 1)[1]
            assert anchor in headings, f"docs/operations.md lacks a section for {anchor}"


def test_alertmanager_routes_critical_alerts_to_oncall() -> None:
    config = yaml.safe_load((OPS / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"] for r in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    critical = [r for r in config["route"]["routes"] if 'severity="critical"' in r["matchers"]]
    assert critical
    assert {r["receiver"] for r in critical} <= receivers
    assert "oncall-smartsync" in {r["receiver"] for r in critical}
