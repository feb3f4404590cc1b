"""The source-identity check of the event path's writer (pure: stand-ins for the databases)."""

from __future__ import annotations

import logging

import psycopg
import pytest
from prometheus_client import REGISTRY

from connectors.postgres.source_identity import CheckOutage, SourceIdentity, regression_error
from connectors.postgres.writer import BatchWriter
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.errors import SinkError

OLD = SourceIdentity("7713946408158729542", 1)
NEW = SourceIdentity("7713946408158729999", 1)


def _writer(check: object, every_s: float) -> BatchWriter:
    return BatchWriter(
        load_catalog(),
        Direction.WAREHOUSE_TO_CITIZEN,
        "postgresql://unused",
        lambda _letters: None,
        source_check=check,  # type: ignore[arg-type]
        source_check_every_s=every_s,
    )


def test_a_new_source_incarnation_stops_the_writer_with_the_rebase_command() -> None:
    def check() -> None:
        raise regression_error("smart_warehouse", "smart_citizen", OLD, NEW, "warehouse_to_citizen")  # noqa: EM101

    with pytest.raises(SinkError) as info:
        _writer(check, 0.0).write([])
    text = str(info.value)
    assert "new incarnation" in text
    assert "smartsync flow rebase warehouse_to_citizen" in text
    assert str(OLD) in text


def test_the_check_runs_at_most_once_per_interval_and_rides_out_a_source_outage() -> None:
    calls: list[int] = []

    def check() -> None:
        calls.append(1)
        msg = "connection refused"
        raise psycopg.OperationalError(msg)

    slow = _writer(check, 3600.0)
    slow.write([])
    assert calls == []
    fast = _writer(check, 0.0)
    fast.write([])  # the source is down: no verdict, the flow goes on
    fast.write([])
    assert len(calls) == 2


def test_an_outage_is_news_at_its_first_failure_and_at_its_recovery_only() -> None:
    outage = CheckOutage()
    assert outage.succeeded() == 0  # no outage: nothing to say
    assert [outage.failed() for _ in range(3)] == [True, False, False]
    assert outage.succeeded() == 3
    assert outage.succeeded() == 0
    assert outage.failed() is True  # a new outage is news again


def _failures() -> float:
    return REGISTRY.get_sample_value("smartsync_source_check_failures_total", {"flow": "warehouse_to_citizen"}) or 0.0


def test_a_check_that_cannot_run_warns_once_per_outage_and_counts_every_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "s3cr%t-pw"
    broken = [True]

    def check() -> None:
        if broken[0]:
            msg = f"connection to server failed: password authentication failed (postgresql://u:{secret}@h/w)"
            raise psycopg.OperationalError(msg)

    writer = _writer(check, 0.0)
    before = _failures()
    with caplog.at_level(logging.DEBUG, logger="connectors.postgres.writer"):
        for _ in range(3):
            writer.write([])  # the flow goes on
        broken[0] = False
        writer.write([])
        writer.write([])
        broken[0] = True
        writer.write([])
    assert _failures() - before == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings  # outage, recovery, the next outage
    assert "the source identity check cannot run" in warnings[0]
    assert "SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN" in warnings[0]
    assert "runs again after 3 failed check(s)" in warnings[1]
    assert "cannot run" in warnings[2]
    assert not [r for r in caplog.records if secret in r.getMessage()]


def test_a_revoked_privilege_does_not_stop_the_writer_either() -> None:
    def check() -> None:
        msg = "permission denied for function pg_control_system"
        raise psycopg.errors.InsufficientPrivilege(msg)

    before = _failures()
    _writer(check, 0.0).write([])
    assert _failures() - before == 1
