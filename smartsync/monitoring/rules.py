"""Prometheus alert rules, derived from the catalog, on the series as Prometheus scrapes them.

The seeds' thresholds: a batch job that starts more than 15 minutes after its scheduled time or
fails alerts at once; consumer lag over 60 s warns and over 300 s is critical; p95 latency over
each sync's target (5 s, forecasts 2 s); error rate over 1 %; sync success under 99 %.

Rules read only what Prometheus actually stores: no metric label named ``job`` or ``instance``
(Prometheus renames them ``exported_*``); the lag alerts read ``smartsync_sync_lag_seconds`` of
``smartsync monitor``, which is measured from outside the flows and so keeps rising while a flow
is hung, a connector failed or the broker is unreachable; every process that must be scraped
has an ``up == 0`` and an ``absent(up)`` alert, so a target that resolves to nothing is seen.
``ops/prometheus/tests/`` holds ``promtool test rules`` cases for each alert.
"""

from __future__ import annotations

from typing import Any

from smartsync.core.catalog import Catalog

LAG_WARNING_S = 60
LAG_CRITICAL_S = 300
ERROR_RATE_MAX = 0.01
SUCCESS_RATE_MIN = 0.99
BATCH_LATE_S = 15 * 60
# A backlog of this many messages on one topic is about an hour of the seeds' peak traffic.
OFFSET_LAG_MAX = 10_000
# Top-N groups expired within an hour, as a share of the groups held an hour ago, and the least count that alerts.
TOP_N_MASS_EXPIRY_SHARE = 0.5
TOP_N_MASS_EXPIRY_MIN = 100
SLOT_RETAINED_WARNING_BYTES = 1 << 30
SLOT_RETAINED_CRITICAL_BYTES = 8 << 30

# Scrape jobs of ops/prometheus/prometheus.yml.
SCRAPE_JOBS = {
    "SmartSyncFlowDown": ("smartsync-dataflows", "a dataflow process"),
    "SmartSyncCallbacksDown": ("smartsync-callbacks", "the callback service"),
    "SmartSyncSchedulerDown": ("smartsync-scheduler", "the batch scheduler (no batch job runs or alerts)"),
    "SmartSyncMonitorDown": ("smartsync-monitor", "smartsync monitor (sync lag, connectors and slots unmeasured)"),
}

_RUNBOOK = "docs/operations.md"


def alert(name: str, expr: str, severity: str, summary: str, *, path: str, for_: str = "0m") -> dict[str, Any]:
    """One rule; ``path`` (event, batch, cdc, process) decides its maintenance-window muting."""
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, "service": "smartsync", "path": path},
        # One runbook section per alert family (the part before a per-sync or per-job suffix).
        "annotations": {"summary": summary, "runbook": f"{_RUNBOOK}#{name.split('_', maxsplit=1)[0].lower()}"},
    }


