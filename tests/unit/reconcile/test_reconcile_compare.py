"""The pure helpers of comparing a sync: notes per kind, the days an aggregate recomputes, argument checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconcile.cron import last_days
from reconcile.generic import compare_tables
from reconcile.kinds import Kind, kind_of, note_for
from reconcile.report import aggregate_window
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ReconcileError

CAT = load_catalog()


def test_last_days_are_the_complete_utc_days_before_today() -> None:
    now = datetime(2026, 11, 20, 0, 30, tzinfo=UTC)
    assert last_days(1, now) == (datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
    assert last_days(7, now)[0] == datetime(2026, 11, 13, tzinfo=UTC)


def test_a_scope_recomputes_one_or_seven_days_of_an_aggregate() -> None:
    now = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)
    assert aggregate_window("daily", now) == last_days(1, now)
    assert aggregate_window("weekly", now) == last_days(7, now)


def test_every_kind_says_how_it_was_compared() -> None:
    notes = {s.name: note_for(kind_of(s), s) for s in CAT.syncs}
    assert notes["profile_summary"] == ""  # a pure copy: a plain mirror needs no note
    assert "never deletes" in notes["profile_updates"]  # its target holds more than the sync writes
    assert notes["user_behavior"] == "aggregates recomputed from the raw events"
    assert notes["feedback"] == "append: a fix never deletes"
    assert "a fix appends" in notes["application_submissions"]
    assert "callback-fed" in notes["benefit_forecasts"] and "never deletes" in notes["ml_alerts"]
    assert "top N" in note_for(Kind.TOP_N, CAT.sync("profile_summary"))


def test_two_tables_need_a_key_before_anything_connects() -> None:
    with pytest.raises(ReconcileError, match="--key names no column"):
        compare_tables(
            source_dsn="postgresql://nowhere",
            target_dsn="postgresql://nowhere",
            source_table="a",
            target_table="b",
            key=[],
        )
