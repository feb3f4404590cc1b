"""The source-identity check of the event path's writer (pure: stand-ins for the databases)."""

from __future__ import annotations

import psycopg
import pytest

from connectors.postgres.source_identity import SourceIdentity, regression_error
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