def _event(catalog: Catalog) -> list[dict[str, Any]]:
    out = []
    for sync in catalog.event_syncs():
        target = sync.latency_target_s
        sel = f'flow="{sync.direction.value}",table="{sync.target}"'
        out.append(
            alert(
                f"SmartSyncLatency_{sync.name}",
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(smartsync_end_to_end_latency_seconds_bucket{{{sel}}}[5m]))) > {target}",
                "warning",
                f"{sync.title}: p95 source-to-target latency above its {target:g} s target",
                path="event",
                for_="5m",
            )
        )
    return [
        *out,
        alert(
            "SmartSyncConsumerLagWarning",
            f"max by (sync) (smartsync_sync_lag_seconds) > {LAG_WARNING_S}",
            "warning",
            f"{{{{ $labels.sync }}}}: a change has waited more than {LAG_WARNING_S} s between Kafka and its target",
            path="event",
        ),
        alert(
            "SmartSyncConsumerLagCritical",
            f"max by (sync) (smartsync_sync_lag_seconds) > {LAG_CRITICAL_S}",
            "critical",
            f"{{{{ $labels.sync }}}}: a change has waited more than {LAG_CRITICAL_S} s between Kafka and its target",
            path="event",
        ),
        alert(
            "SmartSyncOffsetLagHigh",
            f"max by (topic) (sum by (topic, partition) (smartsync_kafka_offset_lag)) > {OFFSET_LAG_MAX}"
            f" or sum by (topic) (bytewax_kafka_consumer_lag) > {OFFSET_LAG_MAX}",
            "warning",
            f"{{{{ $labels.topic }}}}: more than {OFFSET_LAG_MAX} messages not yet applied",
            path="event",
            for_="5m",
        ),
        alert(
            "SmartSyncErrorRateHigh",
            "sum by (flow, table) (rate(smartsync_event_errors_total[10m])) / "
            f"clamp_min(sum by (flow, table) (rate(smartsync_events_in_total[10m])), 1e-9) > {ERROR_RATE_MAX}",
            "warning",
            f"{{{{ $labels.table }}}}: more than {ERROR_RATE_MAX:.0%} of events fail (see the dead-letter topic)",
            path="event",
            for_="10m",
        ),
        alert(
            "SmartSyncDeadLetters",
            "sum by (flow, table) (increase(smartsync_dead_letters_total[15m])) > 0",
            "warning",
            "{{ $labels.table }}: new dead letters; list them with `smartsync flow dead-letters list`",
            path="event",
        ),
        # Data safety of the event path (docs/event-path.md): never skip or stall silently.
        alert(
            "SmartSyncOffsetReset",
            "sum by (flow, topic) (increase(smartsync_offset_resets_total[15m])) > 0",
            "warning",
            "{{ $labels.flow }} found resume offsets of {{ $labels.topic }} out of range and replays it from the "
            "earliest retained offset; reconcile what the topic no longer retains",
            path="event",
        ),
        alert(
            "SmartSyncDeadLettersUndeliverable",
            "sum by (flow) (increase(smartsync_dead_letters_undeliverable_total[15m])) > 0",
            "critical",
            "{{ $labels.flow }} stopped: its dead-letter topic refuses a dead letter for good",
            path="event",
        ),
        alert(
            "SmartSyncEventsSkippedHigh",
            "sum by (flow, table) (rate(smartsync_events_skipped_total[15m])) / "
            "clamp_min(sum by (flow, table) (rate(smartsync_events_in_total[15m])), 1e-9) > 0.5",
            "warning",
            "{{ $labels.table }}: most changes lose to newer positions (a restored source? see the runbook)",
            path="event",
            for_="30m",
        ),
        # Expiring idle citizens is routine (a few per thousand held per hour at the 7-day default); most of them in
        # an hour means the limit is set far too short or the clock jumped, and many citizens' hints may be wrong
        # until the daily fixing reconcile.
        alert(
            "SmartSyncTopNMassExpiry",
            f"sum by (flow, sync) (increase(smartsync_top_n_groups_expired_total[1h])) > {TOP_N_MASS_EXPIRY_MIN}"
            " and sum by (flow, sync) (increase(smartsync_top_n_groups_expired_total[1h])) / clamp_min(sum by "
            "(flow, sync) (smartsync_top_n_groups) + sum by (flow, sync) (increase(smartsync_top_n_groups_expired"
            f"_total[1h])), 1) > {TOP_N_MASS_EXPIRY_SHARE}",
            "warning",
            "{{ $labels.flow }} expired most of its {{ $labels.sync }} groups within an hour: check "
            "SMARTSYNC_TOP_N_IDLE_S and the clock, then run the sync's daily fixing reconcile",
            path="event",
        ),
        # The source identity check (every ~30 s while a flow writes) cannot run: the flow writes on, but a restored
        # source would go unnoticed. A source restart's failed check or two stays under the hold; a wrong flow-source
        # DSN or a revoked grant fails every check and fires.
        alert(
            "SmartSyncSourceCheckFailing",
            "sum by (flow) (increase(smartsync_source_check_failures_total[10m])) > 0",
            "warning",
            "{{ $labels.flow }} cannot check its source database's identity (wrong SMARTSYNC_FLOW_SOURCE_*_DSN, a "
            "revoked grant or the source down): a restored source would go unnoticed",
            path="event",
            for_="15m",
        ),
        alert(
            "SmartSyncTargetDown",
            "smartsync_sink_up == 0",
            "critical",
            "{{ $labels.flow }} cannot write its target database (retrying with backoff)",
            path="event",
            for_="1m",
        ),
        alert(
            "SmartSyncCallbacksUnavailable",
            'sum by (sync) (rate(smartsync_callbacks_received_total{outcome="unavailable"}[5m])) > 0',
            "critical",
            "{{ $labels.sync }} callbacks are refused with 503: Kafka does not confirm writes",
            path="event",
            for_="2m",
        ),
    ]


