"""The rule files and the Alertmanager configuration, checked by Prometheus' own tools.

``promtool test rules`` runs ops/prometheus/tests/*.yml (a firing and a silent case per alert,
the maintenance window included); ``amtool check-config`` and ``amtool config routes test``
check the routing. The tools come from Debian's prometheus and prometheus-alertmanager
packages (scripts/stack-deps.sh); a missing tool fails the test, it never skips.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartsync.cli.ops import OPS
from smartsync.core.catalog import load_catalog
from smartsync.monitoring.alertmanager import MAINTENANCE, MAINTENANCE_BATCH, batch_margin_minutes
from smartsync.monitoring.rules import alert_rules

RULE_TESTS = sorted((OPS / "prometheus" / "tests").glob("*.yml"))
ALERTMANAGER = OPS / "alertmanager" / "alertmanager.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: run scripts/stack-deps.sh (Debian prometheus, prometheus-alertmanager)"
    return path


def _run(*args: str | Path) -> str:
    """The tool's standard output; a failure shows both streams."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False, timeout=120)  # noqa: S603
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_rule_tests_pass() -> None:
    assert RULE_TESTS
    out = _run(_tool("promtool"), "test", "rules", *RULE_TESTS)
    assert "FAILED" not in out


def test_promtool_checks_the_rules_and_the_scrape_config() -> None:
    _run(_tool("promtool"), "check", "rules", OPS / "prometheus" / "smartsync-rules.yml")
    _run(_tool("promtool"), "check", "config", "--syntax-only", OPS / "prometheus" / "prometheus.yml")


def test_every_alert_family_has_a_firing_and_a_silent_case() -> None:
    families = {r["alert"].split("_", 1)[0] for g in alert_rules(load_catalog())["groups"] for r in g["rules"]}
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"].split("_", 1)[0])
    assert families - firing == set(), "alerts no rule test sees firing"
    assert families - silent == set(), "alerts no rule test sees silent"


def test_amtool_accepts_the_alertmanager_config() -> None:
    _run(_tool("amtool"), "check-config", ALERTMANAGER)


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["service=smartsync", "path=batch", "severity=critical"], "oncall-smartsync,slack-smartsync"),
        (["service=smartsync", "path=event", "severity=warning"], "slack-smartsync"),
        (["service=smartsync", "path=cdc", "severity=critical"], "oncall-smartsync,slack-smartsync"),
        (["service=smartsync", "path=process", "severity=critical"], "oncall-smartsync,slack-smartsync"),
    ],
)
def test_amtool_routes_alerts(labels: list[str], receivers: str) -> None:
    out = _run(_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert out.strip() == receivers


def _muted(config: dict[str, Any], name: str, at: datetime) -> bool:
    """Alertmanager's time-interval semantics for the fields the rendered config uses."""
    interval = next(i for i in config["time_intervals"] if i["name"] == name)
    for ti in interval["time_intervals"]:
        assert ti["location"] == "UTC"
        day_ok = at.strftime("%A").lower() in ti["weekdays"]
        lo, hi = (int(x) for x in ti["days_of_month"][0].split(":"))
        minutes = at.hour * 60 + at.minute
        for span in ti["times"]:
            start = [int(x) for x in span["start_time"].split(":")]
            end = [int(x) for x in span["end_time"].split(":")]
            if day_ok and lo <= at.day <= hi and start[0] * 60 + start[1] <= minutes < end[0] * 60 + end[1]:
                return True
    return False


def test_the_maintenance_window_mutes_alerts_and_the_deferred_runs_margin() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    first_sunday = datetime(2026, 12, 6, tzinfo=UTC)  # the first Sunday of December 2026
    assert first_sunday.weekday() == 6
    assert _muted(config, MAINTENANCE, first_sunday.replace(hour=2, minute=0))
    assert _muted(config, MAINTENANCE, first_sunday.replace(hour=3, minute=59))
    assert not _muted(config, MAINTENANCE, first_sunday.replace(hour=4, minute=30))
    assert not _muted(config, MAINTENANCE, first_sunday.replace(hour=1, minute=59))
    # Deferred to 04:00: user_behavior (15 min), feedback (5), the weekly reconciliation (60) and the hourly job (10).
    assert batch_margin_minutes(load_catalog()) == 90
    assert _muted(config, MAINTENANCE_BATCH, first_sunday.replace(hour=5, minute=29))
    assert not _muted(config, MAINTENANCE_BATCH, first_sunday.replace(hour=5, minute=30))
    # Not the second Sunday, not the first Monday.
    assert not _muted(config, MAINTENANCE_BATCH, datetime(2026, 12, 13, 3, tzinfo=UTC))
    assert not _muted(config, MAINTENANCE_BATCH, datetime(2026, 12, 7, 3, tzinfo=UTC))
    # Every route of SmartSync's alerts names one of the two intervals.
    for route in config["route"]["routes"]:
        assert route["mute_time_intervals"] in ([MAINTENANCE], [MAINTENANCE_BATCH])
