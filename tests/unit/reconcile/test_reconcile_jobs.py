"""Schedule math, job planning and report rendering: no database needed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from reconcile.cron import in_maintenance, next_allowed_run, next_run, previous_run
from reconcile.jobs import aggregate_days, find_job, incremental_since
from reconcile.kinds import Kind, deletes_on_fix, fix_order, kind_of, owns_target
from reconcile.model import ChangedRow, IntegrityCheck, Report, SchemaDiff, TableDiff
from reconcile.render import render
from reconcile.report import citizen_registries, syncs_in_scope
from reconcile.specs import aggregate_sql, top_n_sql
from smartsync.core.catalog import load_catalog
from smartsync.core.tables import Database

CAT = load_catalog()


def t(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_next_and_previous_runs_follow_the_catalog_cron() -> None:
    _, hourly = find_job(CAT, "profile_summary_hourly")
    assert next_run(hourly.cron, t(2026, 11, 21, 21, 13)) == t(2026, 11, 21, 22, 0)
    _, weekly = find_job(CAT, "weekly_reconciliation")
    assert next_run(weekly.cron, t(2026, 11, 21, 21, 13)) == t(2026, 11, 22, 3, 0)  # Sunday 03:00
    assert previous_run(hourly.cron, t(2026, 11, 21, 21, 0)) == t(2026, 11, 21, 21, 0)
    assert previous_run(hourly.cron, t(2026, 11, 21, 21, 59)) == t(2026, 11, 21, 21, 0)


def test_maintenance_window_is_the_first_sunday_02_to_04() -> None:
    w = CAT.maintenance
    assert in_maintenance(w, t(2026, 12, 6, 2, 0))  # first Sunday of December 2026
    assert in_maintenance(w, t(2026, 12, 6, 3, 59))
    assert not in_maintenance(w, t(2026, 12, 6, 4, 0))
    assert not in_maintenance(w, t(2026, 12, 13, 2, 30))  # second Sunday
    assert not in_maintenance(w, t(2026, 12, 5, 2, 30))  # Saturday
    # A job that would fire inside the window waits for its end.
    _, user = find_job(CAT, "user_behavior_daily")
    assert next_allowed_run(user.cron, t(2026, 12, 5, 12, 0), w) == t(2026, 12, 6, 4, 0)
    assert next_allowed_run(user.cron, t(2026, 12, 6, 12, 0), w) == t(2026, 12, 7, 2, 0)


def test_incremental_window() -> None:
    now = t(2026, 11, 21, 12, 0)
    assert incremental_since(None, 0, now) is None  # first run: everything
    assert incremental_since(None, 24, now) == t(2026, 11, 20, 12, 0)
    assert incremental_since(t(2026, 11, 21, 11, 0), 0, now) == t(2026, 11, 21, 11, 0)
    # A watermark left behind by failed runs widens the 24-hour floor, never narrows it.
    assert incremental_since(t(2026, 11, 18, 0, 0), 24, now) == t(2026, 11, 18, 0, 0)
    assert incremental_since(t(2026, 11, 21, 11, 0), 24, now) == t(2026, 11, 20, 12, 0)


def test_aggregate_days_catch_up_after_failures() -> None:
    now = t(2026, 11, 21, 2, 0)
    assert aggregate_days(None, now) == [(t(2026, 11, 20), t(2026, 11, 21))]
    assert aggregate_days(t(2026, 11, 21), now) == [(t(2026, 11, 20), t(2026, 11, 21))]
    assert [d for d, _ in aggregate_days(t(2026, 11, 18), now)] == [t(2026, 11, 18), t(2026, 11, 19), t(2026, 11, 20)]
    assert len(aggregate_days(t(2020, 1, 1), now)) == 31


def test_kinds_and_fix_rules_come_from_the_catalog() -> None:
    kinds = {s.name: kind_of(s) for s in CAT.syncs}
    assert kinds["eligibility_hints"] is Kind.TOP_N
    assert kinds["application_submissions"] is Kind.EVENT_LOG
    assert kinds["user_behavior"] is Kind.AGGREGATE
    assert kinds["feedback"] is Kind.APPEND
    assert kinds["scheme_master"] is Kind.MIRROR
    # The warehouse's golden records hold more than the portal sends: never deleted by a fix.
    assert not owns_target(CAT.sync("profile_updates"))
    assert not deletes_on_fix(Kind.MIRROR, CAT.sync("profile_updates"))
    assert deletes_on_fix(Kind.MIRROR, CAT.sync("profile_summary"))
    order = [s.name for s in fix_order(list(CAT.syncs))]
    assert order.index("profile_updates") < order.index("golden_records")


def test_scopes() -> None:
    assert [s.name for s in syncs_in_scope(CAT, "hourly")] == ["profile_summary"]
    daily = {s.name for s in syncs_in_scope(CAT, "daily")}
    assert daily == {s.name for s in CAT.syncs if s.schedules}
    assert len(syncs_in_scope(CAT, "weekly")) == len(CAT.syncs)
    assert citizen_registries(CAT) == {Database.CITIZEN: "public.citizens", Database.WAREHOUSE: "public.golden_records"}


def test_generated_sql_reads_the_catalog() -> None:
    query = aggregate_sql(CAT.sync("user_behavior"), t(2026, 11, 20), t(2026, 11, 21), "occurred_at")
    assert "COUNT(DISTINCT session_id)" in query and "GROUP BY" in query
    top = top_n_sql(CAT.sync("eligibility_hints"))
    assert "_rank <= 5" in top and "'eligible'" in top and 'COLLATE "C"' in top


def _report() -> Report:
    diff = TableDiff(
        name="profile_summary",
        source="w.public.profile_360",
        target="c.public.profile_summary",
        key=("citizen_id",),
        schema=SchemaDiff(retyped=(("x", "integer", "bigint"),)),
        source_rows=10,
        target_rows=10,
        source_only=((1,),),
        target_only=((2,),),
        changed=(ChangedRow((3,), ("mobile",)),),
        unchanged=7,
    )
    return Report(
        "weekly",
        t(2026, 11, 22, 3, 0),
        (diff,),
        (IntegrityCheck("c.public.profile_summary", "orphans: citizen_id", 2, "not in public.citizens"),),
        {"profile_summary": {"inserted": 1, "updated": 1, "deleted": 1, "skipped_stale": 0}},
        {},
    )


def test_report_renders_in_every_format() -> None:
    report = _report()
    body = json.loads(render(report, "json"))
    table = body["tables"]["profile_summary"]
    assert (table["source_only"], table["target_only"], table["changed"], table["unchanged"]) == (1, 1, 1, 7)
    assert table["changed_columns"] == {"mobile": 1}
    assert body["integrity"][0]["offenders"] == 2
    assert round(body["max_drift_pct"], 1) == 30.0
    md = render(report, "markdown")
    assert "| profile_summary |" in md and "## Integrity" in md
    assert "<td>profile_summary</td>" in render(report, "html")
    assert "profile_summary" in render(report, "table")
