"""The Alertmanager configuration: routes (the seeds: Slack and e-mail) and the maintenance window.

The catalog's maintenance window (first Sunday of the month, 02:00–04:00 UTC) mutes SmartSync's
alerts: the databases are down on purpose and batch jobs pause. Batch alerts stay muted a little
longer: every firing the window deferred starts at its end, one after the other, so the last of
them starts up to the sum of their planned durations later; ``batch_margin_minutes`` derives
that margin from the catalog. Event-path alerts get ``EVENT_MARGIN_MINUTES`` for the buffered
changes to drain. Critical alerts page the on-call engineer by e-mail and post to Slack.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

from smartsync.core.catalog import Catalog, MaintenanceWindow

EVENT_MARGIN_MINUTES = 15
MAINTENANCE = "smartsync-maintenance"
MAINTENANCE_BATCH = "smartsync-maintenance-batch"
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A first Sunday of a month, to lay the window on.
_REFERENCE_DAY = datetime(2026, 1, 4, tzinfo=UTC)


def batch_margin_minutes(catalog: Catalog) -> int:
    """Planned minutes of every job firing the window defers to its end (at most one per job)."""
    window = catalog.maintenance
    day = _REFERENCE_DAY + timedelta(days=(window.weekday - _REFERENCE_DAY.weekday()) % 7)
    start = day.replace(hour=window.start_hour_utc)
    end = day.replace(hour=window.end_hour_utc)
    total = 0
    for _, schedule in catalog.jobs():
        first = croniter(schedule.cron, start - timedelta(seconds=1)).get_next(datetime)
        if first < end:
            total += schedule.expected_minutes
    return total


def _interval(window: MaintenanceWindow, extra_minutes: int) -> dict[str, Any]:
    end = datetime(2000, 1, 1, window.end_hour_utc, tzinfo=UTC) + timedelta(minutes=extra_minutes)
    if end.day != 1:
        msg = "a maintenance margin past midnight is not expressible in one Alertmanager time interval"
        raise ValueError(msg)
    first, last = 7 * (window.nth_in_month - 1) + 1, 7 * window.nth_in_month
    return {
        "weekdays": [_WEEKDAYS[window.weekday]],
        "days_of_month": [f"{first}:{last}"],
        "times": [{"start_time": f"{window.start_hour_utc:02d}:00", "end_time": f"{end:%H:%M}"}],
        "location": "UTC",
    }


def _routes(path_matcher: str, mute: str) -> list[dict[str, Any]]:
    base = ['service="smartsync"', path_matcher]
    return [
        {
            "matchers": [*base, 'severity="critical"'],
            "receiver": "oncall-smartsync",
            "group_wait": "0s",
            "repeat_interval": "1h",
            "mute_time_intervals": [mute],
            "continue": True,
        },
        {"matchers": base, "receiver": "slack-smartsync", "mute_time_intervals": [mute]},
    ]


def alertmanager_config(catalog: Catalog) -> dict[str, Any]:
    window = catalog.maintenance
    return {
        "global": {
            "resolve_timeout": "5m",
            "smtp_smarthost": "smtp.example.gov.in:587",
            "smtp_from": "smartsync-alerts@example.gov.in",
        },
        "time_intervals": [
            {"name": MAINTENANCE, "time_intervals": [_interval(window, EVENT_MARGIN_MINUTES)]},
            {"name": MAINTENANCE_BATCH, "time_intervals": [_interval(window, batch_margin_minutes(catalog))]},
        ],
        "route": {
            "receiver": "slack-smartsync",
            "group_by": ["alertname", "flow", "table", "sync", "batch_job", "connector", "slot"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            # mute_time_intervals are not inherited: each route names its own.
            "routes": _routes('path="batch"', MAINTENANCE_BATCH) + _routes('path=~"event|cdc|process"', MAINTENANCE),
        },
        "inhibit_rules": [
            # A target that is down explains its latency, lag and error alerts.
            {
                "source_matchers": ['alertname="SmartSyncTargetDown"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["flow"],
            },
            # The monitor being down explains why nothing it measures is known.
            {
                "source_matchers": ['alertname="SmartSyncMonitorDown"'],
                "target_matchers": ['alertname="SmartSyncMonitorCheckFailing"'],
            },
        ],
        "receivers": [
            {
                "name": "slack-smartsync",
                "slack_configs": [
                    {
                        "api_url_file": "/etc/alertmanager/secrets/slack-webhook",
                        "channel": "#smartsync-alerts",
                        "send_resolved": True,
                        "title": "{{ .CommonLabels.alertname }}",
                        "text": '{{ range .Alerts }}{{ .Annotations.summary }} ({{ .Annotations.runbook }}){{ "\\n" }}'
                        "{{ end }}",
                    }
                ],
            },
            {
                "name": "oncall-smartsync",
                "email_configs": [{"to": "smartsync-oncall@example.gov.in", "send_resolved": True}],
            },
        ],
    }