def _cdc() -> list[dict[str, Any]]:
    gib = 1 << 30
    return [
        alert(
            "SmartSyncConnectorFailed",
            "smartsync_cdc_connector_running == 0 or smartsync_cdc_task_running == 0",
            "critical",
            "Debezium connector {{ $labels.connector }} (task {{ $labels.task }}) is not RUNNING: "
            "no change is captured",
            path="cdc",
            for_="2m",
        ),
        alert(
            "SmartSyncSlotRetainedWal",
            f"smartsync_replication_slot_retained_bytes > {SLOT_RETAINED_WARNING_BYTES}",
            "warning",
            f"replication slot {{{{ $labels.slot }}}} retains more than {SLOT_RETAINED_WARNING_BYTES // gib} GiB "
            "of WAL on {{ $labels.database }}",
            path="cdc",
            for_="10m",
        ),
        alert(
            "SmartSyncSlotRetainedWalCritical",
            f"smartsync_replication_slot_retained_bytes > {SLOT_RETAINED_CRITICAL_BYTES}",
            "critical",
            f"replication slot {{{{ $labels.slot }}}} retains more than {SLOT_RETAINED_CRITICAL_BYTES // gib} GiB "
            "of WAL on {{ $labels.database }}: the disk of a government database fills",
            path="cdc",
            for_="5m",
        ),
        alert(
            "SmartSyncMonitorCheckFailing",
            "smartsync_monitor_check_up == 0",
            "critical",
            "smartsync monitor check {{ $labels.check }} fails: what it measures there is unknown",
            path="cdc",
            for_="2m",
        ),
    ]


def _processes() -> list[dict[str, Any]]:
    out = []
    for name, (job, what) in SCRAPE_JOBS.items():
        out.append(
            alert(
                name,
                f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})',
                "critical",
                f"{what} is not answering on its metrics port, or Prometheus finds no target for it",
                path="process",
                for_="2m",
            )
        )
    return out


def _batch(catalog: Catalog) -> list[dict[str, Any]]:
    out = []
    for _, schedule in catalog.jobs():
        sel = f'{{batch_job="{schedule.job}"}}'
        out.append(
            alert(
                f"SmartSyncBatchLate_{schedule.job}",
                # Due (its cron time moved past the maintenance window) and not started since.
                f"(time() - smartsync_batch_next_due_timestamp_seconds{sel} > {BATCH_LATE_S}) "
                f"unless on (batch_job) (smartsync_batch_last_start_timestamp_seconds{sel} "
                f">= on (batch_job) smartsync_batch_next_due_timestamp_seconds{sel})",
                "warning",
                f"{schedule.job} ({schedule.cron} UTC) has not started "
                f"within {BATCH_LATE_S // 60} minutes of its scheduled time",
                path="batch",
            )
        )
        out.append(
            alert(
                f"SmartSyncBatchSlow_{schedule.job}",
                "histogram_quantile(0.5, sum by (le) "
                f"(rate(smartsync_batch_duration_seconds_bucket{sel}[1d]))) "
                f"> {schedule.expected_minutes * 60}",
                "warning",
                f"{schedule.job} runs longer than the {schedule.expected_minutes} minutes it is planned for",
                path="batch",
            )
        )
    return [
        *out,
        alert(
            "SmartSyncBatchFailed",
            "smartsync_batch_last_status == 0",
            "critical",
            "batch job {{ $labels.batch_job }} failed; see `smartsync batch runs` and rerun with `smartsync batch run`",
            path="batch",
        ),
        alert(
            "SmartSyncBatchSuccessRateLow",
            "1 - sum(increase(smartsync_batch_failures_total[7d])) "
            f"/ clamp_min(sum(increase(smartsync_batch_runs_total[7d])), 1) < {SUCCESS_RATE_MIN}",
            "warning",
            f"fewer than {SUCCESS_RATE_MIN:.0%} of the batch runs of the last 7 days succeeded",
            path="batch",
        ),
        alert(
            "SmartSyncDrift",
            "sum by (table) (smartsync_reconcile_drift_rows) > 0",
            "warning",
            "{{ $labels.table }} differs from its source after the last reconciliation",
            path="batch",
            for_="1h",
        ),
    ]


def alert_rules(catalog: Catalog) -> dict[str, Any]:
    """The Prometheus rule file (as data) for every sync and job of the catalog."""
    return {
        "groups": [
            {"name": "smartsync-event-path", "rules": _event(catalog)},
            {"name": "smartsync-cdc", "rules": _cdc()},
            {"name": "smartsync-processes", "rules": _processes()},
            {"name": "smartsync-batch-path", "rules": _batch(catalog)},
        ]
    }
