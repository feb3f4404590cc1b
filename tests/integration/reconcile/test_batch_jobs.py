"""Every job of the catalog, run against the real stack: drift repaired, runs recorded, watermarks kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from reconcile.compare import compare
from reconcile.jobs import run_job
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from tests.integration.reconcile.reconcile_fixtures import GOLDEN, PROFILE_360, SCHEMES, execute, reset, rows, scalar

W, C = Database.WAREHOUSE, Database.CITIZEN


@pytest.fixture
def dbs(warehouse_dsn: str, citizen_dsn: str) -> tuple[str, str]:
    reset(warehouse_dsn, W)
    reset(citizen_dsn, C)
    return warehouse_dsn, citizen_dsn


def test_every_catalog_job_runs(dbs: tuple[str, str], tmp_path: Path) -> None:
    wh, _ = dbs
    execute(wh, SCHEMES, {"n": 20})
    execute(wh, PROFILE_360, {"lo": 1, "hi": 100})
    settings = load_settings()
    for _, schedule in load_catalog().jobs():
        result = run_job(schedule.job, settings, report_path=tmp_path / f"{schedule.job}.md")
        assert result.status == "success", schedule.job


def test_job_runs_are_recorded_with_counts(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, SCHEMES, {"n": 20})
    run_job("scheme_master_daily", load_settings())
    row = rows(
        ct,
        "SELECT status, rows_read, rows_inserted, rows_updated, rows_deleted, error, finished_at >= started_at "
        "FROM smartsync.job_runs WHERE job = 'scheme_master_daily'",
    )
    assert row == [("success", 18, 18, 0, 0, None, True)]

    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    assert sample("smartsync_batch_last_status", {"batch_job": "scheme_master_daily"}) == 1
    assert sample("smartsync_batch_rows_total", {"batch_job": "scheme_master_daily", "kind": "inserted"}) >= 18
    assert sample("smartsync_batch_duration_seconds_count", {"batch_job": "scheme_master_daily"}) >= 1
    assert sample("smartsync_batch_last_start_timestamp_seconds", {"batch_job": "scheme_master_daily"}) > 0


def test_dry_run_writes_nothing(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, SCHEMES, {"n": 20})
    result = run_job("scheme_master_daily", load_settings(), dry_run=True)
    assert len(result.diffs[0].source_only) == 18
    assert scalar(ct, "SELECT count(*) FROM public.schemes") == 0
    assert scalar(ct, "SELECT count(*) FROM smartsync.job_runs") == 0


def test_profile_summary_hourly_takes_changes_since_the_watermark(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    settings = load_settings()
    execute(wh, PROFILE_360, {"lo": 1, "hi": 500})
    first = run_job("profile_summary_hourly", settings)  # no watermark yet: everything
    assert first.counts.inserted == 500
    mark = scalar(ct, "SELECT watermark FROM smartsync.watermarks WHERE job = 'profile_summary_hourly'")
    assert mark is not None

    # Drift outside the window is left to the full reconcile; changes inside it are taken.
    execute(ct, "UPDATE public.profile_summary SET full_name = 'stale' WHERE citizen_id = 1")
    execute(wh, "UPDATE public.profile_360 SET full_name = 'Renamed' WHERE citizen_id IN (2, 3)")
    execute(wh, PROFILE_360, {"lo": 501, "hi": 510})
    second = run_job("profile_summary_hourly", settings)
    assert (second.counts.read, second.counts.inserted, second.counts.updated, second.counts.deleted) == (12, 10, 2, 0)
    assert scalar(ct, "SELECT full_name FROM public.profile_summary WHERE citizen_id = 1") == "stale"
    assert scalar(ct, "SELECT full_name FROM public.profile_summary WHERE citizen_id = 2") == "Renamed"
    assert scalar(ct, "SELECT watermark FROM smartsync.watermarks WHERE job = 'profile_summary_hourly'") > mark

    full = run_job("profile_summary_full", settings)
    assert full.counts.updated == 1
    assert scalar(ct, "SELECT full_name FROM public.profile_summary WHERE citizen_id = 1") == "Citizen 1"


def test_failed_run_leaves_the_watermark_and_the_rerun_is_complete(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    settings = load_settings()
    execute(wh, GOLDEN, {"lo": 1, "hi": 300})
    run_job("golden_records_daily", settings)
    mark = scalar(ct, "SELECT watermark FROM smartsync.watermarks WHERE job = 'golden_records_daily'")
    execute(wh, "UPDATE public.golden_records SET address = 'New Street' WHERE citizen_id <= 50")
    execute(
        ct,
        "CREATE OR REPLACE FUNCTION public._refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF NEW.citizen_id = 40 THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$",
    )
    execute(
        ct, "CREATE TRIGGER _refuse BEFORE UPDATE ON public.profile_data FOR EACH ROW EXECUTE FUNCTION public._refuse()"
    )
    try:
        with pytest.raises(ReconcileError, match="P0001"):  # the error class, never its text (it may hold values)
            run_job("golden_records_daily", settings)
    finally:
        execute(ct, "DROP TRIGGER _refuse ON public.profile_data")
    assert scalar(ct, "SELECT watermark FROM smartsync.watermarks WHERE job = 'golden_records_daily'") == mark
    assert scalar(ct, "SELECT count(*) FROM public.profile_data WHERE address = 'New Street'") == 0  # all or nothing
    status, error = rows(
        ct,
        "SELECT status, error FROM smartsync.job_runs WHERE job = 'golden_records_daily' ORDER BY run_id DESC LIMIT 1",
    )[0]
    assert status == "failed" and "P0001" in error and "disk full" not in error

    rerun = run_job("golden_records_daily", settings)
    assert rerun.counts.updated == 50
    assert scalar(ct, "SELECT watermark FROM smartsync.watermarks WHERE job = 'golden_records_daily'") > mark
    sync = load_catalog().sync("golden_records")
    assert compare(sync, settings).diff.differing == 0


def _events(citizen_dsn: str, day: datetime, n: int, first_id: int = 1) -> None:
    execute(
        citizen_dsn,
        "INSERT INTO public.user_behavior_events (event_id, citizen_id, session_id, feature, action, duration_ms, "
        "occurred_at) "
        "SELECT %(first)s + g, g %% 37, md5((g %% 90)::text)::uuid, (ARRAY['search','apply','profile'])[g %% 3 + "
        "1], 'view', "
        "g %% 500, %(day)s::timestamptz + (g %% 86400) * interval '1 second' FROM generate_series(0, %(n)s - 1) g",
        {"first": first_id, "day": day, "n": n},
    )


def test_user_behaviour_aggregates_the_previous_utc_day(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    _events(ct, yesterday, 5000)
    _events(ct, today, 300, first_id=100_000)  # today's events wait for tomorrow's run
    _events(ct, yesterday - timedelta(days=3), 200, first_id=200_000)  # older days are not re-read
    settings = load_settings()
    result = run_job("user_behavior_daily", settings)
    expected = rows(
        ct,
        "SELECT citizen_id, feature, count(*), count(DISTINCT session_id), sum(duration_ms), max(occurred_at) "
        "FROM public.user_behavior_events WHERE occurred_at >= %s AND occurred_at < %s GROUP BY 1, 2 ORDER BY 1, 2",
        (yesterday, today),
    )
    got = rows(
        wh,
        "SELECT citizen_id, feature, event_count, session_count, total_duration_ms, last_seen_at "
        "FROM analytics.user_behavior ORDER BY 1, 2",
    )
    assert got == expected
    assert result.counts.inserted == len(expected)
    assert {r[0] for r in rows(wh, "SELECT DISTINCT activity_date FROM analytics.user_behavior")} == {yesterday.date()}
    # Late events of that day and a tampered aggregate: the rerun repairs both.
    _events(ct, yesterday, 10, first_id=300_000)
    execute(wh, "UPDATE analytics.user_behavior SET event_count = 0 WHERE citizen_id = 5")
    run_job("user_behavior_daily", settings)
    again = rows(
        ct,
        "SELECT citizen_id, feature, count(*), count(DISTINCT session_id), sum(duration_ms), max(occurred_at) "
        "FROM public.user_behavior_events WHERE occurred_at >= %s AND occurred_at < %s GROUP BY 1, 2 ORDER BY 1, 2",
        (yesterday, today),
    )
    assert (
        rows(
            wh,
            "SELECT citizen_id, feature, event_count, session_count, total_duration_ms, last_seen_at "
            "FROM analytics.user_behavior ORDER BY 1, 2",
        )
        == again
    )


def test_feedback_appends_new_rows_only(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    insert = (
        "INSERT INTO public.feedback (feedback_id, citizen_id, scheme_code, channel, rating, comment, submitted_at) "
        "SELECT g, g %% 50, CASE WHEN g %% 3 = 0 THEN NULL ELSE 'S001' END, 'web', 1 + g %% 5, "
        "CASE WHEN g %% 2 = 0 THEN NULL ELSE 'comment ' || g END, now() - %(age)s * interval '1 hour' "
        "FROM generate_series(%(lo)s::int, %(hi)s::int) g"
    )
    execute(ct, insert, {"lo": 1, "hi": 120, "age": 1})
    settings = load_settings()
    assert run_job("feedback_daily", settings).counts.inserted == 120
    execute(wh, "UPDATE analytics.feedback_analytics SET sentiment = 'positive' WHERE feedback_id = 3")
    execute(ct, insert, {"lo": 121, "hi": 130, "age": 0})  # submitted now, after the first run
    second = run_job("feedback_daily", settings)
    assert (second.counts.read, second.counts.inserted, second.counts.updated) == (10, 10, 0)
    # Columns the batch does not carry (the warehouse's sentiment) are left alone.
    assert scalar(wh, "SELECT sentiment FROM analytics.feedback_analytics WHERE feedback_id = 3") == "positive"
    assert scalar(wh, "SELECT count(*) FROM analytics.feedback_analytics") == 130
    assert run_job("feedback_daily", settings).counts.inserted == 0


def test_weekly_reconciliation_reports_and_fixes(dbs: tuple[str, str], tmp_path: Path) -> None:
    wh, ct = dbs
    settings = load_settings()
    execute(wh, SCHEMES, {"n": 20})
    execute(wh, PROFILE_360, {"lo": 1, "hi": 200})
    execute(wh, GOLDEN, {"lo": 1, "hi": 200})
    execute(
        wh,
        "INSERT INTO eligibility.eligibility_snapshots (citizen_id, scheme_code, eligibility_score, status) "
        "SELECT c, 'S' || lpad(s::text, 3, '0'), ((c * s) % 97) / 100.0, CASE WHEN s % 4 = 0 THEN 'not_eligible' "
        "ELSE 'eligible' END "
        "FROM generate_series(1, 30) c, generate_series(1, 9) s",
    )
    execute(
        ct,
        "INSERT INTO public.service_applications (application_id, citizen_id, scheme_code, status) "
        "SELECT g, g, 'S001', 'submitted' FROM generate_series(1, 5) g",
    )
    execute(
        wh,
        "INSERT INTO decision.application_events (application_id, source_lsn, citizen_id, scheme_code, event_type, "
        "status, occurred_at) "
        "SELECT g, 100, g, 'S001', 'submitted', 'submitted', now() FROM generate_series(1, 4) g",
    )
    execute(
        ct,
        "INSERT INTO public.citizens (citizen_id, full_name, district_id) SELECT g, 'C' || g, 1 FROM "
        "generate_series(1, 150) g",
    )
    execute(
        wh,
        "INSERT INTO public.document_metadata (document_id, citizen_id, document_type, file_name, mime_type, "
        "size_bytes, "
        "verification_status, uploaded_at) VALUES (1, 999999, 'id', 'a.pdf', 'application/pdf', 1, 'pending', now())",
    )
    dry = run_job("weekly_reconciliation", settings, report_path=tmp_path / "dry.json")
    report = dry.report
    assert report is not None
    by_name = {d.name: d for d in report.diffs}
    assert len(by_name["profile_summary"].source_only) == 200
    assert len(by_name["eligibility_hints"].source_only) == 30 * 5  # each citizen's top five
    assert len(by_name["application_submissions"].source_only) == 1  # application 5 has no event yet
    assert any(
        c.check == "orphans: citizen_id" and c.offenders == 1 and c.table.endswith("document_metadata")
        for c in report.integrity
    )
    assert (tmp_path / "dry.json").exists()
    assert scalar(ct, "SELECT count(*) FROM public.profile_summary") == 0  # no --fix: nothing written

    fixed = run_job("weekly_reconciliation", settings, fix=True, report_path=tmp_path / "fixed.md")
    assert fixed.counts.inserted >= 200 + 200 + 18 + 150
    after = run_job("weekly_reconciliation", settings, report_path=tmp_path / "after.html")
    assert after.report is not None
    drift = {d.name: d.differing for d in after.report.diffs}
    assert drift.pop("application_submissions") == 1  # an append log is reported, never rewritten
    # Golden records the portal does not know are the warehouse's own: reported, never deleted.
    assert drift.pop("profile_updates") == 50
    assert set(drift.values()) == {0}
    assert scalar(wh, "SELECT count(*) FROM public.golden_records") == 200
    assert "<table>" in (tmp_path / "after.html").read_text()


def test_a_job_whose_database_is_down_still_sets_its_failure_metric(dbs: tuple[str, str]) -> None:
    """Nothing listens on the target's port: no run record can be written, the metric must say it failed."""
    settings = load_settings().model_copy(
        update={"citizen_dsn": SecretStr("host=127.0.0.1 port=9 dbname=smart_citizen connect_timeout=2")}
    )
    labels = {"batch_job": "scheme_master_daily"}
    before = REGISTRY.get_sample_value("smartsync_batch_failures_total", labels) or 0.0
    with pytest.raises(Exception):  # noqa: B017 — whatever the connection error, the metric is what is checked
        run_job("scheme_master_daily", settings, scheduled_for=datetime(2026, 1, 1, 1, tzinfo=UTC))
    assert REGISTRY.get_sample_value("smartsync_batch_last_status", labels) == 0
    assert REGISTRY.get_sample_value("smartsync_batch_failures_total", labels) == before + 1
