"""Monitoring as code: the Grafana dashboard and the metrics reference, derived from the catalog.

The alert rules are ``smartsync.monitoring.rules``, the Alertmanager routes and maintenance
window ``smartsync.monitoring.alertmanager``. Everything is generated per sync and job from the
catalog, so a new sync or job is monitored without anyone writing its name again.
``smartsync ops render`` writes the files under ``ops/`` and docs/metrics.md; a test keeps them in step.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

# Imported for their side effect: each declares its process's metrics at module level, which
# metrics_doc reads back from the registry.
import connectors.callbacks.app  # the callback service
import connectors.metrics  # noqa: F401 — the event path
import reconcile.metrics  # noqa: F401 — the batch path
import smartsync.monitoring.exporter_metrics  # noqa: F401 — smartsync monitor
from smartsync.core.catalog import Catalog
from smartsync.monitoring.rules import alert_rules

__all__ = ["alert_rules", "dashboard", "metrics_doc"]


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], unit: str, *, x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": legend} for i, (e, legend) in enumerate(exprs)],
    }


def dashboard(catalog: Catalog) -> dict[str, Any]:
    """A Grafana dashboard of both paths."""
    specs: list[tuple[str, list[tuple[str, str]], str]] = [
        (
            "Events in / out per table",
            [
                ("sum by (flow, table) (rate(smartsync_events_in_total[1m]))", "in {{flow}} {{table}}"),
                ("sum by (flow, table) (rate(smartsync_events_out_total[1m]))", "out {{flow}} {{table}}"),
            ],
            "ops",
        ),
        (
            "End-to-end latency p95 (source commit → target commit)",
            [
                (
                    "histogram_quantile(0.95, sum by (table, le) "
                    "(rate(smartsync_end_to_end_latency_seconds_bucket[5m])))",
                    "{{table}}",
                )
            ],
            "s",
        ),
        (
            "Sync lag: age of the oldest change not yet in the target (smartsync monitor)",
            [("max by (sync) (smartsync_sync_lag_seconds)", "{{sync}}")],
            "s",
        ),
        (
            "Offset lag per partition",
            [
                ("smartsync_kafka_offset_lag", "monitor {{topic}}/{{partition}}"),
                ("bytewax_kafka_consumer_lag", "bytewax {{topic}}/{{partition}}"),
            ],
            "short",
        ),
        (
            "Debezium connectors and tasks running",
            [
                ("smartsync_cdc_connector_running", "{{connector}}"),
                ("smartsync_cdc_task_running", "{{connector}} task {{task}}"),
            ],
            "bool",
        ),
        (
            "Replication slots: WAL retained and unconfirmed",
            [
                ("smartsync_replication_slot_retained_bytes", "retained {{database}} {{slot}}"),
                ("smartsync_replication_slot_confirmed_lag_bytes", "unconfirmed {{database}} {{slot}}"),
            ],
            "bytes",
        ),
        (
            "Errors and dead letters",
            [
                ("sum by (table) (rate(smartsync_event_errors_total[5m]))", "errors {{table}}"),
                ("sum by (table) (rate(smartsync_dead_letters_total[5m]))", "dead letters {{table}}"),
            ],
            "ops",
        ),
        (
            "Sink: batch size and transaction time",
            [
                (
                    "histogram_quantile(0.5, sum by (flow, le) (rate(smartsync_sink_batch_rows_bucket[5m])))",
                    "rows {{flow}}",
                ),
                (
                    "histogram_quantile(0.95, sum by (flow, le) (rate(smartsync_sink_latency_seconds_bucket[5m])))",
                    "p95 s {{flow}}",
                ),
            ],
            "short",
        ),
        ("Target database reachable", [("smartsync_sink_up", "{{flow}}")], "bool"),
        (
            "Callbacks",
            [
                ("sum by (sync, outcome) (rate(smartsync_callbacks_received_total[1m]))", "{{sync}} {{outcome}}"),
                (
                    "histogram_quantile(0.95, sum by (sync, le) (rate(smartsync_callback_ack_seconds_bucket[5m])))",
                    "ack p95 {{sync}}",
                ),
            ],
            "short",
        ),
        (
            "Batch jobs: rows and last status",
            [
                ("sum by (batch_job, kind) (increase(smartsync_batch_rows_total[1h]))", "{{batch_job}} {{kind}}"),
                ("smartsync_batch_last_status", "status {{batch_job}}"),
            ],
            "short",
        ),
        (
            "Batch jobs: start delay after the scheduled time (late over 900 s)",
            [
                (
                    "clamp_min(time() - smartsync_batch_next_due_timestamp_seconds, 0) unless on (batch_job) "
                    "(smartsync_batch_last_start_timestamp_seconds >= on (batch_job) "
                    "smartsync_batch_next_due_timestamp_seconds)",
                    "waiting {{batch_job}}",
                ),
                (
                    "smartsync_batch_last_start_timestamp_seconds - smartsync_batch_last_scheduled_timestamp_seconds",
                    "last start delay {{batch_job}}",
                ),
            ],
            "s",
        ),
        ("Processes up", [('up{job=~"smartsync-.*"}', "{{job}} {{instance}}")], "bool"),
        ("Drift after reconciliation", [("smartsync_reconcile_drift_rows", "{{table}} {{kind}}")], "short"),
    ]
    panels = [
        _panel(i + 1, title, exprs, unit, x=12 * (i % 2), y=8 * (i // 2))
        for i, (title, exprs, unit) in enumerate(specs)
    ]
    return {
        "title": "SmartSync",
        "uid": "smartsync",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["smartsync"],
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "current": {}}]},
        "annotations": {"list": []},
        "description": f"{len(catalog.syncs)} syncs; both directions, event and batch paths",
        "panels": panels,
    }


def metrics_doc() -> str:
    """docs/metrics.md: every SmartSync metric with its type, labels and meaning."""
    lines = [
        "# SmartSync metrics",
        "",
        "Generated by `smartsync ops render` from the metrics the code declares; do not edit by hand.",
        "Every process serves them on its metrics port. Kafka consumer lag per partition comes from Bytewax",
        "itself: `bytewax_kafka_consumer_lag{step_id,topic,partition}`.",
        "",
        "| metric | type | labels | meaning |",
        "| --- | --- | --- | --- |",
    ]
    families = sorted((f for f in REGISTRY.collect() if f.name.startswith("smartsync_")), key=lambda f: f.name)
    for family in families:
        name = f"{family.name}_total" if family.type == "counter" else family.name
        labels: set[str] = set()
        for sample in family.samples:
            labels.update(k for k in sample.labels if k != "le")
        declared = getattr(REGISTRY, "_names_to_collectors", {}).get(name)
        labels.update(getattr(declared, "_labelnames", ()))
        lines.append(f"| `{name}` | {family.type} | {', '.join(sorted(labels)) or '—'} | {family.documentation} |")
    return "\n".join(lines) + "\n"
