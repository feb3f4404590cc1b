"""Monitoring as code: Prometheus alert rules and a Grafana dashboard, derived from the catalog.

The seeds' thresholds: event latency under each sync's target (p95), consumer lag warning
over 60 s and critical over 300 s, error rate under 1 %, a batch job that starts more than
15 minutes late or fails alerts at once. Rules are generated per sync and job from the
catalog, so a new sync or job is monitored without anyone writing its name again.
``smartsync ops render`` writes the files under ``ops/``; a test keeps them in step.
"""

from __future__ import annotations

from typing import Any

from croniter import croniter
from prometheus_client import REGISTRY

# Imported for their side effect: each declares its process's metrics at module level, which
# metrics_doc reads back from the registry.
import connectors.callbacks.app  # the callback service
import connectors.metrics  # noqa: F401 — the event path
import reconcile.metrics  # noqa: F401 — the batch path
from smartsync.core.catalog import Catalog, Schedule

LAG_WARNING_S = 60
LAG_CRITICAL_S = 300
ERROR_RATE_MAX = 0.01
BATCH_LATE_S = 15 * 60

_RUNBOOK = "docs/operations.md"


def _period_s(schedule: Schedule) -> int:
    """Seconds between two scheduled runs of a job (its cron's regular interval)."""
    it = croniter(schedule.cron, 0)
    first = it.get_next(float)
    return int(it.get_next(float) - first)


def _alert(name: str, expr: str, severity: str, summary: str, for_: str = "0m") -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, "service": "smartsync"},
        # One runbook section per alert family (the part before a per-sync or per-job suffix).
        "annotations": {"summary": summary, "runbook": f"{_RUNBOOK}#{name.split('_', maxsplit=1)[0].lower()}"},
    }


def alert_rules(catalog: Catalog) -> dict[str, Any]:
    """The Prometheus rule file (as data) for every sync and job of the catalog."""
    event: list[dict[str, Any]] = []
    for sync in catalog.event_syncs():
        target = sync.latency_target_s
        sel = f'flow="{sync.direction.value}",table="{sync.target}"'
        event.append(
            _alert(
                f"SmartSyncLatency_{sync.name}",
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(smartsync_end_to_end_latency_seconds_bucket{{{sel}}}[5m]))) > {target}",
                "warning",
                f"{sync.title}: p95 source-to-target latency above its {target:g} s target",
                "5m",
            )
        )
    event += [
        _alert(
            "SmartSyncConsumerLagWarning",
            "histogram_quantile(0.95, sum by (flow, le) "
            f"(rate(smartsync_end_to_end_latency_seconds_bucket[5m]))) > {LAG_WARNING_S}",
            "warning",
            f"{{{{ $labels.flow }}}} is more than {LAG_WARNING_S} s behind its sources",
            "2m",
        ),
        _alert(
            "SmartSyncConsumerLagCritical",
            "histogram_quantile(0.95, sum by (flow, le) "
            f"(rate(smartsync_end_to_end_latency_seconds_bucket[5m]))) > {LAG_CRITICAL_S}",
            "critical",
            f"{{{{ $labels.flow }}}} is more than {LAG_CRITICAL_S} s behind its sources",
            "2m",
        ),
        _alert(
            "SmartSyncErrorRateHigh",
            "sum by (flow, table) (rate(smartsync_event_errors_total[10m])) / "
            f"clamp_min(sum by (flow, table) (rate(smartsync_events_in_total[10m])), 1e-9) > {ERROR_RATE_MAX}",
            "warning",
            f"{{{{ $labels.table }}}}: more than {ERROR_RATE_MAX:.0%} of events fail (see the dead-letter topic)",
            "10m",
        ),
        _alert(
            "SmartSyncDeadLetters",
            "increase(smartsync_dead_letters_total[15m]) > 0",
            "warning",
            "{{ $labels.table }}: new dead letters; list them with `smartsync flow dead-letters list`",
        ),
        _alert(
            "SmartSyncTargetDown",
            "smartsync_sink_up == 0",
            "critical",
            "{{ $labels.flow }} cannot write its target database (retrying with backoff)",
            "1m",
        ),
        _alert(
            "SmartSyncFlowDown",
            'up{job="smartsync-dataflows"} == 0',
            "critical",
            "a dataflow process is not answering on its metrics port",
            "2m",
        ),
        _alert(
            "SmartSyncCallbacksUnavailable",
            'sum by (sync) (rate(smartsync_callbacks_received_total{outcome="unavailable"}[5m])) > 0',
            "critical",
            "{{ $labels.sync }} callbacks are refused with 503: Kafka does not confirm writes",
            "2m",
        ),
    ]
    batch: list[dict[str, Any]] = []
    for _, schedule in catalog.jobs():
        late = _period_s(schedule) + BATCH_LATE_S
        batch.append(
            _alert(
                f"SmartSyncBatchLate_{schedule.job}",
                f'time() - smartsync_batch_last_start_timestamp_seconds{{job="{schedule.job}"}} > {late}',
                "warning",
                f"{schedule.job} ({schedule.cron} UTC) has not started "
                f"within {BATCH_LATE_S // 60} minutes of its schedule",
            )
        )
        batch.append(
            _alert(
                f"SmartSyncBatchSlow_{schedule.job}",
                "histogram_quantile(0.5, sum by (le) "
                f'(rate(smartsync_batch_duration_seconds_bucket{{job="{schedule.job}"}}[1d]))) '
                f"> {schedule.expected_minutes * 60}",
                "warning",
                f"{schedule.job} runs longer than the {schedule.expected_minutes} minutes it is planned for",
            )
        )
    batch += [
        _alert(
            "SmartSyncBatchFailed",
            "smartsync_batch_last_status == 0",
            "critical",
            "batch job {{ $labels.job }} failed; see smartsync.job_runs and rerun with `smartsync batch run`",
        ),
        _alert(
            "SmartSyncDrift",
            "sum by (table) (smartsync_reconcile_drift_rows) > 0",
            "warning",
            "{{ $labels.table }} differs from its source after the last reconciliation",
            "1h",
        ),
    ]
    return {
        "groups": [
            {"name": "smartsync-event-path", "rules": event},
            {"name": "smartsync-batch-path", "rules": batch},
        ]
    }


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
        ("Consumer lag per partition", [("bytewax_kafka_consumer_lag", "{{topic}}/{{partition}}")], "short"),
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
                ("sum by (job, kind) (increase(smartsync_batch_rows_total[1h]))", "{{job}} {{kind}}"),
                ("smartsync_batch_last_status", "status {{job}}"),
            ],
            "short",
        ),
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
